"""The benchmark recipe: settings, an embedding imported from obsm (checked, aligned by cell),
skipped methods, and the recommended β-VAE by what X holds."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError
from core.recipes.benchmark import (
    BenchmarkSettings,
    embedding_from_obsm,
    embedding_from_other,
    harmony_correct,
    load_benchmark,
    recommended_betavae,
    run_benchmark,
    save_benchmark,
)


def _adata(n: int = 120) -> anndata.AnnData:
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], n // 3)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    x[:, :3] += np.eye(3)[np.repeat(np.arange(3), n // 3)] * 6
    ad = anndata.AnnData(x, obs=pd.DataFrame({"cell_type": labels},
                                             index=[f"c{i}" for i in range(n)]))
    ad.obsm["X_mine"] = x[:, :3].copy()
    return ad


def test_settings_reject_unknown_method():
    with pytest.raises(ConfigError, match="Unknown method"):
        BenchmarkSettings.from_dict({"methods": ("pca", "umap")})
    with pytest.raises(ConfigError, match="seeds"):
        BenchmarkSettings.from_dict({"seeds": 0})


def test_embedding_from_obsm_checks_and_aligns():
    ad = _adata()
    assert embedding_from_obsm(ad, "X_mine").shape == (120, 3)
    with pytest.raises(ConfigError, match="keys there: X_mine"):
        embedding_from_obsm(ad, "X_scvi")
    ad.obsm["X_bad"] = np.full((120, 2), np.nan)
    with pytest.raises(ConfigError, match="NaN"):
        embedding_from_obsm(ad, "X_bad")
    other = ad[::-1].copy()           # same cells, reversed order
    np.testing.assert_array_equal(embedding_from_other(ad, other, "X_mine"), ad.obsm["X_mine"])
    with pytest.raises(ConfigError, match="60 of the 120 loaded cells"):
        embedding_from_other(ad, ad[:60].copy(), "X_mine")


def test_run_pca_and_obsm_with_skips_and_roundtrip(tmp_path):
    ad = _adata()
    settings = BenchmarkSettings(methods=("pca", "harmony", "betavae_nb", "betavae_harmony",
                                          "obsm:X_mine"), seeds=2, n_latent=3)
    result = run_benchmark(ad, label_key="cell_type", settings=settings)
    assert list(result.table.index) == ["pca", "obsm:X_mine"]
    assert set(result.skipped) == {"harmony", "betavae_nb", "betavae_harmony"}
    assert result.skipped["betavae_harmony"] == "needs a batch column"
    assert "counts" in result.skipped["betavae_nb"]
    assert result.table.loc["obsm:X_mine", "bio_conservation"] > 0.8
    assert len(result.per_seed) == 4
    save_benchmark(result, tmp_path / "b")
    back = load_benchmark(tmp_path / "b")
    assert back.skipped == result.skipped
    assert back.table.loc["pca", "total"] == pytest.approx(result.table.loc["pca", "total"])


def test_recommended_betavae_by_what_x_holds():
    ad = _adata()
    assert recommended_betavae(ad) == "betavae_gaussian"
    counts = anndata.AnnData(np.ones((5, 3), dtype=np.float32) * 2)
    assert recommended_betavae(counts) == "betavae_nb"
    counts.uns["preprocess"] = {"x_kind": "log-normalized"}
    assert recommended_betavae(counts) == "betavae_gaussian"


def test_harmony_correct_removes_a_batch_shift_and_keeps_types():
    rng = np.random.default_rng(1)
    types = np.tile(np.repeat([0, 1], 100), 2)
    batch = np.repeat(["b0", "b1"], 200)
    emb = rng.normal(scale=0.3, size=(400, 4)) + np.eye(4)[types] * 4
    emb[batch == "b1"] += 3.0                       # a pure batch offset
    out = harmony_correct(emb, batch, seed=0)
    assert out.shape == (400, 4) and out.dtype == np.float32
    gap = lambda e: np.linalg.norm(e[batch == "b0"].mean(0) - e[batch == "b1"].mean(0))  # noqa: E731
    assert gap(emb) > 5.5 and gap(out) < 0.2 * gap(emb)
    type_gap = np.linalg.norm(out[types == 0].mean(0) - out[types == 1].mean(0))
    assert type_gap > 4.0                           # cell types stay apart (√2·4 ≈ 5.7 before)


def test_betavae_harmony_reuses_the_recommended_latent():
    ad = _adata(90)
    ad.obs["batch"] = np.tile(["x", "y"], 45)
    settings = BenchmarkSettings(methods=("betavae_gaussian", "betavae_harmony"), seeds=1,
                                 epochs=2, n_latent=3, device="cpu")
    result = run_benchmark(ad, label_key="cell_type", batch_key="batch", settings=settings)
    assert list(result.table.index) == ["betavae_gaussian", "betavae_harmony"]
    # Harmony only: the β-VAE latent of the same seed was reused, not trained again.
    secs = result.per_seed.set_index("method")["seconds"]
    assert secs["betavae_harmony"] < secs["betavae_gaussian"]
    assert np.isfinite(result.table.loc["betavae_harmony", "total"])
