"""Figures of a benchmark table (:func:`core.recipes.benchmark.run_benchmark`): the scIB-style
table and per-metric bars. Pure functions returning ``go.Figure``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.benchmark import AGGREGATES, METRIC_TITLES, best_per_column
from core.pl.style import TEMPLATE


def _title(method: str, titles: dict[str, str] | None) -> str:
    return (titles or {}).get(method, method)


def scib_table(table: pd.DataFrame, columns: Sequence[str], *,
               titles: dict[str, str] | None = None) -> go.Figure:
    """scIB-style results table: methods × metrics, each column coloured from its worst
    (light) to its best (dark) method, values as ``mean ± sd``, the best per column in bold
    with a ★; rows sorted by the last aggregate present (total, else bio conservation).

    Parameters
    ----------
    table
        :attr:`~core.recipes.benchmark.BenchmarkResult.table` (index = method; ``<m>`` and
        ``<m>_sd`` columns).
    columns
        Metric columns to show, in order.
    titles
        Display name per method.
    """
    cols = [c for c in columns if c in table.columns and table[c].notna().any()]
    sort_by = next((a for a in ("total", "bio_conservation") if a in cols), cols[-1])
    tab = table.sort_values(sort_by, ascending=True)  # heatmap rows draw bottom-up
    best = best_per_column(tab, cols)
    z = np.full((len(tab), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in range(len(tab))]
    for j, c in enumerate(cols):
        vals = tab[c].to_numpy(dtype=float)
        lo, hi = np.nanmin(vals), np.nanmax(vals)
        z[:, j] = (vals - lo) / (hi - lo) if hi > lo else 1.0
        sds = tab.get(f"{c}_sd", pd.Series(np.nan, index=tab.index)).to_numpy(dtype=float)
        for i, (method, v, sd) in enumerate(zip(tab.index, vals, sds)):
            cell = "—" if np.isnan(v) else f"{v:.3f}" + ("" if np.isnan(sd) or sd == 0
                                                         else f" ± {sd:.3f}")
            text[i][j] = f"<b>★ {cell}</b>" if best.get(c) == method else cell
    x = [("<b>" + METRIC_TITLES.get(c, c) + "</b>") if c in AGGREGATES
         else METRIC_TITLES.get(c, c) for c in cols]
    fig = go.Figure(go.Heatmap(z=z, x=x, y=[_title(m, titles) for m in tab.index], text=text,
                               texttemplate="%{text}", colorscale="Purples", zmin=-0.3, zmax=1.2,
                               showscale=False, xgap=2, ygap=2, hoverinfo="skip"))
    fig.update_layout(template=TEMPLATE, height=90 + 42 * len(tab),
                      width=max(700, 118 * len(cols) + 170),
                      margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      title="scIB metrics (★ best per column; unscaled, higher is better)")
    fig.update_xaxes(side="top", tickangle=-30)
    return fig


def metric_bars(table: pd.DataFrame, columns: Sequence[str], *,
                titles: dict[str, str] | None = None, n_cols: int = 4) -> go.Figure:
    """One bar panel per metric: the mean per method with its sd across seeds."""
    cols = [c for c in columns if c in table.columns and table[c].notna().any()]
    n_rows = int(np.ceil(len(cols) / n_cols))
    fig = make_subplots(rows=n_rows, cols=n_cols, vertical_spacing=0.18 / max(1, n_rows - 1)
                        if n_rows > 1 else 0.1,
                        subplot_titles=[METRIC_TITLES.get(c, c) for c in cols])
    names = [_title(m, titles) for m in table.index]
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692",
               "#b6e880"]
    colors = [palette[i % len(palette)] for i in range(len(names))]
    for k, c in enumerate(cols):
        sd = table[f"{c}_sd"] if f"{c}_sd" in table.columns else None
        fig.add_trace(go.Bar(x=names, y=table[c], marker_color=colors, showlegend=False,
                             error_y=None if sd is None else {"type": "data", "array": sd},
                             hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
                      row=k // n_cols + 1, col=k % n_cols + 1)
    fig.update_xaxes(showticklabels=False)
    for name, color in zip(names, colors):  # a legend of methods, once
        fig.add_trace(go.Bar(x=[None], y=[None], name=name, marker_color=color), row=1, col=1)
    fig.update_layout(template=TEMPLATE, height=260 * n_rows + 60, barmode="group",
                      margin={"l": 40, "r": 10, "t": 50, "b": 20},
                      legend={"orientation": "h", "y": -0.05})
    return fig
