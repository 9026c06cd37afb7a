"""Count matrices that stay on disk: an ``.h5ad`` opened backed, read in row batches.

X is read through anndata's backed mode (``read_h5ad(path, backed="r")``: obs and var in
memory, X an ``anndata.abc.CSRDataset`` over the HDF5 file), so a 1,000,000 × 2,000 file at 5 %
density (≈ 0.8 GB of CSR arrays, 8 GB dense) is never loaded whole. Why this loader and not
AnnLoader, annbatch or TileDB-SOMA: README "Atlas scale" and benchmarks/atlas_scale.py.

:class:`BackedCounts` gives rows (any order; read sorted, reordered in memory) and contiguous
chunks (for the streaming statistics of :mod:`core.data.preprocess_lazy`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from core.errors import DataError

#: Rows per chunk in streaming passes: 20,000 × 2,000 at 5 % is ≈ 16 MB of CSR arrays and
#: 160 MB once densified for a transform, so a pass stays far below the 6 GB budget.
CHUNK_ROWS = 20_000


class BackedCounts:
    """An ``.h5ad`` whose X stays on disk (CSR); obs and var are in memory.

    Parameters
    ----------
    path
        The ``.h5ad`` file. X must be stored as CSR (``.h5ad`` written from a CSR matrix, as
        ``scanpy``/``anndata`` write sparse counts).
    """

    def __init__(self, path: str | Path):
        import anndata

        self.path = Path(path)
        try:
            self.adata = anndata.read_h5ad(self.path, backed="r")
        except Exception as exc:  # noqa: BLE001 - any reader failure is one message
            raise DataError(f"Cannot open {self.path.name} backed ({type(exc).__name__}: "
                            f"{str(exc)[:120]}); is it an .h5ad file?") from exc
        X = self.adata.X
        if X is None or getattr(X, "format", None) != "csr":
            raise DataError(f"{self.path.name}: X must be a CSR sparse matrix to be read from "
                            "disk; rewrite it with X as scipy.sparse.csr_matrix, or load it "
                            "in memory.")
        self.X = X
        self.n_obs, self.n_vars = int(self.adata.n_obs), int(self.adata.n_vars)
        self.shape = (self.n_obs, self.n_vars)
        # indptr is 8 MB for 1M cells; holding it lets rows() compute byte ranges itself.
        self.obs = self.adata.obs
        self.var = self.adata.var

    def rows(self, idx: np.ndarray) -> sp.csr_matrix:
        """Rows ``idx`` (any order, repeats allowed) as float32 CSR, in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        uniq, inverse = np.unique(idx[order], return_inverse=True)
        block = self.X[uniq]                      # anndata reads sorted rows
        block = sp.csr_matrix(block, dtype=np.float32)
        back = np.empty(len(idx), dtype=np.int64)
        back[order] = inverse
        return block[back]

    def chunk(self, start: int, stop: int) -> sp.csr_matrix:
        """Contiguous rows ``start:stop`` as float32 CSR (one read)."""
        return sp.csr_matrix(self.X[start:stop], dtype=np.float32)

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[int, sp.csr_matrix]]:
        """``(start, csr)`` over all rows in order, ``chunk_rows`` at a time."""
        for start in range(0, self.n_obs, chunk_rows):
            yield start, self.chunk(start, min(self.n_obs, start + chunk_rows))

    def close(self) -> None:
        """Close the HDF5 file."""
        file = getattr(self.adata, "file", None)
        if file is not None:
            file.close()

    def __repr__(self) -> str:
        return f"BackedCounts({self.path.name}, {self.n_obs} × {self.n_vars})"


def is_large_h5ad(path: str | Path, max_dense_gb: float = 2.0) -> bool:
    """Whether an ``.h5ad`` has a CSR X whose dense float32 copy would exceed ``max_dense_gb``.

    Reads only the shape attributes, never X.
    """
    import h5py

    path = Path(path)
    if path.suffix.lower() != ".h5ad":
        return False
    try:
        with h5py.File(path, "r") as f:
            x: Any = f.get("X")
            if not isinstance(x, h5py.Group) or x.attrs.get("encoding-type") != "csr_matrix":
                return False
            n_obs, n_vars = (int(v) for v in x.attrs["shape"])
    except OSError:
        return False
    return n_obs * n_vars * 4 / 1e9 > max_dense_gb
