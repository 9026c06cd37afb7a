"""Plotly figures of the learned TF network (pure functions of edge tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.pl.style import TEMPLATE, TOP_MARGIN

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
                      margin={"l": 40, "r": 20, "t": TOP_MARGIN, "b": 40})
    return fig


def layered_layout(edges: pd.DataFrame, tf: str, tf_names: set[str]) -> dict[str, np.ndarray]:
    """Columns left to right: ``tf``'s TF regulators, ``tf``, then TFs by their TF→TF distance
    from ``tf`` (1, 2, …), then every gene; inside a column the strongest node is on top.

    The TF→TF→gene reading of the decoder, as a layout (issue 21: a spring layout of a hub TF
    was a hairball).
    """
    import networkx as nx

    g = nx.DiGraph()
    g.add_node(tf)
    g.add_edges_from(zip(edges["source"], edges["target"]))
    tf_graph = g.subgraph([v for v in g if v in tf_names or v == tf])
    depth = nx.single_source_shortest_path_length(tf_graph, tf)
    strength = pd.concat([edges.assign(node=edges["source"]), edges.assign(node=edges["target"])]
                         ).assign(w=lambda d: d["weight"].abs()).groupby("node")["w"].max()
    last = max(depth.values(), default=0) + 1
    direct = set(edges.loc[edges["source"] == tf, "target"])
    upstream = set(edges.loc[edges["target"] == tf, "source"]) - direct - {tf}
    column = {v: -1 if v in upstream else depth.get(v, -1) if (v in tf_names or v == tf)
              else last for v in g}
    pos: dict[str, np.ndarray] = {}
    for x in sorted(set(column.values())):
        members = sorted((v for v in g if column[v] == x),
                         key=lambda v: (-float(strength.get(v, 0.0)), v))
        ys = np.linspace(1.0, -1.0, len(members)) if len(members) > 1 else [0.0]
        pos.update({v: np.array([float(x), float(y)]) for v, y in zip(members, ys)})
    return pos


def _spring(edges: pd.DataFrame, tf: str, seed: int) -> dict[str, np.ndarray]:
    import networkx as nx

    g = nx.DiGraph()
    g.add_node(tf)
    g.add_edges_from(zip(edges["source"], edges["target"]))
    n = g.number_of_nodes()
    if n <= 1:
        return {tf: np.zeros(2)}
    return nx.spring_layout(g, seed=seed, k=1.5 / np.sqrt(n), iterations=50 if n < 500 else 20)


def _labelled(edges: pd.DataFrame, tf: str, n_labels: int, tf_names: set[str]) -> set[str]:
    """``tf``, every TF, and the ends of the ``n_labels`` strongest edges (by |weight|)."""
    order = np.argsort(-edges["weight"].abs().to_numpy(), kind="stable")[:n_labels]
    top = edges.iloc[order]
    nodes = set(edges["source"]) | set(edges["target"])
    return {tf, *top["source"], *top["target"], *(nodes & tf_names)}


def neighbourhood_figure(edges: pd.DataFrame, tf: str, *, tf_names: set[str] | None = None,
                         seed: int = 0, height: int = 560,
                         node_values: dict[str, float] | None = None,
                         value_name: str = "value", title: str | None = None,
                         layout: str = "layered", n_labels: int = 12) -> go.Figure:
    """Interactive graph of the given edges around ``tf``.

    ``layout="layered"`` (default) places regulators → ``tf`` → its TF targets → genes in
    columns (:func:`layered_layout`); ``"spring"`` is a force layout. Node size grows with
    out-degree (within ``edges``); TFs are diamonds, genes circles, the chosen TF is
    highlighted (thick outline when ``node_values`` colour the nodes: then each
    node's colour is its value on a diverging scale centred at 0, e.g. a TF's Δz₂). Only
    ``tf``, the TFs and the ends of the ``n_labels`` strongest edges carry a text label (every
    node has a hover label), so a dense neighbourhood stays readable. Edge colour is the sign (red
    activation, blue repression); edges of the top quarter of |weight| are drawn thicker.
    Edges are line traces (per sign and strength), so thousands of edges stay responsive.
    """
    tf_names = tf_names or set(edges["source"])
    pos = (layered_layout(edges, tf, tf_names) if layout == "layered"
           else _spring(edges, tf, seed))
    fig = go.Figure()
    max_w = float(edges["weight"].abs().max()) if len(edges) else 1.0
    strong = float(edges["weight"].abs().quantile(0.75)) if len(edges) else 0.0
    for sign, colour, name in ((1, POSITIVE, "activation"), (-1, NEGATIVE, "repression")):
        for is_strong in (True, False):
            sub = edges[(np.sign(edges["weight"]) == sign)
                        & ((edges["weight"].abs() >= strong) == is_strong)]
            xs: list[float | None] = []
            ys: list[float | None] = []
            for s, t in zip(sub["source"], sub["target"]):
                xs += [pos[s][0], pos[t][0], None]
                ys += [pos[s][1], pos[t][1], None]
            fig.add_trace(go.Scattergl(
                x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                legendgroup=name, showlegend=bool(len(sub)) and (
                    is_strong or not ((np.sign(edges["weight"]) == sign)
                                      & (edges["weight"].abs() >= strong)).any()),
                line={"color": colour, "width": 2.4 if is_strong else 0.8},
                opacity=0.75 if is_strong else 0.3))
    out_deg = edges["source"].value_counts().to_dict()
    nodes = list(pos)
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
    labelled = _labelled(edges, tf, n_labels, tf_names) if len(edges) else {tf}
    fig.add_trace(go.Scatter(
        x=[pos[v][0] for v in nodes], y=[pos[v][1] for v in nodes], mode="markers+text",
        text=[v if v in labelled else "" for v in nodes], textposition="middle right"
        if layout == "layered" else "top center", hovertext=hover, hoverinfo="text",
        name="nodes", marker=marker, showlegend=False, cliponaxis=False))
    xaxis = {"visible": False}
    if layout == "layered" and len(pos) > 1:
        xs_all = [p[0] for p in pos.values()]
        xaxis = {"visible": False, "range": [min(xs_all) - 0.3, max(xs_all) + 0.6]}
    fig.update_layout(template=TEMPLATE, height=height, title=title or f"Neighbourhood of {tf} "
                      f"({len(edges)} edges, max |w| {max_w:.3g})",
                      xaxis=xaxis, yaxis={"visible": False},
                      legend={"orientation": "h", "y": -0.02},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    if layout == "layered":
        fig.add_annotation(text="regulators → TF → TF targets → genes (strongest on top)",
                           xref="paper", yref="paper", x=0, y=1.0, showarrow=False,
                           font={"size": 11, "color": "#666"}, xanchor="left",
                           yanchor="bottom")
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
