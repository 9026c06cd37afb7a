"""Figures of the scGen prediction (pure functions of arrays and DataFrames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.analysis.scgen import LOWER_IS_BETTER, METHOD_TITLES, SCORE_TITLES
from core.pl.style import TEMPLATE

GROUP_COLORS = {"control": "#4C78A8", "real stimulated": "#E45756", "predicted": "#54A24B"}


def mean_scatter(genes: pd.DataFrame, *, r2_all: float, r2_top: float, holdout: str,
                 n_labels: int = 10, x: str = "mean_real", y: str = "mean_predicted",
                 x_title: str = "real stimulated (mean log expression)",
                 y_title: str = "predicted (mean log expression)") -> go.Figure:
    """Per-gene means, predicted vs real, as in scGen's figures (top DEGs red, best labelled).

    Parameters
    ----------
    genes
        The per-gene table of :func:`core.analysis.scgen.gene_table`.
    r2_all, r2_top
        Shown in the title.
    n_labels
        How many of the best-ranked DEGs get a text label.
    """
    top = genes[genes["is_top_deg"]]
    rest = genes[~genes["is_top_deg"]]
    labelled = genes.nsmallest(n_labels, "deg_rank")
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=rest[x], y=rest[y], mode="markers", name="other genes",
                               marker=dict(size=4, color="#9AA5B1", opacity=0.5),
                               text=rest["gene"], hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scattergl(x=top[x], y=top[y], mode="markers", name="top-100 DEGs",
                               marker=dict(size=6, color="#E45756"), text=top["gene"],
                               hovertemplate="%{text}<br>real %{x:.2f}, pred %{y:.2f}"
                                             "<extra></extra>"))
    fig.add_trace(go.Scatter(x=labelled[x], y=labelled[y], mode="text", text=labelled["gene"],
                             textposition="top center", showlegend=False,
                             textfont=dict(size=11), hoverinfo="skip"))
    hi = float(np.nanmax(genes[[x, y]].to_numpy())) if len(genes) else 1.0
    fig.add_trace(go.Scatter(x=[0, hi], y=[0, hi], mode="lines", name="y = x",
                             line=dict(color="#333", dash="dot", width=1)))
    fig.update_layout(
        template=TEMPLATE, height=480,
        title=f"{holdout}: R² all genes = {r2_all:.3f}, top-100 DEGs = {r2_top:.3f}",
        xaxis_title=x_title, yaxis_title=y_title, margin=dict(l=50, r=20, t=50, b=50),
        legend=dict(orientation="h", y=-0.18))
    return fig


def expression_violins(values: pd.DataFrame) -> go.Figure:
    """Violins per gene of control / predicted / real stimulated cells.

    ``values`` is long: columns ``gene``, ``group`` and ``expression``.
    """
    fig = go.Figure()
    for group in ("control", "predicted", "real stimulated"):
        part = values[values["group"] == group]
        if len(part):
            fig.add_trace(go.Violin(x=part["gene"], y=part["expression"], name=group,
                                    legendgroup=group, scalegroup=group, box_visible=True,
                                    meanline_visible=True, points=False,
                                    line_color=GROUP_COLORS[group]))
    fig.update_layout(template=TEMPLATE, violinmode="group", height=380,
                      yaxis_title="log expression", margin=dict(l=50, r=20, t=40, b=40),
                      title="Expression of chosen genes")
    return fig


def group_umap(embedding: np.ndarray, groups: np.ndarray, *, title: str) -> go.Figure:
    """2-D embedding coloured by group (control, real stimulated, predicted)."""
    fig = go.Figure()
    groups = np.asarray(groups).astype(str)
    for group, color in GROUP_COLORS.items():
        m = groups == group
        if m.any():
            fig.add_trace(go.Scattergl(x=embedding[m, 0], y=embedding[m, 1], mode="markers",
                                       name=group, marker=dict(size=5, color=color,
                                                               opacity=0.75)))
    fig.update_layout(template=TEMPLATE, height=440, title=title, xaxis_title="UMAP 1",
                      yaxis_title="UMAP 2", margin=dict(l=50, r=20, t=50, b=40))
    return fig


def scores_by_type(per_type: pd.DataFrame, *, metric: str = "r2_top100") -> go.Figure:
    """Grouped bars: one group per held-out type, one bar per method (scGen and baselines).

    ``metric`` is any score of :data:`~core.analysis.scgen.SCORE_TITLES`.
    """
    fig = go.Figure()
    colors = {"scgen": "#54A24B", "scgen_residual": "#72B7B2", "control_unchanged": "#9AA5B1",
              "mean_shift": "#F58518",
              "pca_delta": "#4C78A8"}
    for method, part in per_type.groupby("method", sort=False):
        fig.add_trace(go.Bar(x=part["holdout"], y=part[metric],
                             name=METHOD_TITLES.get(str(method), str(method)),
                             marker_color=colors.get(str(method))))
    label = SCORE_TITLES.get(metric, metric)
    # R² lies in [0, 1]; distances and the mixing ratio are unbounded above.
    bounded = metric not in LOWER_IS_BETTER and metric != "knn_mixing"
    fig.update_layout(template=TEMPLATE, barmode="group", height=400, yaxis_title=label,
                      yaxis_range=[0, 1] if bounded else None,
                      title=f"{label} per held-out cell type",
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.15))
    return fig
