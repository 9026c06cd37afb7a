"""Rows read lazily (counts CSR + per-batch transform, or from the .h5ad on disk) give the
trainer the same batches, in the same order, and the same loss as the in-memory X."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from core.data.backed import BackedCounts
from core.data.preprocess import PreprocessConfig, preprocess
from core.recipes.betavae import BetaVAESettings, build_module
from core.recipes.betavae_backed import load_backed
from core.training.device_data import (
    CSRRows,
    DenseRows,
    HostRows,
    TransformedRows,
    lazy_transform,
)
from core.training.trainer import TrainConfig, fit

CPU = torch.device("cpu")


class _Spy:
    """A row source that records every index batch it serves."""

    def __init__(self, inner):
        self.inner, self.n, self.shape, self.seen = inner, inner.n, inner.shape, []

    def rows(self, idx):
        self.seen.append(idx.clone())
        return self.inner.rows(idx)


def _file(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.poisson(rng.gamma(0.4, 2.0, 120) * rng.integers(1, 3, 300)[:, None])
    a = ad.AnnData(sp.csr_matrix(x.astype(np.float32)),
                   obs=pd.DataFrame(index=[f"c{i}" for i in range(300)]),
                   var=pd.DataFrame(index=[f"g{j}" for j in range(120)]))
    path = tmp_path / "small.h5ad"
    a.write_h5ad(path)
    return a, path


def test_lazy_and_disk_rows_equal_in_memory_batches_and_loss(tmp_path):
    a, path = _file(tmp_path)
    cfg = PreprocessConfig(n_top_genes=50)
    dense = preprocess(a, cfg).X
    src = BackedCounts(path)
    lazy, counts = load_backed(src, cfg, resident=True)
    sources = {
        "memory": DenseRows(dense, CPU),
        "lazy": TransformedRows(CSRRows(counts, CPU), lazy_transform(lazy, CPU), lazy.n_vars),
        "disk": HostRows(src.n_obs, lazy.n_vars, lambda i: lazy.transform(src.rows(i)), CPU),
    }
    idx = torch.tensor([5, 0, 299, 17, 17])
    for name in ("lazy", "disk"):
        torch.testing.assert_close(sources[name].rows(idx), sources["memory"].rows(idx),
                                   atol=2e-5, rtol=0)
    settings = BetaVAESettings(hidden=(32,), n_latent=4).to_dict()
    train = TrainConfig(epochs=1, batch_size=64, seed=3, patience=None)
    out = {}
    for name, rows in sources.items():
        spy = _Spy(rows)
        module = build_module(settings, dense.shape[1], train.seed)
        res = fit(module, {"x": spy}, config=train)
        out[name] = (spy.seen, res.history["train_loss"].iloc[0])
    for name in ("lazy", "disk"):
        assert len(out[name][0]) == len(out["memory"][0]) > 3
        for got, want in zip(out[name][0], out["memory"][0]):
            assert torch.equal(got, want)
        assert np.isclose(out[name][1], out["memory"][1], rtol=1e-4)
    src.close()
