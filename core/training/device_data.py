"""Per-cell data held on the training device; batches are index slices, never Python loaders.

Dense arrays become one tensor on the device. Sparse CSR matrices stay sparse on the device
(indptr, indices, data) and each batch is densified there with a vectorised gather, so a
1M-cell sparse matrix never exists densely anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

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

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` (a LongTensor on the same device)."""
        return self.tensor.index_select(0, idx)


class CSRRows:
    """A sparse CSR matrix on ``device``; ``rows(idx)`` returns a dense float32 batch."""

    def __init__(self, matrix: sp.spmatrix, device: torch.device):
        csr = sp.csr_matrix(matrix)
        csr.sort_indices()
        self.n, self.n_cols = csr.shape
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


Rows = DenseRows | CSRRows


def to_device(data: Mapping[str, np.ndarray | sp.spmatrix], device: torch.device
              ) -> dict[str, Rows]:
    """Move every per-cell array to ``device`` (sparse stays sparse); all must share n rows."""
    out: dict[str, Rows] = {}
    n = None
    for key, value in data.items():
        rows: Rows = CSRRows(value, device) if sp.issparse(value) else DenseRows(value, device)
        if n is not None and rows.n != n:
            raise ValueError(f"data['{key}'] has {rows.n} rows, expected {n}")
        n = rows.n
        out[key] = rows
    return out


def n_rows(data: Mapping[str, Rows]) -> int:
    """Number of cells in device data."""
    return next(iter(data.values())).n
