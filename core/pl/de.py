"""Figures of count models: the differential-expression volcano plot (pure plotly)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.pl.style import TEMPLATE


def de_volcano(table: pd.DataFrame, *, group1: str, group2: str, n_labels: int = 10,
               bayes_threshold: float = 3.0) -> go.Figure:
    """Volcano plot of a :func:`core.analysis.de.differential_expression` table.

    x = mean log₂ fold change (group 1 vs group 2), y = |log Bayes factor|; genes called DE
    (|BF| ≥ ``bayes_threshold``) in colour, the ``n_labels`` strongest labelled by name.
    """
    lfc = table["lfc_mean"].to_numpy()
    bf = table["bayes_factor"].abs().to_numpy()
    de = bf >= bayes_threshold
    up, down = de & (lfc > 0), de & (lfc < 0)
    fig = go.Figure()
    for mask, name, color in ((~de, "not DE", "#BBBBBB"), (up, f"up in {group1}", "#E45756"),
                              (down, f"up in {group2}", "#4C78A8")):
        fig.add_trace(go.Scattergl(
            x=lfc[mask], y=bf[mask], mode="markers", name=f"{name} ({int(mask.sum())})",
            marker={"color": color, "size": 6, "opacity": 0.8},
            text=table["gene"].to_numpy()[mask],
            hovertemplate="%{text}<br>LFC %{x:.2f}<br>|BF| %{y:.2f}<extra></extra>"))
    strongest = np.argsort(-(bf * np.abs(lfc)))[:n_labels]
    for i in strongest:
        if de[i]:
            fig.add_annotation(x=lfc[i], y=bf[i], text=str(table["gene"].iloc[i]),
                               showarrow=False, yshift=10, font={"size": 10})
    fig.add_hline(y=bayes_threshold, line_dash="dot", line_color="#888888")
    fig.update_layout(template=TEMPLATE, height=420,
                      title=f"Differential expression: {group1} vs {group2}",
                      xaxis_title=f"log₂ fold change ({group1} / {group2})",
                      yaxis_title="|log Bayes factor|",
                      showlegend=True,
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0,
                              "yanchor": "bottom"},
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig
