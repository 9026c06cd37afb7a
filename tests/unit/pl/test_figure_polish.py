"""Issue 21, item 9: figure details a new user tripped over."""

from __future__ import annotations

import pandas as pd

from core.pl.figures import history_curves, qc_histograms
from core.pl.network import weight_histograms
from core.pl.perturb import delta_heatmap
from core.pl.style import TOP_MARGIN


def test_right_hand_subplot_titles_sit_below_the_toolbar():
    edges = pd.DataFrame({"source": ["A", "A"], "target": ["B", "g"], "weight": [0.2, -0.1],
                          "layer": ["tf2tf", "tf2gene"]})
    qc = pd.DataFrame({"total_counts": [1.0, 2.0], "n_genes_by_counts": [1, 2]})
    for fig in (weight_histograms(edges), qc_histograms(qc, counts_label="counts")):
        assert fig.layout.margin.t >= TOP_MARGIN >= 60


def test_tfvae_live_legend_names_each_term_once_and_skips_a_flat_beta():
    hist = pd.DataFrame({"epoch": [1, 2, 3], "phase": "encoder", "beta": 1.0,
                         "train_loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.9]})
    names = [t.name for t in history_curves(hist, terms=("train_loss", "val_loss")).data]
    assert names == ["train_loss", "val_loss"]


def test_heatmap_names_units_and_every_gene_readably():
    groups = pd.DataFrame({"G1": [0.1, -0.2], "G2": [0.0, 0.3]}, index=["T", "B"])
    fig = delta_heatmap(groups, ["G1", "G2"], units="log2 normalised expression per 10k")
    assert "log2" in fig.data[0].colorbar.title.text
    assert fig.layout.xaxis.tickfont.size >= 12 and list(fig.layout.xaxis.tickvals) == ["G1", "G2"]
