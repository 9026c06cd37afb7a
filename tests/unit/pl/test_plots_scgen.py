"""scGen figures: titles carry the scores, top DEGs are labelled, one bar trace per method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.scgen import METHODS
from core.pl.scgen import expression_violins, group_umap, mean_scatter, scores_by_type


def test_mean_scatter_title_and_labels():
    genes = pd.DataFrame({"gene": [f"g{i}" for i in range(20)], "mean_real": np.arange(20.0),
                          "mean_predicted": np.arange(20.0) + 0.5, "deg_rank": np.arange(20)[::-1]})
    genes["is_top_deg"] = genes["deg_rank"] < 5
    fig = mean_scatter(genes, r2_all=0.9123, r2_top=0.8, holdout="CD4T", n_labels=3)
    assert "0.912" in fig.layout.title.text and "CD4T" in fig.layout.title.text
    labels = next(t for t in fig.data if t.mode == "text")
    assert list(labels.text) == ["g19", "g18", "g17"]


def test_scores_by_type_violins_and_umap():
    per_type = pd.DataFrame([{"holdout": t, "method": m, "r2_top100": 0.5, "r2_all": 0.6,
                              "r2_var": 0.1} for t in ("A", "B") for m in METHODS])
    assert len(scores_by_type(per_type).data) == len(METHODS)
    long = pd.DataFrame({"gene": ["x"] * 6, "group": ["control", "predicted",
                         "real stimulated"] * 2, "expression": np.arange(6.0)})
    assert len(expression_violins(long).data) == 3
    fig = group_umap(np.zeros((4, 2)), np.array(["control", "predicted", "predicted",
                                                  "real stimulated"]), title="t")
    assert [t.name for t in fig.data] == ["control", "real stimulated", "predicted"]
