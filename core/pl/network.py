"""Plotly figures of the learned TF network (pure functions of edge tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.pl.style import TEMPLATE

POSITIVE, NEGATIVE = "#D62728", "#1F77B4"  # activation red, repression blue


def weight_histograms(edges: pd.DataFrame, *, bins: int = 60) -> go.Figure:
    """One histogram of edge weights per layer (TF→TF, TF→gene)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("TF→TF weights", "TF→gene weights"))
    for col, layer in enumerate(("tf2tf", "tf2gene"), start=1):
        w = edges.loc[edges["layer"] == layer, "weight"]
        fig.add_trace(go.Histogram(x=w, nbinsx=bins, marker_color="#4C78A8", name=layer),
                      row=1, col=col)
        fig.update_xaxes(title_text="weight", row=1, col=col)
    fig.update_yaxes(title_text="edges", row=1, col=1)
    fig.update_layout(template=TEMPLATE, showlegend=False, height=300, bargap=0.02,
                      margin={"l": 40, "r": 20, "t": 40, "b": 40})
    return fig


def neighbourhood_figure(edges: pd.DataFrame, tf: str, *, tf_names: set[str] | None = None,
                         seed: int = 0, height: int = 560,
                         node_values: dict[str, float] | None = None,
                         value_name: str = "value", title: str | None = None) -> go.Figure:
    """Interactive graph of the given edges around ``tf``.

    Node size grows with out-degree (within ``edges``); TFs are diamonds, genes circles, the
    chosen TF is highlighted (thick outline when ``node_values`` colour the nodes: then each
    node's colour is its value on a diverging scale centred at 0, e.g. a TF's Δz₂). Edge
    colour is the sign (red activation, blue repression), edge
    opacity the |weight|. Edges are drawn as two line traces (one per sign), so thousands of
    edges stay responsive.
    """
    import networkx as nx

    tf_names = tf_names or set(edges["source"])
    g = nx.DiGraph()
    g.add_node(tf)
    g.add_edges_from(zip(edges["source"], edges["target"]))
    n = g.number_of_nodes()
    if n <= 1:
        pos = {tf: np.zeros(2)}
    else:
        pos = nx.spring_layout(g, seed=seed, k=1.5 / np.sqrt(n), iterations=50 if n < 500
                               else 20)
    fig = go.Figure()
    max_w = float(edges["weight"].abs().max()) if len(edges) else 1.0
    for sign, colour, name in ((1, POSITIVE, "activation"), (-1, NEGATIVE, "repression")):
        sub = edges[np.sign(edges["weight"]) == sign]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for s, t in zip(sub["source"], sub["target"]):
            xs += [pos[s][0], pos[t][0], None]
            ys += [pos[s][1], pos[t][1], None]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                                   line={"color": colour, "width": 1.2}, opacity=0.55))
    out_deg = dict(g.out_degree())
    nodes = list(g.nodes)
    size = np.array([8 + 3 * np.sqrt(out_deg.get(v, 0)) for v in nodes])
    is_tf = np.array([v in tf_names for v in nodes])
    colour = np.where(np.array(nodes) == tf, "#FF7F0E", np.where(is_tf, "#54A24B", "#9D9D9D"))
    hover = [f"{v}<br>{'TF' if v in tf_names else 'gene'} · out-degree {out_deg.get(v, 0)}"
             for v in nodes]
    marker = {"size": size, "color": colour, "symbol": np.where(is_tf, "diamond", "circle"),
              "line": {"width": 0.5, "color": "#333"}}
    if node_values is not None:
        vals = np.array([float(node_values.get(v, 0.0)) for v in nodes])
        lim = float(np.abs(vals).max()) or 1.0
        hover = [f"{h}<br>{value_name} {x:+.4g}" for h, x in zip(hover, vals)]
        marker.update(color=vals, colorscale="RdBu_r", cmin=-lim, cmax=lim,
                      colorbar={"title": value_name, "thickness": 12},
                      line={"width": np.where(np.array(nodes) == tf, 3.0, 0.5), "color": "#333"})
    show_labels = len(nodes) <= 60
    fig.add_trace(go.Scatter(
        x=[pos[v][0] for v in nodes], y=[pos[v][1] for v in nodes],
        mode="markers+text" if show_labels else "markers", text=nodes if show_labels else None,
        textposition="top center", hovertext=hover, hoverinfo="text", name="nodes",
        marker=marker, showlegend=False))
    fig.update_layout(template=TEMPLATE, height=height, title=title or f"Neighbourhood of {tf} "
                      f"({len(edges)} edges, max |w| {max_w:.3g})",
                      xaxis={"visible": False}, yaxis={"visible": False},
                      legend={"orientation": "h", "y": -0.02},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def neighbourhood_edges(edges: pd.DataFrame, tf: str, *, max_edges: int = 2000) -> pd.DataFrame:
    """Edges touching ``tf`` plus the edges among its TF neighbours, strongest first, capped."""
    direct = edges[(edges["source"] == tf) | (edges["target"] == tf)]
    neighbours = set(direct["source"]) | set(direct["target"])
    among = edges[edges["source"].isin(neighbours) & edges["target"].isin(neighbours)
                  & (edges["layer"] == "tf2tf")]
    out = pd.concat([direct, among]).drop_duplicates(["source", "target", "layer"])
    order = np.argsort(-out["weight"].abs().to_numpy(), kind="stable")
    return out.iloc[order[:max_edges]].reset_index(drop=True)
