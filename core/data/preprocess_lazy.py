"""Preprocessing that stays sparse: statistics streamed over row chunks of raw counts, and the
transform (normalise → log1p → scale → clip) applied per batch.

The in-memory :func:`core.data.preprocess.preprocess` makes X dense to scale it (8 GB for
1M × 2,000). Here the counts stay CSR (in memory or on disk, :mod:`core.data.backed`); one pass
over chunks gives each gene's detection count, the mean and variance of its normalised values
(for scanpy's "seurat" HVG dispersions) and of its log1p values (the stored means and SDs of
the scaling). A batch of raw count rows becomes exactly what ``preprocess`` would have put in X
for those cells (same float32 maths; tests/unit/data/test_preprocess_lazy.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data.preprocess import PreprocessConfig
from core.errors import ConfigError, DataError


@dataclass
class LazyPreprocess:
    """What the per-batch transform needs, learnt in one streaming pass.

    Attributes
    ----------
    config
        The resolved settings (X held counts).
    keep
        Boolean mask over the file's genes: detected in ≥ ``min_cells`` (and HVG if subset).
    var
        The kept genes' var table, with ``highly_variable``, ``means``, ``dispersions``,
        ``dispersions_norm`` as scanpy writes them.
    mean, std
        Per kept gene, of the log1p values (float64; ``std`` 1 where it is 0, as scanpy).
    n_obs
        Cells seen.
    """

    config: PreprocessConfig
    keep: np.ndarray
    var: pd.DataFrame
    mean: np.ndarray
    std: np.ndarray
    n_obs: int

    @property
    def n_vars(self) -> int:
        """Genes the model reads."""
        return int(self.keep.sum())

    def log1p(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Normalised log1p values of raw count rows, kept genes only (sparse, float32)."""
        return _log1p_rows(counts, self.config)[:, self.keep]

    def transform(self, counts: sp.csr_matrix) -> np.ndarray:
        """What ``preprocess`` puts in X for these raw count rows (dense float32)."""
        x = self.log1p(counts).toarray()
        if self.config.scale:
            x -= self.mean.astype(np.float32)
            x /= self.std.astype(np.float32)
            if self.config.clip is not None:
                np.clip(x, -self.config.clip, self.config.clip, out=x)
        return x

    def uns(self) -> dict:
        """``uns['preprocess']`` as ``preprocess`` records it."""
        settings = {k: v for k, v in self.config.to_dict().items() if v is not None}
        return {**settings, "x_kind": "counts", "lazy": True}


def _log1p_rows(counts: sp.csr_matrix, cfg: PreprocessConfig) -> sp.csr_matrix:
    """normalize_total then log1p on CSR rows, in float32 as scanpy does."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    if cfg.normalize:
        totals = np.asarray(x.sum(axis=1), dtype=np.float32).ravel()
        totals[totals == 0] = 1.0
        # scanpy divides by (total / target_sum): same float32 operation order.
        x.data /= np.repeat(totals / np.float32(cfg.target_sum), np.diff(x.indptr))
    if cfg.log1p:
        np.log1p(x.data, out=x.data)
    return x


class _Moments:
    """Running float64 sums of values and squared values per gene."""

    def __init__(self, n_genes: int):
        self.s = np.zeros(n_genes)
        self.ss = np.zeros(n_genes)

    def add(self, x: sp.csr_matrix) -> None:
        x64 = sp.csr_matrix(x, dtype=np.float64)
        self.s += np.asarray(x64.sum(axis=0)).ravel()
        self.ss += np.asarray(x64.multiply(x64).sum(axis=0)).ravel()

    def mean_var(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased variance (scanpy's ``_get_mean_var``)."""
        mean = self.s / n
        var = (self.ss / n - mean ** 2) * (n / (n - 1) if n > 1 else 1.0)
        return mean, var


