"""Stratified subsampling: the size is honoured and each label keeps its share."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.subsample import stratified_subsample


@pytest.mark.parametrize("size", [1, 7, 100, 999])
def test_size_is_honoured_and_sorted_unique(size):
    labels = np.repeat(["a", "b", "c"], [700, 250, 50])
    idx = stratified_subsample(1000, size, labels)
    assert len(idx) == size
    assert np.all(np.diff(idx) > 0)


def test_shares_are_kept():
    labels = np.repeat(["a", "b", "c", "rare"], [7000, 2500, 497, 3])
    idx = stratified_subsample(len(labels), 1000, labels, seed=1)
    got = {k: int((labels[idx] == k).sum()) for k in ("a", "b", "c", "rare")}
    assert got == {"a": 700, "b": 250, "c": 49, "rare": 1}


def test_whole_and_unlabelled():
    assert np.array_equal(stratified_subsample(10, 50), np.arange(10))
    idx = stratified_subsample(100, 10, seed=3)
    assert len(set(idx)) == 10
