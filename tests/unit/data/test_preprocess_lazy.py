"""Streamed sparse preprocessing equals the in-memory dense path; backed reads equal memory."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from core.analysis.embeddings import pca, pca_streamed
from core.data.backed import BackedCounts, is_large_h5ad
from core.data.preprocess import PreprocessConfig, preprocess
from core.data.preprocess_lazy import fit_lazy


def _counts(n=600, g=300, seed=0):
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 4, n)
    programme = rng.gamma(0.3, 2.0, (4, g)) * np.where(rng.random((4, g)) < 0.2, 6.0, 1.0)
    lam = programme[types] * rng.integers(1, 4, n)[:, None]
    x = rng.poisson(lam).astype(np.float32)
    x[:, 5] = 0                      # a never-detected gene (dropped by min_cells=1)
    obs = pd.DataFrame({"cell_type": pd.Categorical(np.array(list("abcd"))[types])},
                       index=[f"c{i}" for i in range(n)])
    return ad.AnnData(sp.csr_matrix(x), obs=obs,
                      var=pd.DataFrame(index=[f"g{j}" for j in range(g)]))


def _chunks(x, size=97):
    return (x[s:s + size] for s in range(0, x.shape[0], size))


@pytest.mark.parametrize("subset", [False, True])
def test_lazy_equals_dense_preprocess(subset):
    a = _counts()
    cfg = PreprocessConfig(n_top_genes=60, subset_hvg=subset)
    dense = preprocess(a, cfg)
    lazy = fit_lazy(_chunks(a.X), a.var, cfg)
    assert list(lazy.var.index) == list(dense.var_names)
    np.testing.assert_array_equal(lazy.var["highly_variable"].to_numpy(),
                                  dense.var["highly_variable"].to_numpy())
    assert lazy.var["highly_variable"].sum() == 60
    np.testing.assert_allclose(lazy.transform(a.X), dense.X, atol=2e-5)
    assert abs(lazy.log1p(a.X) - sp.csr_matrix(dense.layers["log1p"])).max() < 1e-6


def test_streamed_pca_matches_sklearn_without_clipping():
    a = _counts()
    cfg = PreprocessConfig(n_top_genes=None, clip=None)
    dense = preprocess(a, cfg)
    lazy = fit_lazy(_chunks(a.X), a.var, cfg)
    got = pca_streamed(lambda: (lazy.log1p(c) for c in _chunks(a.X)), lazy.mean, lazy.std, 5)
    want = pca(dense.X, 5)
    assert got.shape == (600, 5)
    for k in range(3):   # the 3 components the 4 cell types make, the same up to sign
        assert abs(np.corrcoef(got[:, k], want[:, k])[0, 1]) > 0.999


def test_backed_rows_equal_memory(tmp_path):
    a = _counts()
    path = tmp_path / "c.h5ad"
    a.write_h5ad(path)
    src = BackedCounts(path)
    idx = np.array([7, 3, 3, 599, 0, 250])
    assert abs(src.rows(idx) - a.X[idx]).max() == 0
    assert abs(src.chunk(100, 200) - a.X[100:200]).max() == 0
    assert sum(c.shape[0] for _, c in src.chunks(128)) == a.n_obs
    assert not is_large_h5ad(path)
    assert is_large_h5ad(path, max_dense_gb=1e-4)
    src.close()
