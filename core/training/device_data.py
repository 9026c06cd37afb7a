"""Per-cell data held on the training device; batches are index slices, never Python loaders.

Dense arrays become one tensor on the device. Sparse CSR matrices stay sparse on the device
(indptr, indices, data) and each batch is densified there with a vectorised gather, so a
1M-cell sparse matrix never exists densely anywhere.

The row-source interface (``Rows``) is two members: ``n`` (number of cells) and
``rows(idx) -> Tensor`` (the rows ``idx``, a LongTensor on the training device, in that order;
a dense float32 or int64 batch on the device). ``shape`` is ``(n, n_cols)``. Implementations:
:class:`DenseRows`, :class:`CSRRows` (device-resident), :class:`TransformedRows` (a per-batch
transform over another source, e.g. raw counts → the scaled X of lazy preprocessing) and
:class:`HostRows` (rows read on the host per batch, e.g. from an ``.h5ad`` on disk). A sampler
only needs ``n``; every source returns the same rows for the same ``idx``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch


class DenseRows:
    """A dense (n, ...) array on ``device``; ``rows(idx)`` returns ``tensor[idx]``."""

    def __init__(self, array: np.ndarray, device: torch.device, dtype: torch.dtype | None = None):
        arr = np.asarray(array)
        if dtype is None:
            dtype = torch.long if np.issubdtype(arr.dtype, np.integer) else torch.float32
        self.tensor = torch.as_tensor(arr).to(device=device, dtype=dtype)
        self.n = self.tensor.shape[0]
        self.shape = tuple(self.tensor.shape)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (a LongTensor on the same device)."""
        return self.tensor.index_select(0, idx)


class CSRRows:
    """A sparse CSR matrix on ``device``; ``rows(idx)`` returns a dense float32 batch."""

    def __init__(self, matrix: sp.spmatrix, device: torch.device):
        csr = sp.csr_matrix(matrix)
        csr.sort_indices()
        self.n, self.n_cols = csr.shape
        self.shape = csr.shape
        self.indptr = torch.as_tensor(csr.indptr.astype(np.int64), device=device)
        self.indices = torch.as_tensor(csr.indices.astype(np.int64), device=device)
        self.data = torch.as_tensor(csr.data.astype(np.float32), device=device)
        self.device = device
        max_nnz = int(np.diff(csr.indptr).max()) if self.n else 0
        self._offsets = torch.arange(max(max_nnz, 1), device=device)
        if csr.nnz == 0:  # keep gathers in bounds for an all-zero matrix
            self.indices = torch.zeros(1, dtype=torch.long, device=device)
            self.data = torch.zeros(1, device=device)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Dense rows ``idx``, built on the device without a host sync.

        Each row's entries are gathered into a (batch, max_row_nnz) block; positions past a
        row's end add zero via ``scatter_add_``, so no data-dependent sizes reach the host.
        """
        starts = self.indptr[idx]
        lengths = self.indptr[idx + 1] - starts
        pos = starts[:, None] + self._offsets[None, :]
        valid = self._offsets[None, :] < lengths[:, None]
        pos = torch.where(valid, pos, torch.zeros_like(pos))
        cols = self.indices[pos]
        vals = torch.where(valid, self.data[pos], torch.zeros((), device=self.device))
        out = torch.zeros(idx.shape[0], self.n_cols, device=self.device)
        return out.scatter_add_(1, cols, vals)


class TransformedRows:
    """``fn(inner.rows(idx))``: a per-batch transform over another row source.

    Parameters
    ----------
    inner
        The source (e.g. :class:`CSRRows` of raw counts).
    fn
        Tensor → tensor on the same device, row-wise (row i of the output depends only on row
        i of the input), e.g. :func:`lazy_transform`.
    n_cols
        Columns of ``fn``'s output.
    """

    def __init__(self, inner: DenseRows | CSRRows | HostRows, fn: Callable[[torch.Tensor],
                 torch.Tensor], n_cols: int):
        self.inner, self.fn = inner, fn
        self.n = inner.n
        self.shape = (self.n, int(n_cols))

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Transformed rows ``idx``."""
        return self.fn(self.inner.rows(idx))


class HostRows:
    """Rows produced on the host by ``fetch(idx) -> ndarray`` and copied to ``device``.

    ``fetch`` gets the indices as a numpy int64 array (any order) and returns a dense
    (len(idx), n_cols) float32 array in that order, e.g. rows read from an ``.h5ad`` on disk
    (:class:`core.data.backed.BackedCounts`) and transformed. Slower than the device-resident
    sources (one host read per batch); used when X does not fit in memory even as CSR.
    """

    def __init__(self, n: int, n_cols: int, fetch: Callable[[np.ndarray], np.ndarray],
                 device: torch.device):
        self.n, self.fetch, self.device = int(n), fetch, device
        self.shape = (self.n, int(n_cols))

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` read on the host, as float32 on the device."""
        arr = np.ascontiguousarray(self.fetch(idx.cpu().numpy()), dtype=np.float32)
        return torch.from_numpy(arr).to(self.device)


def lazy_transform(lazy: Any, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-batch tensor form of ``LazyPreprocess.transform`` (raw count rows → X).

    normalise to ``target_sum`` → log1p → keep genes → (x − mean) / sd → clip, in float32 on
    ``device``: same operations as the numpy form (tests/unit/training/test_lazy_rows.py).
    """
    cfg = lazy.config
    keep = torch.as_tensor(np.flatnonzero(lazy.keep), device=device)
    mean = torch.as_tensor(lazy.mean, dtype=torch.float32, device=device)
    std = torch.as_tensor(lazy.std, dtype=torch.float32, device=device)

    def fn(counts: torch.Tensor) -> torch.Tensor:
        x = counts
        if cfg.normalize:
            totals = x.sum(dim=1, keepdim=True)
            totals = torch.where(totals == 0, torch.ones_like(totals), totals)
            x = x / (totals / cfg.target_sum)
        if cfg.log1p:
            x = torch.log1p(x)
        x = x.index_select(1, keep)
        if cfg.scale:
            x = (x - mean) / std
            if cfg.clip is not None:
                x = x.clamp(-cfg.clip, cfg.clip)
        return x
    return fn


Rows = DenseRows | CSRRows | TransformedRows | HostRows


def to_device(data: Mapping[str, Any], device: torch.device) -> dict[str, Rows]:
    """Move every per-cell array to ``device`` (sparse stays sparse); all must share n rows.

    A value that is already a row source (:data:`Rows`) is used as it is.
    """
    out: dict[str, Rows] = {}
    n = None
    for key, value in data.items():
        if hasattr(value, "rows") and hasattr(value, "n"):
            rows: Rows = value          # already a row source (built for this device)
        elif sp.issparse(value):
            rows = CSRRows(value, device)
        else:
            rows = DenseRows(value, device)
        if n is not None and rows.n != n:
            raise ValueError(f"data['{key}'] has {rows.n} rows, expected {n}")
        n = rows.n
        out[key] = rows
    return out


def n_rows(data: Mapping[str, Rows]) -> int:
    """Number of cells in device data."""
    return next(iter(data.values())).n
