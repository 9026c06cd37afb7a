"""Plotly figure builders: pure functions of arrays and DataFrames, no Streamlit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.subsample import stratified_subsample
from core.pl.style import TEMPLATE, TOP_MARGIN

#: Most cells one scatter draws. Plotly WebGL (``Scattergl``) stays interactive (pan/zoom
#: < 1 s) at this size in headless Chromium, while the figure JSON stays ≈ 5 MB
#: (benchmarks/embedding_view.py); larger data is drawn as a stratified sample of this size.
MAX_DRAWN = 100_000


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
                      margin=dict(l=40, r=20, t=TOP_MARGIN, b=40))
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


def history_curves(history: pd.DataFrame, *, terms: tuple[str, ...] | list[str] = (
        "train_recon", "train_kl"), beta: bool = True, height: int = 320,
        title: str | None = None) -> go.Figure:
    """Loss terms per epoch, each on its own y-axis scale, with β on a secondary axis.

    Reconstruction and KL live on very different scales, so each term gets a subplot row
    (shared epoch axis); β is drawn dashed on the right axis of the last row — the view used
    to diagnose KL collapse (KL → 0 while β rises) — when it changes over the epochs shown.
    A ``val_*`` term whose ``train_*`` partner is drawn is its dotted line, not a row of its
    own, and a term without values is left out (issue 21: the TF-VAE's live legend listed
    ``val_loss`` three times, and its first phases showed a flat β and no loss).
    """
    def has(t: str) -> bool:
        return t in history and bool(history[t].notna().any())

    wanted = list(terms)
    terms = [t for t in wanted if has(t)
             and not (t.startswith("val_") and t.replace("val_", "train_", 1) in wanted)]
    if not terms:   # e.g. a phase that logs other terms: draw its first training term
        terms = [c for c in history.columns if c.startswith("train_") and has(c)][:1]
    val_terms = {t: t.replace("train_", "val_") for t in terms}
    rows = max(1, len(terms))
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        specs=[[{"secondary_y": True}] for _ in range(rows)],
                        subplot_titles=[t.replace("train_", "") for t in terms] or None)
    x = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    if "phase" in history and history["phase"].nunique() > 1:
        x = np.arange(1, len(history) + 1)
    palette = ["#4C78A8", "#E45756", "#54A24B", "#B279A2"]
    for i, term in enumerate(terms, start=1):
        color = palette[(i - 1) % len(palette)]
        fig.add_trace(go.Scatter(x=x, y=history[term], mode="lines", name=f"{term}",
                                 line=dict(color=color, width=2)), row=i, col=1)
        vt = val_terms[term]
        if vt != term and has(vt):
            fig.add_trace(go.Scatter(x=x, y=history[vt], mode="lines", name=vt,
                                     line=dict(color=color, width=1.5, dash="dot")),
                          row=i, col=1)
        if beta and "beta" in history and history["beta"].nunique() > 1 and i == rows:
            fig.add_trace(go.Scatter(x=x, y=history["beta"], mode="lines", name="β",
                                     line=dict(color="#777", dash="dash")),
                          row=i, col=1, secondary_y=True)
            fig.update_yaxes(title_text="β", row=i, col=1, secondary_y=True,
                             exponentformat="power", showgrid=False)
    fig.update_xaxes(title_text="epoch", row=rows, col=1)
    fig.update_layout(template=TEMPLATE, height=height * rows if rows > 1 else height,
                      margin=dict(l=50, r=50, t=40, b=40), title=title,
                      legend=dict(orientation="h", y=-0.15))
    return fig


def embedding_scatter(coords: np.ndarray, color: pd.Series | np.ndarray, *, title: str,
                      hover: pd.DataFrame | None = None, color_name: str = "",
                      height: int = 480, point_size: float = 3.0,
                      max_points: int | None = None) -> go.Figure:
    """2-D scatter (WebGL) of cells coloured by a category or a continuous value.

    Parameters
    ----------
    coords
        Cells × 2 (e.g. a UMAP).
    color
        One value per cell; categorical (strings/categories) gets one trace per category,
        numeric a colour bar.
    hover
        Per-cell columns shown on hover (e.g. labels).
    max_points
        Draw at most this many cells (default :data:`MAX_DRAWN`): a sample stratified by the
        colour's categories (uniform for a numeric colour), so every category stays visible.
    """
    cap = MAX_DRAWN if max_points is None else int(max_points)
    color = pd.Series(np.asarray(color), name=color_name)
    hover = hover if hover is not None else pd.DataFrame(index=range(len(color)))
    hover = hover.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(color) and color.nunique() > 20
    if len(color) > cap:
        keep = stratified_subsample(len(color), cap, None if numeric else color.astype(str))
        coords, color = np.asarray(coords)[keep], color.iloc[keep].reset_index(drop=True)
        hover = hover.iloc[keep].reset_index(drop=True)
    hover_text = None
    if len(hover.columns):  # vectorised: a row-wise apply took ~10 s at 100,000 cells
        parts = [f"{k}: " + hover[k].astype(str) for k in hover.columns]
        hover_text = parts[0].str.cat(parts[1:], sep="<br>").to_numpy()
    fig = go.Figure()
    if numeric:
        fig.add_trace(go.Scattergl(
            x=coords[:, 0], y=coords[:, 1], mode="markers", text=hover_text,
            hovertemplate="%{text}<extra></extra>" if hover_text is not None else None,
            marker=dict(size=point_size, color=color.to_numpy(dtype=float),
                        colorscale="Viridis", colorbar=dict(title=color_name, thickness=12))))
    else:
        cats = color.astype(str)
        order = sorted(cats.unique(), key=lambda c: (-int((cats == c).sum()), c))
        palette = (["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B",
                    "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC"] * 10)
        for i, cat in enumerate(order[:60]):
            m = (cats == cat).to_numpy()
            fig.add_trace(go.Scattergl(
                x=coords[m, 0], y=coords[m, 1], mode="markers", name=cat,
                text=hover_text[m] if hover_text is not None else None,
                hovertemplate="%{text}<extra></extra>" if hover_text is not None else None,
                marker=dict(size=point_size, color=palette[i])))
    # The title sits just above the plot, below the toolbar (long titles ran under it).
    fig.update_layout(template=TEMPLATE, height=height,
                      title=dict(text=title, yref="paper", y=1, yanchor="bottom",
                                 pad=dict(b=8)),
                      margin=dict(l=10, r=10, t=TOP_MARGIN, b=10),
                      legend=dict(itemsizing="constant", font=dict(size=10)))
    fig.update_xaxes(showticklabels=False, title_text="UMAP 1")
    fig.update_yaxes(showticklabels=False, title_text="UMAP 2")
    return fig


def metrics_bars(table: pd.DataFrame, *, names: tuple[str, str] = ("vae", "pca"),
                 labels: tuple[str, str] = ("VAE latent", "PCA"), title: str = "") -> go.Figure:
    """Grouped bars of clustering metrics (rows of :func:`core.analysis.metrics.metrics_table`)."""
    fig = go.Figure()
    for name, label, color in zip(names, labels, ("#4C78A8", "#BAB0AC")):
        err = table.get(f"{name} ± sd")
        fig.add_trace(go.Bar(x=table["metric"], y=table[name], name=label, marker_color=color,
                             error_y=dict(type="data", array=err) if err is not None else None))
    fig.update_layout(template=TEMPLATE, barmode="group", height=320, title=title,
                      yaxis_title="score", margin=dict(l=40, r=20, t=40, b=40))
    return fig
