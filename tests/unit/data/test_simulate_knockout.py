"""Simulator knock-outs (core.data.simulate.synthetic_grn(knockout=...))."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.simulate import synthetic_grn

ARGS = {"n_cells": 300, "n_tfs": 12, "n_genes": 16, "n_cell_types": 3, "seed": 4}


def test_knockout_keeps_draws_and_drops_own_expression():
    wild = synthetic_grn(**ARGS)
    sources = set(wild.tf2tf["source"])
    tf = sorted(sources)[0]                          # a TF with children in the DAG
    ko = synthetic_grn(**ARGS, knockout={tf: 0.0})
    k = list(wild.adata.var_names).index(tf)
    assert ko.network.equals(wild.network)          # same network, same cells
    assert (ko.adata.obs["cell_type"] == wild.adata.obs["cell_type"]).all()
    assert np.all(ko.activity[:, k] == 0.0)
    assert ko.mean[:, k].mean() < 0.5 * wild.mean[:, k].mean()
    child = list(wild.adata.var_names).index(
        wild.tf2tf.loc[wild.tf2tf["source"] == tf, "target"].iloc[0])
    assert not np.allclose(ko.activity[:, child], wild.activity[:, child])
    # An unknown TF is an error.
    with pytest.raises(ValueError):
        synthetic_grn(**ARGS, knockout={"NOPE": 0.0})


def test_knockout_of_tf_without_targets_changes_nothing_else():
    wild = synthetic_grn(**ARGS)
    tfs = list(wild.adata.uns["tf_names"])
    leaves = [t for t in tfs if t not in set(wild.network["source"])]
    assert leaves, "the small simulation should have a TF without targets"
    tf = leaves[0]
    k = tfs.index(tf)
    ko = synthetic_grn(**ARGS, knockout={tf: 0.0})
    others = np.delete(np.arange(wild.mean.shape[1]), k)
    # Every other TF's activity is bitwise the same ...
    np.testing.assert_array_equal(np.delete(ko.activity, k, 1), np.delete(wild.activity, k, 1))
    # ... and every other gene's expected count changes only by the cell's composition factor
    # (one ratio per cell), which total-count normalisation removes.
    ratio = ko.mean[:, others] / wild.mean[:, others]
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-10, atol=0)
    norm = lambda m: m[:, others] / m[:, others].sum(1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(norm(ko.mean), norm(wild.mean), rtol=1e-10)
    assert ko.mean[:, k].mean() < wild.mean[:, k].mean()
