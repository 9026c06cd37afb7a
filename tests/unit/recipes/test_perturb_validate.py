"""The cell and target choices of :mod:`core.recipes.perturb_validate` (no training)."""

from __future__ import annotations

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from core.errors import ConfigError, DataError
from core.recipes.perturb_validate import scoreable_targets, screen_counts, train_cells

LABELS = np.array(["ctrl", "A", "A", "B", "C", "ctrl", "B"])


def test_train_cells_all_but_scored_and_control():
    strict = train_cells(LABELS, "ctrl", ["A", "B"], "all-but-scored")
    assert strict.tolist() == [True, False, False, False, True, True, False]
    only = train_cells(LABELS, "ctrl", ["A"], "control")
    assert only.tolist() == [True, False, False, False, False, True, False]
    with pytest.raises(ConfigError, match="train_on must be one of"):
        train_cells(LABELS, "ctrl", ["A"], "everything")


def test_scoreable_targets_are_perturbations_that_are_units():
    assert scoreable_targets(LABELS, "ctrl", ["A", "C", "Z"]) == ["A", "C"]
    assert scoreable_targets(LABELS, "ctrl", ["A", "C"], ["C"]) == ["C"]
    with pytest.raises(DataError, match="'B' is not a TF unit of this model; targets that can "
                                        "be scored: A, C"):
        scoreable_targets(LABELS, "ctrl", ["A", "C"], ["B"])
    with pytest.raises(DataError, match="none can be scored"):
        scoreable_targets(LABELS, "ctrl", ["Z"])


def test_screen_counts_refuses_normalised_values():
    counts = anndata.AnnData(X=sp.csr_matrix(np.array([[1.0, 0.0], [3.0, 2.0]])))
    assert screen_counts(counts).sum() == 6.0
    scaled = anndata.AnnData(X=np.array([[0.5, -1.2], [1.1, 0.3]]))
    with pytest.raises(DataError, match="needs raw counts"):
        screen_counts(scaled)
