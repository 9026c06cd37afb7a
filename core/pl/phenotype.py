"""Figures of the DeepSet phenotype model (pure functions returning ``go.Figure``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.pl.style import TEMPLATE

MODEL_COLOR, ADDITIVE_COLOR, MF_COLOR = "#4C78A8", "#9AA5B1", "#F58518"
METHOD_TITLES = {"model": "DeepSet", "mean": "mean", "additive": "additive",
                 "additive_linear": "α + β·additive",
                 "ridge": "ridge on features", "mf": "additive + MF interaction"}


def _identity(fig: go.Figure, lo: float, hi: float) -> None:
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                             line=dict(color="#333", dash="dot", width=1), hoverinfo="skip"))


def _r(x: pd.Series, y: pd.Series) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def heldout_scatter(held: pd.DataFrame, *, value: str = "phenotype") -> go.Figure:
    """Held-out sets: predicted (DeepSet) and the additive expectation against measured.

    ``held`` is a run's ``heldout.csv`` (``genes``, ``measured``, ``predicted``, ``additive``).
    """
    fig = go.Figure()
    for col, name, color in (("additive", "additive expectation", ADDITIVE_COLOR),
                             ("predicted", "DeepSet", MODEL_COLOR)):
        r = _r(held["measured"], held[col])
        fig.add_trace(go.Scattergl(
            x=held["measured"], y=held[col], mode="markers", name=f"{name} (r = {r:.3f})",
            marker=dict(size=5, color=color, opacity=0.6), text=held["genes"],
            hovertemplate="%{text}<br>measured %{x:.3f}<br>" + name + " %{y:.3f}<extra></extra>"))
    values = held[["measured", "predicted", "additive"]].to_numpy(dtype=float)
    _identity(fig, float(np.nanmin(values)), float(np.nanmax(values)))
    fig.update_layout(template=TEMPLATE, height=460, title=f"Held-out sets: {value}",
                      xaxis_title=f"measured {value}", yaxis_title=f"predicted {value}",
                      margin=dict(l=50, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def interaction_scatter(held: pd.DataFrame) -> go.Figure:
    """Predicted vs measured interaction (each minus the measured additive expectation)."""
    sub = held.dropna(subset=["additive_measured"])
    measured = sub["measured"] - sub["additive_measured"]
    fig = go.Figure()
    for col, name, color in (("mf", "additive + MF", MF_COLOR), ("predicted", "DeepSet",
                                                                   MODEL_COLOR)):
        if col not in sub:
            continue
        pred = sub[col] - sub["additive_measured"]
        fig.add_trace(go.Scattergl(
            x=measured, y=pred, mode="markers", name=f"{name} (r = {_r(measured, pred):.3f})",
            marker=dict(size=5, color=color, opacity=0.6), text=sub["genes"],
            hovertemplate="%{text}<br>measured %{x:.3f}<br>predicted %{y:.3f}<extra></extra>"))
    if len(sub):
        lo, hi = float(measured.min()), float(measured.max())
        _identity(fig, lo, hi)
    fig.add_hline(y=0, line=dict(color="#bbb", width=1))
    fig.add_vline(x=0, line=dict(color="#bbb", width=1))
    fig.update_layout(template=TEMPLATE, height=460,
                      title="Held-out interactions (− additive): > 0 synergy, < 0 buffering",
                      xaxis_title="measured − additive", yaxis_title="predicted − additive",
                      margin=dict(l=50, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def interaction_heatmap(matrix: pd.DataFrame) -> go.Figure:
    """Clustered gene × gene heatmap of predicted interactions (diverging, centred at 0)."""
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) if matrix.size else 1.0
    fig = go.Figure(go.Heatmap(
        z=matrix.to_numpy(), x=matrix.columns, y=matrix.index, colorscale="RdBu_r",
        zmid=0, zmin=-limit, zmax=limit, colorbar=dict(title="interaction"),
        hovertemplate="%{y} + %{x}<br>interaction %{z:.3f}<extra></extra>"))
    side = max(420, min(1100, 9 * len(matrix) + 160))
    fig.update_layout(template=TEMPLATE, height=side, title="Predicted interactions, clustered",
                      xaxis=dict(tickfont=dict(size=7), showgrid=False),
                      yaxis=dict(tickfont=dict(size=7), autorange="reversed", showgrid=False),
                      margin=dict(l=80, r=20, t=50, b=80))
    return fig


def scores_bars(scores: dict[str, dict[str, float | None]]) -> go.Figure:
    """Held-out Pearson r of the phenotype and of the interaction, model beside baselines."""
    methods = [m for m in METHOD_TITLES if m in scores]
    fig = go.Figure()
    for key, name, color in (("pearson", "phenotype r", "#4C78A8"),
                             ("interaction_pearson", "interaction r", "#E45756")):
        vals = [scores[m].get(key) for m in methods]
        fig.add_trace(go.Bar(x=[METHOD_TITLES[m] for m in methods],
                             y=[np.nan if v is None else v for v in vals], name=name,
                             marker_color=color,
                             text=["—" if v is None else f"{v:.3f}" for v in vals],
                             textposition="outside"))
    fig.update_layout(template=TEMPLATE, height=360, barmode="group", yaxis_title="Pearson r",
                      yaxis_range=[min(0, *(v.get("pearson") or 0 for v in scores.values())),
                                   1.08], title="Held-out scores",
                      margin=dict(l=50, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig
