"""Plotly figures of perturbation validation (pure functions of the score tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.pl.style import TEMPLATE

_MARGIN = {"l": 50, "r": 20, "t": 60, "b": 50}
#: One colour per method, the model's strongest; baselines in muted tones.
METHOD_COLOURS = {"tfvae": "#D62728", "tfvae_prior": "#FF9896", "ridge": "#1F77B4",
                  "correlation": "#2CA02C", "propagation": "#9467BD", "no_change": "#7F7F7F",
                  "perturbation_mean": "#BCBD22"}


def winner_table(scores: pd.DataFrame, metric: str = "pearson_top50") -> pd.DataFrame:
    """Targets × methods of ``metric``, plus a ``winner`` column (the best method, ★ in
    the app), and a last row ``median`` over targets."""
    wide = scores.pivot(index="target", columns="method", values=metric)
    wide = wide[[m for m in scores["method"].drop_duplicates() if m in wide.columns]]
    wide.loc["median"] = wide.median()
    wide["winner"] = [str(row.idxmax()) if row.notna().any() else "—"
                      for _, row in wide.iterrows()]
    wide.index.name = "target"
    return wide.reset_index()


def scores_bar(scores: pd.DataFrame, metric: str = "pearson_top50", *,
               height: int = 380) -> go.Figure:
    """Grouped bars: ``metric`` per target (x) and method (colour)."""
    fig = go.Figure()
    for method, df in scores.groupby("method", sort=False):
        fig.add_trace(go.Bar(x=df["target"], y=df[metric], name=str(method),
                             marker_color=METHOD_COLOURS.get(str(method)),
                             hovertemplate=f"{method} · %{{x}}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, barmode="group", height=height, margin=_MARGIN,
                      title=f"{metric.replace('_', ' ')} per target (higher is better)",
                      yaxis_title=metric, legend={"orientation": "h", "y": 1.02,
                                                  "yanchor": "bottom", "x": 0})
    return fig


def predicted_vs_measured(per_gene: pd.DataFrame, target: str, methods: list[str], *,
                          top: int = 50, height: int = 460) -> go.Figure:
    """Scatter of each method's predicted Δ (y) against the measured log2 fold change (x)
    for one target; the ``top`` most-changed measured genes are drawn larger.

    Every method is on the same axes: predictions are log2 fold changes of normalised
    expression, so the y = x line is where a perfect prediction lies.
    """
    df = per_gene[per_gene["target"] == target]
    df = df[df["gene"] != target]
    big = np.zeros(len(df), bool)
    big[np.argsort(-df["observed"].abs().to_numpy(), kind="stable")[:top]] = True
    fig = go.Figure()
    for method in methods:
        if method not in df:
            continue
        fig.add_trace(go.Scattergl(
            x=df["observed"], y=df[method], mode="markers", name=method,
            text=df["gene"], marker={"size": np.where(big, 8, 4),
                                     "color": METHOD_COLOURS.get(method), "opacity": 0.7},
            hovertemplate=f"{method} · %{{text}}: measured %{{x:.3f}}, predicted %{{y:.3f}}"
                          "<extra></extra>"))
    lim = float(np.nanmax(np.abs(df[["observed", *[m for m in methods if m in df]]]
                                 .to_numpy()))) if len(df) else 1.0
    fig.add_trace(go.Scatter(x=[-lim, lim], y=[-lim, lim], mode="lines", name="y = x",
                             line={"color": "#BBBBBB", "dash": "dot"}, hoverinfo="skip"))
    fig.update_layout(template=TEMPLATE, height=height, margin=_MARGIN,
                      title=f"{target} knock-out: predicted vs measured (large: top {top})",
                      xaxis_title="measured log2 fold change",
                      yaxis_title="predicted log2 fold change")
    return fig
