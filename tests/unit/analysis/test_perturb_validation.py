"""Fold changes, scores and baselines of perturbation validation, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from core.analysis import perturb_baselines as bl
from core.analysis import perturb_validation as pv
from core.errors import DataError


def test_normalised_means_and_log2_fold_change_by_hand():
    # two cells with 10 counts each → CP10k = counts × 1000
    ctrl = np.array([[5, 5, 0], [2, 8, 0]])
    assert np.allclose(pv.normalised_means(ctrl), [3500, 6500, 0])
    lfc = pv.log2_fold_change(np.array([7000.0]), np.array([3500.0]), pseudocount=0)
    assert lfc[0] == pytest.approx(1.0)
    assert pv.log2_fold_change(np.array([0.0]), np.array([0.0]))[0] == 0.0


def test_observed_effects_per_target_and_replicate():
    counts = sp.csr_matrix(np.array([[5, 5], [5, 5], [8, 2], [8, 2], [9, 1]]))
    labels = ["c", "c", "A", "A", "B"]
    obs = pv.observed_effects(counts, labels, ["g1", "g2"], control="c", min_cells=2,
                              replicates=["r1", "r2", "r1", "r2", "r1"], pseudocount=0.0)
    # A: g1 5000 → 8000, g2 5000 → 2000 CP10k
    assert obs.lfc.loc["A", "g1"] == pytest.approx(np.log2(8000 / 5000))
    assert obs.lfc.loc["A", "g2"] == pytest.approx(np.log2(2000 / 5000))
    assert "B" not in obs.lfc.index and obs.skipped["B"].startswith("1 cells")
    assert obs.n_cells == {"control": 2, "A": 2}
    with pytest.raises(DataError, match="control value 'x'"):
        pv.observed_effects(counts, labels, ["g1", "g2"], control="x")


def test_score_prediction_by_hand():
    observed = np.array([4.0, -3.0, 2.0, -1.0, 0.5, 0.0])
    predicted = np.array([2.0, -1.0, -1.0, -0.5, 0.0, 9.0])
    s = pv.score_prediction(predicted, observed, exclude=[5], tops=(2, 4))
    # top-2 measured: genes 0, 1 (both signs right); top-4: genes 0..3 (gene 2 wrong)
    assert s["sign_top2"] == 1.0 and s["sign_top4"] == 0.75
    assert np.isnan(s["pearson_top2"])                        # two points: no correlation
    assert s["pearson_top4"] == pytest.approx(np.corrcoef(predicted[:4], observed[:4])[0, 1])
    assert s["pearson_all"] == pytest.approx(np.corrcoef(predicted[:5], observed[:5])[0, 1])
    # ranks (4, 1, 3, 2) vs (4, 1.5, 1.5, 3): r = 3 / sqrt(5 · 4.5)
    assert s["spearman_top4"] == pytest.approx(3 / np.sqrt(22.5))
    # recall: with 5 genes the top-50 sets are every gene
    assert s["recall_top50"] == 1.0
    zero = pv.score_prediction(np.zeros(6), observed, exclude=[5])
    assert zero["pearson_all"] == 0.0 and zero["sign_top20"] == 0.0


def test_score_methods_marks_the_winner_and_skips_the_target_gene():
    observed = pd.DataFrame([[-5.0, 1.0, -1.0, 2.0, 0.3]], index=["T"],
                            columns=["T", "a", "b", "c", "d"])
    good = observed.copy()
    good.loc["T", "T"] = 50.0                                 # ignored: the knocked-out gene
    bad = -observed
    scores = pv.score_methods({"good": good, "bad": bad}, observed)
    by = scores.set_index("method")
    assert by.loc["good", "pearson_all"] == pytest.approx(1.0)
    assert by.loc["bad", "pearson_all"] == pytest.approx(-1.0)
    assert by.loc["good", "winner"] and not by.loc["bad", "winner"]
    table = pv.per_gene_table({"good": good}, observed)
    assert list(table.columns) == ["target", "gene", "observed", "good"] and len(table) == 5
    assert pv.summarise(scores)["good"]["sign_top20"] == 1.0


def _linear_case(n: int = 4000, seed: int = 0):
    """TF A drives TF B (×0.5) and gene g (×2); B drives gene h (×−1); z is independent."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    b = 0.5 * a + rng.normal(0, 0.5, n)
    g = 2.0 * a + rng.normal(0, 0.1, n)
    h = -1.0 * b + rng.normal(0, 0.1, n)
    z = rng.normal(0, 1, n)
    x = np.column_stack([a, b, g, h, z])
    return x, ["A", "B", "g", "h", "z"]


