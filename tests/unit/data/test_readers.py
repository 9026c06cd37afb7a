"""Every supported file format reads to the same cells × genes matrix."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.sparse as sp
from factories import toy_table, write_10x_h5, write_10x_zip

from core.data.io import read, read_bytes, read_path


def dense(adata) -> np.ndarray:
    return adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)


def assert_same(result, X, cells, genes):
    assert result.adata.shape == X.shape
    assert list(result.adata.obs_names) == cells
    assert list(result.adata.var_names) == genes
    np.testing.assert_array_equal(dense(result.adata), X)
    assert sp.issparse(result.adata.X) and result.adata.X.format == "csr"
    assert result.notices == []


def test_h5ad_path(toy_h5ad, toy):
    result = read(toy_h5ad)
    assert_same(result, *toy)
    assert result.name == "toy.h5ad"
    assert result.adata.uns["dataset_name"] == "toy.h5ad"
    assert list(result.adata.obs["cell_type"].cat.categories) == ["B", "NK", "T"]


def test_h5ad_upload_bytes(toy_h5ad, toy):
    result = read_bytes(toy_h5ad.read_bytes(), "My Data.H5AD")
    assert_same(result, *toy)
    assert result.name == "My Data.H5AD"
    assert not result.adata.isbacked


@pytest.mark.parametrize("gz", [True, False])
def test_10x_zip(tmp_path, toy, gz):
    X, cells, genes = toy
    path = write_10x_zip(tmp_path / "pbmc.zip", X, cells, genes, gz=gz)
    result = read(path)
    assert_same(result, X, cells, genes)
    assert list(result.adata.var["gene_ids"]) == [f"ENSG{j:05d}" for j in range(len(genes))]


def test_10x_zip_old_genes_tsv_at_top_level(tmp_path, toy):
    X, cells, genes = toy
    path = write_10x_zip(tmp_path / "old.zip", X, cells, genes, gz=False, folder="",
                         features_name="genes.tsv")
    assert_same(read_bytes(path.read_bytes(), "old.zip"), X, cells, genes)


def test_10x_h5(tmp_path, toy):
    X, cells, genes = toy
    path = write_10x_h5(tmp_path / "filtered_feature_bc_matrix.h5", X, cells, genes)
    result = read(path)
    assert_same(result, X, cells, genes)
    assert result.adata.var["feature_types"].iloc[0] == "Gene Expression"


@pytest.mark.parametrize("filename,sep", [("x.csv", ","), ("x.tsv", "\t"), ("x.txt", "\t"),
                                          ("x.csv.gz", ","), ("x.tsv.gz", "\t")])
def test_tables(tmp_path, toy, filename, sep):
    X, cells, genes = toy
    text = toy_table(X, cells, genes).to_csv(sep=sep).encode()
    data = gzip.compress(text) if filename.endswith(".gz") else text
    (tmp_path / filename).write_bytes(data)
    assert_same(read(tmp_path / filename), X, cells, genes)
    assert_same(read_bytes(data, filename), X, cells, genes)


def test_table_transposed(tmp_path, toy):
    X, cells, genes = toy
    path = tmp_path / "genes_by_cells.csv"
    toy_table(X, cells, genes).T.to_csv(path)
    assert_same(read(path, transpose=True), X, cells, genes)
    # Without the flag the genes become the cells.
    assert read(path).adata.shape == (len(genes), len(cells))


def test_table_float_values_kept(tmp_path):
    path = tmp_path / "lognorm.csv"
    path.write_text("cell,CD3E,MS4A1\nc1,0.5,1.25\nc2,2.0,0\n")
    adata = read_path(path).adata
    np.testing.assert_allclose(dense(adata), [[0.5, 1.25], [2.0, 0.0]])
    assert adata.X.dtype == np.float32


def test_bundled_name_and_missing_source(tmp_path):
    result = read("zeisel_cortex")
    assert result.name == "zeisel_cortex"
    assert result.adata.shape == (3005, 200)
    from core.errors import DataError

    with pytest.raises(DataError, match="neither a bundled dataset .* nor an existing file"):
        read(str(tmp_path / "nope.h5ad"))
