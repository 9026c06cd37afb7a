"""The layered neighbourhood layout and its labels (issue 21, item 6)."""

from __future__ import annotations

import pandas as pd

from core.pl.network import layered_layout, neighbourhood_figure


def _edges() -> pd.DataFrame:
    rows = [("R", "A", 0.5, "tf2tf"), ("A", "B", 0.9, "tf2tf"), ("B", "C", 0.4, "tf2tf"),
            ("A", "g1", 1.5, "tf2gene"), ("A", "g2", -0.1, "tf2gene"),
            ("B", "g3", 0.3, "tf2gene")]
    return pd.DataFrame(rows, columns=["source", "target", "weight", "layer"])


def test_columns_follow_regulators_tf_targets_genes():
    pos = layered_layout(_edges(), "A", {"R", "A", "B", "C"})
    x = {v: p[0] for v, p in pos.items()}
    assert x["R"] < x["A"] < x["B"] < x["C"] < x["g1"] == x["g2"] == x["g3"]
    assert pos["g1"][1] > pos["g3"][1] > pos["g2"][1]          # strongest on top


def test_only_the_strongest_edges_are_labelled():
    fig = neighbourhood_figure(_edges(), "A", tf_names={"R", "A", "B", "C"}, n_labels=1)
    nodes = fig.data[-1]
    labelled = {t for t in nodes.text if t}
    assert labelled == {"A", "g1", "R", "B", "C"}          # TFs always, genes of top edges
    assert len(nodes.text) == 7
