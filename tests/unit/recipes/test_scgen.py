"""scGen arithmetic, balancing, leakage, R², baselines, the every-type loop and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import anndata
import numpy as np
import pandas as pd
import pytest

from core.analysis import scgen as sg
from core.errors import ConfigError
from core.recipes import scgen as tsg
from core.training.trainer import TrainConfig

SPEC = sg.ScgenSpec("cond", "ctrl", "stim", "type", "B")


def toy_adata(n_per: int = 24, n_genes: int = 40, seed: int = 0) -> anndata.AnnData:
    """3 types × 2 conditions; stimulation adds +1 to the first 5 genes of every type."""
    rng = np.random.default_rng(seed)
    rows, obs = [], []
    for k, t in enumerate(("A", "B", "C")):
        base = rng.uniform(0.5, 2.0, n_genes) + k
        for cond in ("ctrl", "stim"):
            x = base + rng.normal(0, 0.1, (n_per, n_genes))
            if cond == "stim":
                x[:, :5] += 1.0
            rows.append(np.clip(x, 0.01, None))
            obs += [{"type": t, "cond": cond}] * n_per
    ad = anndata.AnnData(X=np.vstack(rows).astype(np.float32),
                         obs=pd.DataFrame(obs, index=[f"c{i}" for i in range(len(obs))]),
                         var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))
    ad.layers["log1p"] = ad.X.copy()
    ad.strings_to_categoricals()
    return ad


FAST = TrainConfig(epochs=2, batch_size=16, val_fraction=0.1, patience=None, device="cpu")
SMALL = {"n_latent": 4, "hidden": [16]}


def test_mean_delta_recovers_known_latent_shift():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(100, 3))
    shift = np.array([2.0, -1.0, 0.5])
    stim = np.arange(50, 100)
    z[stim] += shift
    z[stim] -= z[stim].mean(axis=0) - z[:50].mean(axis=0) - shift  # exact shift of the means
    assert np.allclose(sg.mean_delta(z, np.arange(50), stim), shift)
    # rows may repeat (balanced resampling): repeats weigh like copies
    assert np.allclose(sg.mean_delta(z, [0, 0, 1], [50]), z[50] - (2 * z[0] + z[1]) / 3)


def test_balance_by_resampling_gives_every_label_the_largest_count():
    labels = np.array(["a"] * 5 + ["b"] * 2 + ["c"] * 1)
    out = sg.balance_by_resampling(np.arange(8), labels, np.random.default_rng(0))
    counts = pd.Series(labels[out]).value_counts()
    assert counts.to_dict() == {"a": 5, "b": 5, "c": 5}
    assert set(out[labels[out] == "c"]) == {7}


def test_balanced_condition_sets_equal_sizes_and_types():
    ad = toy_adata()
    ad = ad[np.r_[0:24, 24:30, 48:96, 96:144]].copy()  # A ctrl 24, A stim 6, B, C full
    split = sg.split_cells(ad.obs, SPEC)
    ctrl, stim = sg.balanced_condition_sets(ad.obs, SPEC, split.train_idx, seed=0)
    assert len(ctrl) == len(stim)
    assert not set(stim) & set(split.holdout_stim_idx)
    types = ad.obs["type"].astype(str).to_numpy()
    assert set(types[stim]) == {"A", "C"}  # B's stimulated cells are held out


def test_split_keeps_holdout_stimulated_out_of_training():
    ad = toy_adata()
    split = sg.split_cells(ad.obs, SPEC)
    held = np.flatnonzero((ad.obs["type"] == "B") & (ad.obs["cond"] == "stim"))
    assert np.array_equal(split.holdout_stim_idx, held)
    assert not set(split.train_idx) & set(held)
    assert len(split.train_idx) == ad.n_obs - len(held)
    assert np.array_equal(split.holdout_ctrl_idx,
                          np.flatnonzero((ad.obs["type"] == "B") & (ad.obs["cond"] == "ctrl")))


def test_fit_predict_never_trains_on_holdout_stimulated_cells(monkeypatch):
    ad = toy_adata()
    ad.layers["log1p"] = np.arange(ad.n_obs, dtype=np.float32)[:, None] + np.zeros(
        (1, ad.n_vars), dtype=np.float32)  # row i is filled with i: rows are identifiable
    seen = []
    real_fit = tsg.fit

    def spy(module, data, **kw):
        seen.append(np.asarray(data["x"])[:, 0].astype(int))
        return real_fit(module, data, **kw)

    monkeypatch.setattr(tsg, "fit", spy)
    res = tsg.fit_predict(ad, SPEC, model=SMALL, train=FAST)
    assert len(seen) == 1
    assert not set(seen[0]) & set(res.split.holdout_stim_idx)
    assert sorted(seen[0]) == sorted(res.split.train_idx)
    assert res.predicted.shape == (len(res.split.holdout_ctrl_idx), ad.n_vars)


def test_r2_helpers_match_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.random((30, 20)), rng.random((25, 20))
    expect = np.corrcoef(a.mean(0), b.mean(0))[0, 1] ** 2
    assert sg.r2_of_means(a, b) == pytest.approx(expect)
    genes = [1, 4, 7, 9]
    assert sg.r2_of_means(a, b, genes) == pytest.approx(
        np.corrcoef(a.mean(0)[genes], b.mean(0)[genes])[0, 1] ** 2)
    assert sg.r2_of_variances(a, b) == pytest.approx(
        np.corrcoef(a.var(0), b.var(0))[0, 1] ** 2)
    assert sg.squared_pearson(np.arange(5), 3 * np.arange(5) + 1) == pytest.approx(1.0)
    assert np.isnan(sg.squared_pearson(np.ones(5), np.arange(5)))


def test_baselines_on_a_toy_shift():
    ad = toy_adata()
    x = ad.layers["log1p"]
    split = sg.split_cells(ad.obs, SPEC)
    ctrl = x[split.holdout_ctrl_idx]
    assert np.array_equal(sg.control_unchanged(ctrl), ctrl)
    shifted = sg.mean_shift(ctrl, x, ad.obs, SPEC, split.train_idx)
    gain = (shifted - ctrl).mean(axis=0)
    assert np.allclose(gain[:5], 1.0, atol=0.1) and np.allclose(gain[5:], 0.0, atol=0.1)
    c_rows, s_rows = sg.balanced_condition_sets(ad.obs, SPEC, split.train_idx)
    pca_pred = sg.pca_delta(ctrl, x, split.train_idx, c_rows, s_rows, n_components=5)
    real = x[split.holdout_stim_idx]
    assert sg.r2_of_means(pca_pred, real) > sg.r2_of_means(ctrl, real)
    assert (pca_pred - ctrl).mean(axis=0)[:5].min() > 0.5
    top = np.arange(5)
    assert sg.score(shifted, real, top)["r2_all"] > sg.score(ctrl, real, top)["r2_all"]


def test_rank_degs_puts_stimulated_genes_first():
    ad = toy_adata()
    split = sg.split_cells(ad.obs, SPEC)
    x = ad.layers["log1p"]
    degs = sg.rank_degs(x[split.holdout_ctrl_idx], x[split.holdout_stim_idx], ad.var_names)
    assert list(degs.index) == list(ad.var_names)
    assert set(sg.top_deg_indices(degs, 5)) == set(range(5))


def test_check_spec_names_the_choices():
    ad = toy_adata()
    with pytest.raises(ConfigError, match="A, B, C"):
        sg.check_spec(ad.obs, replace(SPEC, holdout="Z"))
    with pytest.raises(ConfigError, match="ctrl, stim"):
        sg.check_spec(ad.obs, replace(SPEC, stimulated="IFN"))
    with pytest.raises(ConfigError, match="not in the data"):
        sg.check_spec(ad.obs, replace(SPEC, condition_key="nope"))


def test_train_scgen_saves_metrics_and_prediction(tmp_path):
    ad = toy_adata()
    run = tsg.train_scgen(ad, SPEC, dataset="toy", model=SMALL, train=FAST,
                          run_dir=tmp_path / "run")
    for key in ("r2_all", "r2_top100", "r2_var", "baselines"):
        assert key in run.metrics
    assert set(run.metrics["baselines"]) == {"control_unchanged", "mean_shift", "pca_delta"}
    assert run.arrays["predicted"].shape == (24, ad.n_vars)
    assert (tmp_path / "run" / "genes.csv").is_file()
    assert run.load_module().n_latent == 4
    pa = tsg.prediction_adata(ad, run)
    assert pa.obs["group"].value_counts().to_dict() == {
        "control": 24, "real stimulated": 24, "predicted": 24}


def test_predict_every_type_scores_each_type(tmp_path):
    ad = toy_adata(n_per=12)
    run = tsg.predict_every_type(ad, SPEC, dataset="toy", model=SMALL,
                                 train=replace(FAST, epochs=1), run_dir=tmp_path / "all")
    table = pd.read_csv(tmp_path / "all" / "per_type.csv")
    assert sorted(table["holdout"].unique()) == ["A", "B", "C"]
    assert set(table["method"]) == set(sg.METHODS)
    assert run.metrics["complete"] is True
    # Every type's predictions are kept: one row per control cell, each type once.
    ctrl = run.arrays["holdout_ctrl_idx"]
    assert run.arrays["predicted"].shape == (len(ctrl), ad.n_vars)
    assert sorted(ctrl) == sorted(np.flatnonzero(ad.obs["cond"] == "ctrl"))
    assert sorted(run.arrays["holdout_stim_idx"]) == sorted(
        np.flatnonzero(ad.obs["cond"] == "stim"))
    pa = tsg.prediction_adata(ad, run)
    counts = pa.obs.groupby(["group", "type"], observed=True).size()
    assert counts["predicted"].to_dict() == counts["control"].to_dict() == {
        "A": 12, "B": 12, "C": 12}


def test_cli_predict_writes_metrics_and_rejects_bad_holdout(tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "toy.h5ad"
    toy_adata(n_per=12).write_h5ad(path)
    args = ["predict", "--data", str(path), "--condition-key", "cond", "--control", "ctrl",
            "--stimulated", "stim", "--cell-type-key", "type", "--epochs", "1",
            "--device", "cpu"]
    assert main([*args, "--holdout", "B", "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"r2_all", "r2_top100", "r2_var", "baselines"} <= set(metrics)
    assert json.loads(capsys.readouterr().out)["holdout"] == "B"
    assert main([*args, "--every-type", "--out", str(tmp_path / "all")]) == 0
    assert json.loads(capsys.readouterr().out)["types"] == ["A", "B", "C"]
    assert main([*args, "--holdout", "Z", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "A, B, C" in err


def test_same_seed_reproduces_the_prediction():
    ad = toy_adata(n_per=12)
    a = tsg.fit_predict(ad, SPEC, model=SMALL, train=FAST)
    b = tsg.fit_predict(ad, SPEC, model=SMALL, train=FAST)
    # Equal up to float summation noise (different initial weights would differ by ~0.1-1).
    assert np.allclose(a.predicted, b.predicted, atol=0.01)


def test_default_predictor_is_control_plus_decoded_change():
    import torch

    ad = toy_adata(n_per=12)
    res = tsg.fit_predict(ad, SPEC, model=SMALL, train=FAST)
    assert sg.DEFAULT_METHOD == "scgen_residual"
    x = ad.layers["log1p"]
    ctrl = x[res.split.holdout_ctrl_idx]
    res.module.eval()
    with torch.no_grad():
        z = torch.as_tensor(res.latent[res.split.holdout_ctrl_idx])
        change = (res.module.decode(z + torch.as_tensor(res.delta))
                  - res.module.decode(z)).numpy()
    assert np.allclose(res.predicted, np.maximum(ctrl + change, 0), atol=1e-4)
    # The other variant is still there, and every method has every score.
    assert np.allclose(res.others["scgen"], np.maximum(
        res.module.decode(z + torch.as_tensor(res.delta)).detach().numpy(), 0), atol=1e-4)
    assert set(res.scores) == set(sg.METHODS)
    for s in res.scores.values():
        assert set(s) == set(sg.SCORE_TITLES)
    m = res.metrics
    assert m["method"] == "scgen_residual"
    assert m["r2_top100"] == res.scores["scgen_residual"]["r2_top100"]
    assert set(m["variants"]) == {"scgen"}
    # Control unchanged is the control set itself: far from the stimulated cells (+1 on 5 genes).
    assert res.scores["control_unchanged"]["energy"] > res.scores["mean_shift"]["energy"]


def test_best_per_score_knows_which_way_is_better():
    table = sg.scores_table({
        "scgen_residual": {"r2_top100": 0.9, "energy": 0.5, "mmd": 0.02, "knn_mixing": 0.8},
        "mean_shift": {"r2_top100": 0.8, "energy": 0.3, "mmd": 0.05, "knn_mixing": 1.3},
        "control_unchanged": {"r2_top100": 0.5, "energy": 2.0, "mmd": 0.2, "knn_mixing": 0.1}})
    assert list(table["method"]) == ["scgen_residual", "control_unchanged", "mean_shift"]
    assert sg.best_per_score(table) == {"r2_top100": "scgen_residual", "energy": "mean_shift",
                                        "mmd": "scgen_residual", "knn_mixing": "scgen_residual"}
