"""Phenotype tables and gene features (issue 17): parsing, padding, a feature table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.phenotypes import (
    pad_sets,
    parse_set,
    read_feature_table,
    read_phenotypes,
)
from core.errors import DataError


def test_sets_parse_sorted_and_bad_rows_are_named():
    assert parse_set("KLF1+CEBPA") == parse_set("CEBPA, KLF1") == ("CEBPA", "KLF1")
    with pytest.raises(DataError, match="empty gene set"):
        parse_set(" + ")
    frame = pd.DataFrame({"genes": ["A", "A+B"], "fitness": ["0.1", "slow"]})
    with pytest.raises(DataError, match="must be numeric; row 2 holds 'slow'"):
        read_phenotypes(frame)


def test_table_as_anndata_and_fingerprint():
    table = read_phenotypes(pd.DataFrame({"genes": ["A", "B+A", "C"],
                                          "fitness": [0.1, -0.2, 0.3]}))
    adata = table.to_anndata()
    assert adata.shape == (3, 3) and list(adata.var_names) == ["A", "B", "C"]
    assert adata.X.toarray().tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    other = read_phenotypes(pd.DataFrame({"genes": ["A", "B+A", "C"],
                                          "fitness": [0.1, -0.2, 0.4]}))
    assert table.fingerprint() != other.fingerprint()


def test_pad_sets_masks_the_padding():
    genes, mask = pad_sets([(3,), (1, 2, 5)])
    assert genes.tolist() == [[3, 0, 0], [1, 2, 5]] and genes.dtype == np.int64
    assert mask.tolist() == [[1, 0, 0], [1, 1, 1]]


def test_feature_table_is_standardised(tmp_path):
    path = tmp_path / "features.csv"
    pd.DataFrame({"gene": ["A", "B"], "f1": [1.0, 2.0], "f2": [0.0, 1.0]}).to_csv(path,
                                                                                  index=False)
    feats = read_feature_table(path)
    assert feats.matrix[:, 0].tolist() == pytest.approx([-1.0, 1.0])
    matrix, missing = feats.lookup(["B", "Z"])
    assert missing == ["Z"] and matrix[1].tolist() == [0.0, 0.0]
