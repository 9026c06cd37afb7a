"""Builders of small expression matrices in every supported file format (for tmp_path)."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.io import mmwrite

N_CELLS, N_GENES = 6, 4


def toy_counts(seed: int = 0) -> tuple[np.ndarray, list[str], list[str]]:
    """A 6 cells × 4 genes integer matrix with no empty row or column, plus names."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 9, size=(N_CELLS, N_GENES)).astype(np.float32)
    X[np.arange(N_CELLS), np.arange(N_CELLS) % N_GENES] += 1  # every cell and gene non-zero
    cells = [f"cell{i}" for i in range(N_CELLS)]
    genes = [f"GENE{j}" for j in range(N_GENES)]
    return X, cells, genes


def toy_table(X: np.ndarray, cells: list[str], genes: list[str]) -> pd.DataFrame:
    return pd.DataFrame(X.astype(int), index=pd.Index(cells, name="cell"), columns=genes)


def write_10x_zip(path: Path, X: np.ndarray, cells: list[str], genes: list[str], *,
                  gz: bool = True, folder: str = "filtered_feature_bc_matrix/",
                  features_name: str = "features.tsv") -> Path:
    """Zip a Cell Ranger v3 folder: matrix.mtx is genes × cells, features has id, symbol, type."""
    buf = io.BytesIO()
    mmwrite(buf, sp.coo_matrix(X.T.astype(int)))
    mtx = buf.getvalue()
    features = "".join(f"ENSG{j:05d}\t{g}\tGene Expression\n" for j, g in enumerate(genes))
    barcodes = "".join(f"{c}\n" for c in cells)
    ext = ".gz" if gz else ""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in (("matrix.mtx", mtx), (features_name, features.encode()),
                              ("barcodes.tsv", barcodes.encode())):
            zf.writestr(folder + name + ext, gzip.compress(content) if gz else content)
    return path


def write_10x_h5(path: Path, X: np.ndarray, cells: list[str], genes: list[str]) -> Path:
    """A minimal Cell Ranger v3 ``filtered_feature_bc_matrix.h5`` (CSC, genes × cells)."""
    import h5py

    m = sp.csc_matrix(X.T.astype(np.int32))
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g.create_dataset("data", data=m.data)
        g.create_dataset("indices", data=m.indices.astype(np.int64))
        g.create_dataset("indptr", data=m.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array(m.shape, dtype=np.int32))
        g.create_dataset("barcodes", data=np.array(cells, dtype="S"))
        feats = g.create_group("features")
        feats.create_dataset("id", data=np.array([f"ENSG{j:05d}" for j in range(len(genes))],
                                                 dtype="S"))
        feats.create_dataset("name", data=np.array(genes, dtype="S"))
        feats.create_dataset("feature_type", data=np.array(["Gene Expression"] * len(genes),
                                                           dtype="S"))
        feats.create_dataset("genome", data=np.array(["GRCh38"] * len(genes), dtype="S"))
    return path
