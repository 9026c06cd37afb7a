"""Each kind of bad input gives a DataError whose message says what is wrong and what to do."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from factories import toy_table, write_10x_h5, write_10x_zip

from core.data.io import MAX_UPLOAD_MB, check_upload_size, read, read_bytes
from core.data.validate import check_finite, require_counts, validate
from core.errors import DataError, ScvaeError


def test_errors_are_user_errors():
    assert issubclass(DataError, ScvaeError) and issubclass(DataError, ValueError)


def test_truncated_h5ad(toy_h5ad):
    data = toy_h5ad.read_bytes()
    with pytest.raises(DataError) as err:
        read_bytes(data[: len(data) // 2], "toy.h5ad")
    msg = str(err.value)
    assert msg.startswith("Could not read 'toy.h5ad' as .h5ad: the file is truncated, corrupt")
    assert "Re-export it with adata.write_h5ad()" in msg


def test_corrupt_h5ad_path(tmp_path):
    path = tmp_path / "garbage.h5ad"
    path.write_bytes(b"this is not an HDF5 file at all" * 10)
    with pytest.raises(DataError, match=r"Could not read 'garbage.h5ad' as .h5ad"):
        read(path)


def test_corrupt_10x_h5(tmp_path):
    path = tmp_path / "matrix.h5"
    path.write_bytes(b"\x89HDF\r\n" + b"\0" * 100)
    with pytest.raises(DataError, match=r"Could not read 'matrix.h5' as a 10x Genomics .h5 matrix"):
        read(path)


def test_truncated_zip(tmp_path, toy):
    path = write_10x_zip(tmp_path / "x.zip", *toy)
    data = path.read_bytes()
    with pytest.raises(DataError, match=r"'x.zip' is not a valid .zip archive \(truncated or"):
        read_bytes(data[: len(data) // 3], "x.zip")


def test_zip_without_10x_files(tmp_path):
    import zipfile

    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("barcodes.tsv", "AAAC-1\n")
    with pytest.raises(DataError) as err:
        read(path)
    assert "does not hold a 10x matrix: missing matrix.mtx(.gz), features.tsv(.gz) or " \
           "genes.tsv." in str(err.value)


def test_zip_shape_mismatch(tmp_path, toy):
    X, cells, genes = toy
    path = write_10x_zip(tmp_path / "bad.zip", X, cells[:-1], genes)  # one barcode missing
    with pytest.raises(DataError, match=r"matrix.mtx is 4 genes × 6 cells but features lists 4 "
                                        r"genes and barcodes 5 cells"):
        read(path)


@pytest.mark.parametrize("name", ["data.xlsx", "data.loom", "README"])
def test_wrong_extension(name):
    with pytest.raises(DataError) as err:
        read_bytes(b"cell,A\nc1,1\n", name)
    assert str(err.value).startswith(
        f"'{name}' has an unsupported file type. Upload .h5ad, 10x .h5")


def test_zero_byte_file():
    with pytest.raises(DataError, match=r"'empty.csv' is an empty file \(0 bytes\)"):
        read_bytes(b"", "empty.csv")


def test_empty_matrix_no_cells():
    with pytest.raises(DataError, match=r"The matrix is empty \(0 cells × 3 genes\)"):
        read_bytes(b"cell,A,B,C\n", "header_only.csv")


def test_empty_matrix_all_zero():
    with pytest.raises(DataError, match=r"Every value of the 2 × 2 matrix is zero"):
        read_bytes(b"cell,A,B\nc1,0,0\nc2,0,0\n", "zeros.csv")


def test_empty_h5ad(tmp_path):
    path = tmp_path / "nogenes.h5ad"
    anndata.AnnData(X=np.zeros((5, 0), dtype=np.float32)).write_h5ad(path)
    with pytest.raises(DataError, match=r"The matrix is empty \(5 cells × 0 genes\)"):
        read(path)


def test_single_column_table():
    with pytest.raises(DataError, match="'semicolons.csv' has a single column. Use commas"):
        read_bytes(b"cell;A;B\nc1;1;2\n", "semicolons.csv")


@pytest.mark.parametrize("value,nan,inf", [("NaN", 1, 0), ("", 1, 0), ("inf", 0, 1),
                                           ("-Infinity", 0, 1)])
def test_nan_inf_in_table(value, nan, inf):
    data = f"cell,A,B\nc1,1,2\nc2,3,{value}\n".encode()
    with pytest.raises(DataError) as err:
        read_bytes(data, "holes.csv")
    assert str(err.value) == (
        f"The matrix holds {nan} NaN and {inf} infinite values (first at cell 'c2', gene 'B'). "
        "Replace missing values (usually by 0) or remove those cells/genes, then upload again."
    )


def test_nan_in_sparse_h5ad(tmp_path):
    X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, np.nan]], dtype=np.float32))
    adata = anndata.AnnData(X=X, obs=pd.DataFrame(index=["a", "b"]),
                            var=pd.DataFrame(index=["G1", "G2"]))
    with pytest.raises(DataError, match=r"1 NaN and 0 infinite values \(first at cell 'b', "
                                        r"gene 'G2'\)"):
        check_finite(adata)


def test_non_numeric_csv_cell():
    data = b"cell,CD3E,MS4A1\nc1,1,2\nc2,3,high\n"
    with pytest.raises(DataError) as err:
        read_bytes(data, "text.csv")
    assert str(err.value).startswith(
        "'text.csv' has a non-numeric value 'high' at cell 'c2', gene 'MS4A1'. The file must "
        "hold numbers only"
    )


def test_negative_values_where_counts_required():
    X = np.array([[1.0, -0.5], [2.0, 3.0]])
    with pytest.raises(DataError) as err:
        require_counts(X, what="layers['counts']")
    assert str(err.value).startswith(
        "layers['counts'] has negative values (min -0.5), so it does not hold counts.")
    assert "Gaussian likelihood" in str(err.value)


def test_non_integer_values_where_counts_required():
    with pytest.raises(DataError, match=r"X has non-integer values \(e.g. 0.25\)"):
        require_counts(sp.csr_matrix(np.array([[1.0, 0.25]])))
    require_counts(sp.csr_matrix(np.array([[1.0, 4.0]])))  # counts pass


def test_negative_values_cannot_be_normalised():
    from core.data.preprocess import PreprocessConfig, preprocess

    adata = anndata.AnnData(X=np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32))
    with pytest.raises(DataError, match="X has negative values \\(it looks scaled already\\)"):
        preprocess(adata, PreprocessConfig(normalize=True))


@pytest.mark.filterwarnings("ignore:.*names are not unique")
def test_duplicate_names_made_unique_with_notice_h5ad(tmp_path):
    adata = anndata.AnnData(
        X=sp.csr_matrix(np.ones((3, 3), dtype=np.float32)),
        obs=pd.DataFrame(index=["c1", "c1", "c2"]),
        var=pd.DataFrame(index=["ACTB", "ACTB", "CD3E"]),
    )
    path = tmp_path / "dups.h5ad"
    adata.write_h5ad(path)
    result = read(path)
    assert list(result.adata.var_names) == ["ACTB", "ACTB-1", "CD3E"]
    assert list(result.adata.obs_names) == ["c1", "c1-1", "c2"]
    assert result.notices == [
        "1 duplicated gene names (e.g. 'ACTB') were made unique by appending -1, -2, … to the "
        "repeats.",
        "1 duplicated cell names (e.g. 'c1') were made unique by appending -1, -2, … to the "
        "repeats.",
    ]


@pytest.mark.filterwarnings("ignore:.*names are not unique")
def test_duplicate_names_in_csv_get_a_notice():
    data = b"cell,ACTB,ACTB,CD3E\nc1,1,2,3\nc1,4,5,6\n"
    result = read_bytes(data, "dups.csv")
    assert list(result.adata.var_names) == ["ACTB", "ACTB-1", "CD3E"]
    assert list(result.adata.obs_names) == ["c1", "c1-1"]
    assert len(result.notices) == 2
    assert result.notices[0].startswith("1 duplicated gene names (e.g. 'ACTB')")
    np.testing.assert_array_equal(result.adata.X.toarray(), [[1, 2, 3], [4, 5, 6]])


@pytest.mark.filterwarnings("ignore:.*names are not unique")
def test_duplicate_gene_symbols_in_10x(tmp_path, toy):
    X, cells, _ = toy
    genes = ["TBCE", "TBCE", "HSPA14", "TBCE"]
    for path in (write_10x_zip(tmp_path / "d.zip", X, cells, genes),
                 write_10x_h5(tmp_path / "d.h5", X, cells, genes)):
        result = read(path)
        assert list(result.adata.var_names) == ["TBCE", "TBCE-1", "HSPA14", "TBCE-2"]
        assert result.notices == [
            "2 duplicated gene names (e.g. 'TBCE') were made unique by appending -1, -2, … to "
            "the repeats."
        ]


def test_upload_size_limit():
    limit = MAX_UPLOAD_MB * 1024 * 1024
    check_upload_size(limit)  # exactly at the limit is fine
    with pytest.raises(DataError) as err:
        check_upload_size(limit + 1)
    assert str(err.value) == (
        "The file is 2,000 MB, over the 2,000 MB upload limit. Subset it (e.g. to highly "
        "variable genes) or use the CLI with a path."
    )
    with pytest.raises(DataError, match="The file is 3,072 MB, over the 2,000 MB upload limit"):
        check_upload_size(3 * 1024**3)


def test_upload_size_matches_streamlit_config():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[3] / ".streamlit/config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB == 2000
    assert config["browser"]["gatherUsageStats"] is False


def test_validate_converts_to_csr():
    adata = anndata.AnnData(X=sp.csc_matrix(np.eye(3, dtype=np.float32)))
    assert validate(adata) == []
    assert adata.X.format == "csr"


def test_toy_table_is_fine(toy):
    data = toy_table(*toy).to_csv().encode()
    assert read_bytes(data, "ok.csv").notices == []
