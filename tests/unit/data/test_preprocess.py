"""Preprocessing adapts to what X holds: counts are normalised and logged, logged data is not."""

from __future__ import annotations

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from core.data.io import read
from core.data.preprocess import (
    PreprocessConfig,
    categorical_columns,
    preprocess,
    qc_metrics,
    summarize,
)
from core.data.validate import detect_x_kind
from core.errors import ConfigError, DataError


def dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X)


@pytest.fixture(scope="module")
def kang():
    return read("kang_pbmc").adata


@pytest.fixture(scope="module")
def zeisel():
    return read("zeisel_cortex").adata


@pytest.fixture(scope="module")
def kang_default(kang):
    return preprocess(kang)


def test_detect_x_kind():
    assert detect_x_kind(sp.csr_matrix(np.array([[0, 3], [1, 0]], dtype=np.float32))) == "counts"
    assert detect_x_kind(np.array([[0.0, 1.7], [2.3, 0.0]])) == "log-normalized"
    assert detect_x_kind(np.array([[0.0, 150.5], [8000.25, 0.0]])) == "normalized"
    assert detect_x_kind(np.array([[-0.3, 1.2], [0.5, 0.0]])) == "scaled"


def test_kang_is_detected_as_log_normalised(kang):
    assert detect_x_kind(kang.X) == "log-normalized"
    cfg = PreprocessConfig().resolved("log-normalized")
    assert (cfg.normalize, cfg.log1p, cfg.scale) == (False, False, True)


def test_kang_is_not_logged_twice(kang, kang_default):
    out = kang_default
    assert out.uns["preprocess"]["x_kind"] == "log-normalized"
    assert out.uns["preprocess"]["normalize"] is False
    assert out.uns["preprocess"]["log1p"] is False
    assert "counts" not in out.layers  # X was not counts: nothing to keep
    # layers['log1p'] holds the shipped values unchanged (logging again would give max ≈ 2.05).
    logged = dense(out.layers["log1p"])
    original = dense(kang[:, out.var_names].X)
    np.testing.assert_array_equal(logged, original)
    assert logged.max() == pytest.approx(6.765192, abs=1e-5)


def test_kang_default_output(kang, kang_default):
    out = kang_default
    assert out.n_obs == 1975
    assert out.n_vars == 6547  # 451 of the 6998 genes are never detected in this split
    assert int(out.var["highly_variable"].sum()) == 2000
    assert out.X.dtype == np.float32 and not sp.issparse(out.X)
    assert float(out.X.max()) == pytest.approx(10.0)  # clipped at the default 10
    assert abs(float(out.X.mean(axis=0).max())) < 0.05
    assert kang.n_vars == 6998 and "preprocess" not in kang.uns  # input untouched


def test_explicit_log1p_overrides_the_detection(kang):
    sub = kang[:50, :100].copy()
    out = preprocess(sub, PreprocessConfig(log1p=True, scale=False, n_top_genes=None,
                                           min_cells=0))
    assert out.n_vars == 100  # min_cells=0 keeps never-detected genes too
    np.testing.assert_allclose(dense(out.X), np.log1p(dense(sub.X)), rtol=1e-6)