def test_correlation_and_ridge_recover_slopes():
    x, genes = _linear_case()
    corr = bl.correlation_effects(x, [0, 1])
    assert corr[2, 0] == pytest.approx(2.0, abs=0.05)         # g on A alone
    assert abs(corr[4, 0]) < 0.05
    ridge = bl.ridge_effects(x, [0, 1])
    assert ridge[3, 1] == pytest.approx(-1.0, abs=0.05)       # h on B given A
    assert abs(ridge[3, 0]) < 0.05 and ridge[0, 0] == pytest.approx(1.0, abs=1e-3)


def test_propagation_follows_the_prior_two_steps():
    x, genes = _linear_case()
    prior = pd.DataFrame({"source": ["A", "A", "B"], "target": ["B", "g", "h"]})
    w = bl.regulator_weights(x, genes, ["A", "B"], prior)
    assert w[1, 0] == pytest.approx(0.5, abs=0.05) and w[2, 0] == pytest.approx(2.0, abs=0.05)
    one = bl.propagation_effects(w, [0, 1], steps=1)
    two = bl.propagation_effects(w, [0, 1], steps=2)
    assert one[3, 0] == 0.0                                    # A → B → h needs two steps
    assert two[3, 0] == pytest.approx(-0.5, abs=0.05)
    assert two[0, 0] == 1.0 and two[4, 0] == 0.0


def test_fit_baselines_and_knockout_predictions():
    x, genes = _linear_case()
    x = x - x.min(0)                                          # like log expression, ≥ 0
    prior = pd.DataFrame({"source": ["A", "B"], "target": ["g", "h"]})
    effects = bl.fit_baselines(x, genes, ["A", "B"], prior)
    assert set(effects) == set(bl.BASELINES)
    deltas = bl.knockout_deltas(x, genes, ["A"])
    assert deltas["A"] == pytest.approx(-x[:, 0].mean())
    preds = bl.knockout_predictions(effects, ["A", "B"], genes, deltas, scale=0.5)
    assert (preds["no_change"].to_numpy() == 0).all()
    assert preds["correlation"].loc["A", "g"] == pytest.approx(
        effects["correlation"][2, 0] * deltas["A"] * 0.5)
    assert preds["ridge"].loc["A", "g"] < 0                   # A down → g down


def test_perturbation_mean_is_the_mean_of_the_other_targets_effects():
    other = pd.DataFrame([[1.0, -2.0, 0.0], [3.0, 0.0, -1.0]], index=["IRF1", "JAK2"],
                         columns=["g1", "g2", "g3"])
    pred = pv.mean_of_other_effects(other, ["STAT1", "STAT2"])
    assert list(pred.index) == ["STAT1", "STAT2"] and list(pred.columns) == ["g1", "g2", "g3"]
    assert np.allclose(pred.to_numpy(), [[2.0, -1.0, -0.5], [2.0, -1.0, -0.5]])
    with pytest.raises(DataError, match="may not use the scored targets"):
        pv.mean_of_other_effects(other, ["IRF1"])
    with pytest.raises(DataError, match="needs other measured perturbations"):
        pv.mean_of_other_effects(other.iloc[:0], ["STAT1"])
