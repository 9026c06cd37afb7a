"""Plotly figures of in-silico TF perturbations (pure functions of the Δ tables)."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.pl.style import TEMPLATE

UP, DOWN = "#D62728", "#1F77B4"
_MARGIN = {"l": 40, "r": 20, "t": 50, "b": 40}


def top_genes_bar(table: pd.DataFrame, *, n: int = 15, title: str = "Top changed genes",
                  height: int = 420, units: str = "scaled expression") -> go.Figure:
    """Horizontal bars of the ``n`` most up- and ``n`` most down-regulated genes (mean Δ);
    ``units`` names the axis (the Perturber's :attr:`units`)."""
    up = table[table["delta"] > 0].nlargest(n, "delta")
    down = table[table["delta"] < 0].nsmallest(n, "delta")
    shown = pd.concat([down, up]).sort_values("delta")
    colours = [UP if d > 0 else DOWN for d in shown["delta"]]
    fig = go.Figure(go.Bar(x=shown["delta"], y=shown["gene"], orientation="h",
                           marker_color=colours,
                           hovertemplate="%{y}: Δ %{x:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title=title, height=height, margin=_MARGIN,
                      xaxis_title=f"mean Δ ({units})", yaxis={"automargin": True})
    return fig


def delta_heatmap(groups: pd.DataFrame, genes: list[str], *, height: int = 380,
                  units: str = "scaled expression") -> go.Figure:
    """Heatmap of mean Δ (groups × ``genes``), symmetric colour scale around 0; the colour
    bar names the units of Δ, and every gene's label is drawn at a readable size."""
    sub = groups[genes]
    lim = float(abs(sub.to_numpy()).max()) or 1.0
    unit_title = "<br>".join(textwrap.wrap(f"Δ ({units})", 14))
    fig = go.Figure(go.Heatmap(z=sub.to_numpy(), x=genes, y=[str(g) for g in sub.index],
                               colorscale="RdBu_r", zmin=-lim, zmax=lim,
                               colorbar={"title": {"text": unit_title, "font": {"size": 11}}},
                               hovertemplate="%{y} · %{x}: Δ %{z:.4f}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, title="Δ of the top genes per group", height=height,
                      margin=_MARGIN, xaxis={"tickangle": -60, "tickfont": {"size": 12},
                                             "tickmode": "array", "tickvals": genes,
                                             "automargin": True},
                      yaxis={"tickfont": {"size": 12}, "automargin": True})
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
               height: int = 340, units: str = "scaled expression") -> go.Figure:
    """Mean predicted expression of ``gene`` (in ``units``) as ``tf`` is set across its
    range."""
    fig = go.Figure(go.Scatter(x=dose["value"], y=dose["expression"], mode="lines+markers",
                               line={"color": "#4C78A8"}, name=gene))
    if current is not None:
        fig.add_vline(x=current, line_dash="dot", line_color="#888")
    fig.update_layout(template=TEMPLATE, title=f"Dose–response: {tf} → {gene}", height=height,
                      margin=_MARGIN, xaxis_title=f"{tf} (unit value)",
                      yaxis_title=f"{gene}, mean x̂<br>({units})")
    return fig


def projection_scatter(baseline: np.ndarray, moved: np.ndarray, *, title: str = "",
                       height: int = 420) -> go.Figure:
    """All cells' UMAP in grey with the perturbed cells' projected positions on top in colour.

    ``baseline`` is every cell's UMAP (n × 2), ``moved`` the perturbed cells' projected UMAP
    positions (see :class:`core.analysis.embeddings.KnnProjector`).
    """
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=baseline[:, 0], y=baseline[:, 1], mode="markers",
                               name="unperturbed", hoverinfo="skip",
                               marker={"size": 3, "color": "#C8C8C8"}))
    fig.add_trace(go.Scattergl(x=moved[:, 0], y=moved[:, 1], mode="markers",
                               name=f"perturbed ({len(moved):,})",
                               marker={"size": 4, "color": UP, "opacity": 0.6}))
    fig.update_layout(template=TEMPLATE, title=title or "Perturbed cells in the UMAP",
                      height=height, margin=_MARGIN,
                      legend={"orientation": "h", "y": -0.02, "itemsizing": "constant"})
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return fig


def selected_cells(selection: Any) -> np.ndarray:
    """Cell indices of a plotly lasso/box selection (``event.selection`` of st.plotly_chart).

    Point indices are per trace when a scatter has one trace per category, so the figure
    must carry each cell's index as ``customdata`` (see :func:`with_cell_index`).
    """
    points = (selection or {}).get("points", []) if isinstance(selection, dict) else getattr(
        selection, "points", [])
    out = []
    for pt in points:
        cd = pt.get("customdata")
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            out.append(int(cd))
    return np.unique(np.asarray(out, dtype=np.int64))


def with_cell_index(fig: go.Figure, color: Any) -> go.Figure:
    """Set each trace's ``customdata`` to the cell indices it draws.

    For figures of :func:`core.pl.figures.embedding_scatter`: categorical colours give one trace per
    category in the order of the category names, so the cells of a trace are those whose
    colour equals the trace name.
    """
    cats = pd.Series(np.asarray(color)).astype(str).to_numpy()
    for trace in fig.data:
        if trace.name is not None and trace.name != "":
            trace.customdata = np.flatnonzero(cats == trace.name)
        else:
            trace.customdata = np.arange(len(cats))
    return fig
