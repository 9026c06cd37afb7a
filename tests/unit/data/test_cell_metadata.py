"""Cell metadata beside a matrix upload, and which obs columns are offered as labels."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest

from core.data.metadata import add_cell_metadata, read_cell_metadata
from core.data.preprocess import categorical_columns, label_column_report
from core.errors import DataError


def _adata(n: int = 6) -> anndata.AnnData:
    ad = anndata.AnnData(X=np.ones((n, 3), dtype=np.float32))
    ad.obs_names = [f"AAAC-{i}" for i in range(n)]
    return ad


def test_metadata_joins_by_id_in_any_order_and_types_columns():
    csv = "barcode,cell_type,cluster,score\n" + "\n".join(
        f"AAAC-{i},{'TB'[i % 2]},{i % 3},{i / 2}" for i in reversed(range(6)))
    ad = _adata()
    notices = add_cell_metadata(ad, read_cell_metadata(csv.encode(), "meta.csv"),
                                filename="meta.csv")
    assert ad.obs["cell_type"].tolist() == ["T", "B", "T", "B", "T", "B"]
    assert ad.obs["cluster"].tolist() == [0, 1, 2, 0, 1, 2]
    assert pd.api.types.is_integer_dtype(ad.obs["cluster"].dtype)
    assert "Added 3 cell annotation column(s)" in notices[0]
    assert label_column_report(ad) == {"cell_type": None, "cluster": None,
                                       "score": "decimal numbers"}


def test_duplicated_and_unmatched_ids_are_one_line_errors():
    with pytest.raises(DataError, match=r"1 duplicated cell ids in column 'cell' \(e.g. 'a'\)"):
        read_cell_metadata(b"cell,x\na,1\na,2\nb,3\n", "m.csv")
    meta = read_cell_metadata(b"id\ttype\nc1\tT\nc2\tB\n", "m.tsv")
    with pytest.raises(DataError, match="None of the 2 cell ids in 'm.tsv' match"):
        add_cell_metadata(_adata(), meta, filename="m.tsv")
    with pytest.raises(DataError, match="needs a cell-id column and at least one"):
        read_cell_metadata(b"cell\na\n", "m.csv")


def test_partial_match_is_a_notice_and_empty_values():
    meta = read_cell_metadata(("cell,type\n" + "\n".join(
        f"AAAC-{i},T" for i in range(5)) + "\nother,B\n").encode(), "m.csv")
    ad = _adata()
    notices = add_cell_metadata(ad, meta, filename="m.csv")
    assert any("1 cells have no row" in n for n in notices)
    assert any("1 rows of 'm.csv' match no cell" in n for n in notices)
    assert ad.obs["type"].isna().sum() == 1


def test_integer_columns_with_few_values_are_labels_and_others_say_why():
    ad = _adata(120)
    ad.obs["leiden"] = np.arange(120) % 7
    ad.obs["n_genes"] = np.arange(120)
    ad.obs["donor"] = "d1"
    assert categorical_columns(ad) == ["leiden"]
    report = label_column_report(ad)
    assert report["n_genes"] == "120 values (max 50)"
    assert report["donor"] == "only one value"
