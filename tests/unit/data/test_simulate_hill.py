"""The Hill-kinetics simulator family: loops, decoupled TFs, knock-outs and the screen."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.simulate_hill import hill_grn, knockout_screen

SMALL = {"n_cells": 200, "n_tfs": 12, "n_genes": 80}


def test_structure_loops_and_decoupled_tfs():
    sim = hill_grn(**SMALL, feedback=1.0, decoupled=1.0, seed=3)
    ad = sim.adata
    assert ad.shape == (200, 80) and list(ad.uns["tf_names"][:2]) == ["TF01", "TF02"]
    order = {t: i for i, t in enumerate(ad.uns["tf_names"])}
    back = sim.tf2tf[[order[s] > order[t] for s, t in zip(sim.tf2tf.source, sim.tf2tf.target)]]
    assert len(back) > 0                                    # at least one feedback edge
    assert len(ad.uns["decoupled_tfs"]) == 12 - 2           # every non-master TF
    again = hill_grn(**SMALL, feedback=1.0, decoupled=1.0, seed=3)
    assert (again.adata.X != ad.X).nnz == 0                 # deterministic


def test_decoupled_activity_is_not_the_mrna():
    sim = hill_grn(**SMALL, decoupled=1.0, seed=1)
    mrna_share = sim.mean[:, :12] / sim.mean[:, :12].sum(1, keepdims=True)
    tf = 5
    r = np.corrcoef(sim.activity[:, tf], mrna_share[:, tf])[0, 1]
    assert r < 0.9


def test_knockout_moves_the_targets_only_downstream():
    wild = hill_grn(**SMALL, seed=2)
    src = wild.tf2gene["source"].value_counts().index[0]
    ko = hill_grn(**SMALL, seed=2, knockout={src: 0.0})
    assert (ko.activity[:, list(wild.adata.uns["tf_names"]).index(src)] == 0).all()
    targets = wild.tf2gene.loc[wild.tf2gene.source == src, "target"]
    cols = [list(wild.adata.var_names).index(g) for g in targets]
    lfc = np.log2(ko.mean[:, cols].mean(0) / wild.mean[:, cols].mean(0))
    assert np.abs(lfc).max() > 0.3
    with pytest.raises(ValueError, match="unknown TFs"):
        hill_grn(**SMALL, knockout={"TF99": 0.0})


def test_knockout_screen_labels():
    screen = knockout_screen(hill_grn, ["TF05", "TF06"], n_ko_cells=50, **SMALL)
    counts = screen.obs["perturbation"].value_counts()
    assert counts["control"] == 200 and counts["TF05"] == 50 and counts["TF06"] == 50
    assert screen.obs_names.is_unique and "true_network" in screen.uns
