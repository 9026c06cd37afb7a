"""Plotly figure builders: pure functions of arrays and DataFrames, no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"


def qc_histograms(qc: pd.DataFrame, *, counts_label: str = "Counts per cell") -> go.Figure:
    """Histograms of counts per cell and genes detected per cell, side by side.

    Parameters
    ----------
    qc
        Output of :func:`core.data.preprocess.qc_metrics`.
    counts_label
        Title of the first panel (e.g. "Total expression per cell" when X is not counts).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=(counts_label, "Genes detected per cell"))
    fig.add_trace(go.Histogram(x=qc["total_counts"], nbinsx=60, marker_color="#4C78A8",
                               name="counts"), row=1, col=1)
    fig.add_trace(go.Histogram(x=qc["n_genes_by_counts"], nbinsx=60, marker_color="#F58518",
                               name="genes"), row=1, col=2)
    fig.update_layout(template=TEMPLATE, showlegend=False, height=320, bargap=0.02,
                      margin=dict(l=40, r=20, t=40, b=40))
    fig.update_yaxes(title_text="cells", row=1, col=1)
    return fig


def category_bar(values: pd.Series, *, title: str) -> go.Figure:
    """Horizontal bar chart of category sizes (e.g. cells per label)."""
    counts = values.value_counts().sort_values()
    fig = go.Figure(go.Bar(x=counts.to_numpy(), y=counts.index.astype(str), orientation="h",
                           marker_color="#54A24B"))
    fig.update_layout(template=TEMPLATE, title=title, height=max(220, 22 * len(counts) + 80),
                      margin=dict(l=40, r=20, t=40, b=40), xaxis_title="cells")
    return fig


def line_curve(x: np.ndarray, y: np.ndarray, *, title: str, x_title: str,
               y_title: str) -> go.Figure:
    """A single line plot (e.g. a KL weight schedule)."""
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", line=dict(width=2)))
    fig.update_layout(template=TEMPLATE, title=title, height=260, xaxis_title=x_title,
                      yaxis_title=y_title, margin=dict(l=40, r=20, t=40, b=40))
    return fig
