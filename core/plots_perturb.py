"""Plotly figures of in-silico TF perturbations (pure functions of the Δ tables)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.plots import TEMPLATE

UP, DOWN = "#D62728", "#1F77B4"
_MARGIN = {"l": 40, "r": 20, "t": 50, "b": 40}


def top_genes_bar(table: pd.DataFrame, *, n: int = 15, title: str = "Top changed genes",
                  height: int = 420) -> go.Figure:
    """Horizontal bars of the ``n`` most up- and ``n`` most down-regulated genes (mean Δ)."""
    up = table[table["delta"] > 0].nlargest(n, "delta")
    down = table[table["delta"] < 0].nsmallest(n, "delta")
    shown = pd.concat([down, up]).sort_values("delta")
    colours = [UP if d > 0 else DOWN for d in shown["delta"]]
    fig = go.Figure(go.Bar(x=shown["delta"], y=shown["gene"], orientation="h",
                           marker_color=colours,
                           hovertemplate="%{y}: Δ %{x:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title=title, height=height, margin=_MARGIN,
                      xaxis_title="mean Δ (scaled expression)", yaxis={"automargin": True})
    return fig


def delta_heatmap(groups: pd.DataFrame, genes: list[str], *, height: int = 380) -> go.Figure:
    """Heatmap of mean Δ (groups × ``genes``), symmetric colour scale around 0."""
    sub = groups[genes]
    lim = float(abs(sub.to_numpy()).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=sub.to_numpy(), x=genes, y=[str(g) for g in sub.index],
                               colorscale="RdBu_r", zmin=-lim, zmax=lim,
                               colorbar={"title": "Δ"},
                               hovertemplate="%{y} · %{x}: Δ %{z:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title="Δ of the top genes per group", height=height,
                      margin=_MARGIN, xaxis={"tickangle": -45})
    return fig


def cascade_bar(cascade: pd.DataFrame, *, n: int = 20, height: int = 380) -> go.Figure:
    """Grouped bars of each TF's Δ after one (z₁) and two (z₂) TF→TF steps (top ``n`` by |Δz₂|)."""
    top = cascade.head(n)
    fig = go.Figure()
    for col, name, colour in (("dz1", "after 1 step (z₁)", "#9ECAE1"),
                              ("dz2", "after 2 steps (z₂)", "#3182BD")):
        fig.add_trace(go.Bar(x=top["tf"], y=top[col], name=name, marker_color=colour))
    fig.update_layout(template=TEMPLATE, title="TF cascade", barmode="group", height=height,
                      margin=_MARGIN, yaxis_title="mean Δ of TF unit",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return fig


def dose_curve(dose: pd.DataFrame, tf: str, gene: str, *, current: float | None = None,
               height: int = 340) -> go.Figure:
    """Mean predicted expression of ``gene`` as ``tf`` is set across its range."""
    fig = go.Figure(go.Scatter(x=dose["value"], y=dose["expression"], mode="lines+markers",
                               line={"color": "#4C78A8"}, name=gene))
    if current is not None:
        fig.add_vline(x=current, line_dash="dot", line_color="#888")
    fig.update_layout(template=TEMPLATE, title=f"Dose–response: {tf} → {gene}", height=height,
                      margin=_MARGIN, xaxis_title=f"{tf} (unit value)",
                      yaxis_title=f"{gene} (mean x̂, scaled)")
    return fig