def test_counts_are_kept_and_normalised(zeisel):
    out = preprocess(zeisel, PreprocessConfig(n_top_genes=50))
    assert out.uns["preprocess"]["x_kind"] == "counts"
    assert out.uns["preprocess"]["normalize"] is True and out.uns["preprocess"]["log1p"] is True
    counts = dense(out.layers["counts"])
    np.testing.assert_array_equal(counts, dense(zeisel.X).astype(np.float32))
    assert counts.sum() == 452_647
    # log1p layer: each cell normalised to 1e4 before the log.
    per_cell = np.expm1(dense(out.layers["log1p"]).astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(per_cell, 1e4, rtol=1e-3)
    assert int(out.var["highly_variable"].sum()) == 50


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_hvg_count_flavor_and_subset(kang, flavor):
    out = preprocess(kang, PreprocessConfig(n_top_genes=300, hvg_flavor=flavor, subset_hvg=True,
                                            scale=False))
    assert out.n_vars == 300
    assert bool(out.var["highly_variable"].all())
    assert out.layers["log1p"].shape == (1975, 300)
    assert out.uns["preprocess"]["hvg_flavor"] == flavor


def test_hvg_flavors_pick_different_genes(kang_default, kang):
    cr = preprocess(kang, PreprocessConfig(hvg_flavor="cell_ranger", scale=False))
    seurat = set(kang_default.var_names[kang_default.var["highly_variable"]])
    ranger = set(cr.var_names[cr.var["highly_variable"]])
    assert len(seurat) == len(ranger) == 2000
    assert seurat != ranger


def test_no_hvg(zeisel):
    out = preprocess(zeisel, PreprocessConfig(n_top_genes=None, scale=False))
    assert "n_top_genes" not in out.uns["preprocess"]  # None is not stored (h5ad can't)
    assert not out.var["highly_variable"].any()


def test_unknown_flavor():
    adata = anndata.AnnData(X=np.ones((3, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="Unknown HVG flavor 'seurat_v9'"):
        preprocess(adata, PreprocessConfig(hvg_flavor="seurat_v9"))


@pytest.mark.parametrize("clip", [1.5, 10.0])
def test_scale_and_clip(zeisel, clip):
    out = preprocess(zeisel, PreprocessConfig(n_top_genes=None, clip=clip))
    X = out.X
    assert X.max() <= clip + 1e-6 and X.min() >= -clip - 1e-6
    if clip == 1.5:  # small clip is reached on both sides
        assert X.max() == pytest.approx(clip) and X.min() == pytest.approx(-clip)


def test_scale_without_clip_is_unit_variance(zeisel):
    out = preprocess(zeisel, PreprocessConfig(n_top_genes=None, clip=None))
    np.testing.assert_allclose(out.X.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.X.std(axis=0, ddof=1), 1, atol=1e-3)
    assert "clip" not in out.uns["preprocess"]


def test_min_cells_drops_rare_genes():
    X = np.array([[1, 0, 2, 1], [3, 0, 0, 1], [1, 1, 0, 0]], dtype=np.float32)
    adata = anndata.AnnData(X=sp.csr_matrix(X))
    out = preprocess(adata, PreprocessConfig(min_cells=2, n_top_genes=None, scale=False))
    assert list(out.var_names) == ["0", "3"]  # gene 1 and 2 are seen in only one cell
    with pytest.raises(DataError, match="0 gene.s. detected in at least 4 cells"):
        preprocess(adata, PreprocessConfig(min_cells=4))
    # one gene left: HVG selection and PCA with 0 components raised IndexError (issue 19)
    with pytest.raises(DataError, match="1 gene.s. detected in at least 3 cells; a model needs"):
        preprocess(adata, PreprocessConfig(min_cells=3))


def test_output_writes_as_h5ad(tmp_path, zeisel):
    out = preprocess(zeisel, PreprocessConfig(n_top_genes=20))
    path = tmp_path / "processed.h5ad"
    out.write_h5ad(path)
    back = anndata.read_h5ad(path)
    assert back.uns["preprocess"]["x_kind"] == "counts"
    assert list(back.layers) == ["counts", "log1p"]


def test_qc_metrics_reads_counts(zeisel):
    qc = qc_metrics(zeisel)
    assert list(qc.columns) == ["total_counts", "n_genes_by_counts"]
    assert qc["total_counts"].sum() == 452_647
    X = dense(zeisel.X)
    np.testing.assert_array_equal(qc["n_genes_by_counts"], (X > 0).sum(axis=1))
    processed = preprocess(zeisel, PreprocessConfig(n_top_genes=None))
    assert qc_metrics(processed)["total_counts"].sum() == 452_647  # from layers['counts']


def test_summary_and_label_columns(kang, zeisel):
    s = summarize(kang)
    assert (s["name"], s["n_obs"], s["n_vars"], s["x_kind"], s["x_is_counts"]) == (
        "kang_pbmc", 1975, 6998, "log-normalized", False)
    assert s["obs_columns"]["cell_type"] == {"type": "categorical", "n_categories": 7}
    assert s["obs_columns"]["condition"] == {"type": "categorical", "n_categories": 2}
    assert s["obs_columns"]["n_genes"]["n_categories"] is None
    assert categorical_columns(kang) == ["condition", "cell_type"]
    z = summarize(zeisel)
    assert z["x_is_counts"] is True
    assert z["obs_columns"]["level1class"]["n_categories"] == 7
    assert z["obs_columns"]["level2class"]["n_categories"] == 48
    assert "level1class" in categorical_columns(zeisel)
