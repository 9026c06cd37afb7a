"""Fixtures: a toy count matrix and the same data as an .h5ad file in tmp_path."""

from __future__ import annotations

from pathlib import Path

import anndata
import pandas as pd
import pytest
import scipy.sparse as sp
from factories import toy_counts


@pytest.fixture
def toy():
    return toy_counts()


@pytest.fixture
def toy_h5ad(tmp_path, toy) -> Path:
    X, cells, genes = toy
    obs = pd.DataFrame({"cell_type": ["T", "B", "T", "B", "NK", "NK"]}, index=cells)
    adata = anndata.AnnData(X=sp.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))
    path = tmp_path / "toy.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (small models train faster on a shared CPU)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