def fit_lazy(chunks: Iterable[sp.csr_matrix] | Iterator[sp.csr_matrix], var: pd.DataFrame,
             config: PreprocessConfig | None = None) -> LazyPreprocess:
    """Learn the preprocessing of raw counts from row chunks (each visited once).

    Parameters
    ----------
    chunks
        CSR blocks of raw counts covering every cell (e.g. ``BackedCounts.chunks()`` values).
    var
        The file's var table (gene names as index).
    config
        Settings as for :func:`~core.data.preprocess.preprocess`; only the "seurat" HVG flavor
        and ``min_cells`` ≤ 1 are supported here (both are the defaults).
    """
    cfg = (config or PreprocessConfig()).resolved("counts")
    if cfg.hvg_flavor != "seurat" and cfg.n_top_genes:
        raise ConfigError("Data read from disk supports the 'seurat' HVG flavor only.")
    if cfg.min_cells > 1:
        raise ConfigError("Data read from disk supports min_cells 0 or 1 only.")
    n_genes = len(var)
    detected = np.zeros(n_genes, dtype=np.int64)
    norm, logm = _Moments(n_genes), _Moments(n_genes)
    n = 0
    for chunk in chunks:
        chunk = sp.csr_matrix(chunk)
        if chunk.nnz and (chunk.data < 0).any():
            raise DataError("X has negative values; streaming preprocessing needs raw counts.")
        detected += np.bincount(chunk.indices, minlength=n_genes)
        logged = _log1p_rows(chunk, cfg)
        expm = logged.copy()
        np.expm1(expm.data, out=expm.data)   # what scanpy's seurat flavor reads
        norm.add(expm)
        logm.add(logged)
        n += chunk.shape[0]
    if n < 2:
        raise DataError("Need at least two cells.")
    keep = detected >= 1 if cfg.min_cells == 1 else np.ones(n_genes, dtype=bool)
    if not keep.any():
        raise DataError("No gene is detected in any cell.")
    out_var = var.loc[keep].copy()
    mean_n, var_n = (a[keep] for a in norm.mean_var(n))
    if cfg.n_top_genes:
        out_var = pd.concat([out_var, _seurat_hvg(mean_n, var_n, min(cfg.n_top_genes,
                                                                      int(keep.sum())),
                                                  out_var.index)], axis=1)
    else:
        out_var["highly_variable"] = False
    mean_l, var_l = (a[keep] for a in logm.mean_var(n))
    std = np.sqrt(var_l)
    std[std == 0] = 1.0
    if cfg.subset_hvg and cfg.n_top_genes:
        hv = out_var["highly_variable"].to_numpy(bool)
        idx = np.flatnonzero(keep)
        keep = np.zeros(n_genes, dtype=bool)
        keep[idx[hv]] = True
        out_var, mean_l, std = out_var.loc[hv], mean_l[hv], std[hv]
    return LazyPreprocess(config=cfg, keep=keep, var=out_var, mean=mean_l, std=std, n_obs=n)


def _seurat_hvg(mean: np.ndarray, var: np.ndarray, n_top: int, index: pd.Index
                ) -> pd.DataFrame:
    """scanpy's "seurat" HVG flavor from per-gene mean and variance of normalised values.

    The dispersion maths is scanpy's (``_highly_variable_genes_single_batch``); binning and the
    per-bin statistics call scanpy's own helpers, so the selection is the same gene set as
    ``sc.pp.highly_variable_genes`` on the in-memory data (tested).
    """
    from scanpy.preprocessing._highly_variable_genes import (
        _get_disp_stats,
        _get_mean_bins,
        _nth_highest,
    )

    mean = mean.copy()
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    dispersion[dispersion == 0] = np.nan
    dispersion = np.log(dispersion)
    mean = np.log1p(mean)
    df = pd.DataFrame({"means": mean, "dispersions": dispersion})
    df["mean_bin"] = _get_mean_bins(df["means"], "seurat", 20)
    stats = _get_disp_stats(df, "seurat")
    df["dispersions_norm"] = (df["dispersions"] - stats["avg"]) / stats["dev"]
    norm = df["dispersions_norm"].to_numpy()
    cut = _nth_highest(norm.copy(), n_top)
    df["highly_variable"] = np.nan_to_num(norm, nan=-np.inf) >= cut
    df.index = index
    return df[["highly_variable", "means", "dispersions", "dispersions_norm"]]
