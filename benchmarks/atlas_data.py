"""Write a synthetic sparse count ``.h5ad`` in chunks (cells × genes, ~5 % density), never
holding X whole: 20 cell types, each with its own gene programme; ``obs['cell_type']``.

Used by benchmarks/atlas_scale.py. Usage::

    python benchmarks/atlas_data.py /tmp/big.h5ad --cells 1000000 --genes 2000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _chunk(rng: np.random.Generator, types: np.ndarray, probs: np.ndarray, per_cell: int
           ) -> sp.csr_matrix:
    """Counts of one chunk: ``per_cell`` draws of genes per cell from its type's programme."""
    n, n_genes = len(types), probs.shape[1]
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((n, per_cell))
    cols = np.empty((n, per_cell), dtype=np.int32)
    for t in np.unique(types):
        m = types == t
        cols[m] = np.searchsorted(cdf[t], u[m]).clip(0, n_genes - 1)
    rows = np.repeat(np.arange(n, dtype=np.int32), per_cell)
    vals = rng.poisson(1.0, size=n * per_cell).astype(np.float32) + 1.0
    out = sp.csr_matrix((vals, (rows, cols.ravel())), shape=(n, n_genes), dtype=np.float32)
    out.sum_duplicates()
    return out


def write_counts(path: str | Path, n_cells: int, n_genes: int, *, density: float = 0.05,
                 n_types: int = 20, chunk: int = 50_000, seed: int = 0) -> dict:
    """Write the file; returns ``{"seconds", "nnz", "bytes"}``."""
    import anndata as ad
    import h5py
    from anndata.io import sparse_dataset, write_elem

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    types = rng.integers(0, n_types, n_cells)
    base = rng.gamma(0.5, 1.0, n_genes)
    probs = np.stack([base * np.where(rng.random(n_genes) < 0.1, 8.0, 1.0)
                      for _ in range(n_types)])
    probs /= probs.sum(axis=1, keepdims=True)
    per_cell = int(round(density * n_genes * 1.12))   # duplicates merge: ~density after
    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type{t}" for t in types])},
                       index=[f"cell{i}" for i in range(n_cells)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    ad.AnnData(obs=obs, var=var).write_h5ad(path)
    nnz = 0
    with h5py.File(path, "a") as f:
        for start in range(0, n_cells, chunk):
            block = _chunk(rng, types[start:start + chunk], probs, per_cell)
            nnz += block.nnz
            if start == 0:
                write_elem(f, "X", block)
            else:
                sparse_dataset(f["X"]).append(block)
    return {"seconds": round(time.perf_counter() - t0, 1), "nnz": int(nnz),
            "bytes": Path(path).stat().st_size}


def main() -> None:
    """Parse arguments and write the file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.05)
    args = ap.parse_args()
    print(write_counts(args.path, args.cells, args.genes, density=args.density))


if __name__ == "__main__":
    main()
