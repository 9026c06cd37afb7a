"""Ensemble intervals, out-of-distribution flags and page baselines (issue 16 §4)."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.perturb_trust import (
    LinearBaselines,
    agreement,
    ensemble_table,
    out_of_distribution,
)
from core.errors import ConfigError


def test_ensemble_table_by_hand():
    deltas = np.array([[1.0, -0.2, 0.0, 0.5],
                       [3.0, 0.4, 0.0, 0.7],
                       [2.0, 0.1, 0.0, 0.6]])
    t = ensemble_table(deltas, ["a", "b", "c", "d"]).set_index("gene")
    assert t.loc["a", "delta"] == pytest.approx(2.0)
    assert (t.loc["a", "low"], t.loc["a", "high"]) == (1.0, 3.0)
    assert t.loc["b", "delta"] == pytest.approx(0.1)
    assert t.loc["b", "sign_agreement"] == pytest.approx(2 / 3)
    assert t["disagree"].tolist() == [False, True, False, False]
    # a small opposite Δ is tolerated with min_abs
    assert not ensemble_table(deltas, list("abcd"), min_abs=0.3)["disagree"].any()
    with pytest.raises(ConfigError):
        ensemble_table(deltas, ["a"])


def test_out_of_distribution_set_and_shift():
    z = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]])
    inside = out_of_distribution(z, ["A", "B"], {"A": ("set", 2.5)})
    assert inside.empty
    ko = out_of_distribution(z, ["A", "B"], {"A": ("set", -1.0)}, cells=np.array([0, 1]))
    assert ko.to_dict("records") == [{"tf": "A", "low": 0.0, "high": 3.0, "value_min": -1.0,
                                      "value_max": -1.0, "fraction": 1.0}]
    shift = out_of_distribution(z, ["A", "B"], {"B": ("shift", 1.5)})
    assert shift["fraction"].item() == 0.5          # 3.5 and 4.5 and 5.5: two of four leave
    assert shift["value_max"].item() == 5.5
    with pytest.raises(ConfigError, match="'C' is not a TF"):
        out_of_distribution(z, ["A", "B"], {"C": ("set", 0.0)})


def test_linear_baselines_recover_a_known_effect():
    rng = np.random.default_rng(0)
    tf = rng.normal(size=500)
    z = 2.0 * tf[:, None]                        # the unit is twice the TF's expression
    gene = 3.0 * tf + rng.normal(scale=0.01, size=500)
    x = np.column_stack([tf, gene, rng.normal(size=500)])
    base = LinearBaselines.fit(x, ["TF", "G", "N"], ["TF"], z)
    assert base.slope[0] == pytest.approx(0.5)
    after = z.copy()
    after[:, 0] = z[:, 0] - 4.0                  # Δz = −4 → ΔTF = −2 → ΔG = −6
    pred = base.predict(z, after)
    assert pred.loc["G", "correlation"] == pytest.approx(-6.0, rel=0.01)
    assert pred.loc["G", "ridge"] == pytest.approx(-6.0, rel=0.01)
    assert pred.loc["TF", "ridge"] == pytest.approx(-2.0, rel=0.01)
    assert abs(pred.loc["N", "ridge"]) < 0.3
    assert (pred["no_change"] == 0).all()
    r = agreement(pred["ridge"].to_numpy(), pred)
    assert r["ridge"] == pytest.approx(1.0) and np.isnan(r["no_change"])
    with pytest.raises(ConfigError, match="TFs not among the genes"):
        LinearBaselines.fit(x, ["TF", "G", "N"], ["XX"], z)
