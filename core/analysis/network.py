"""The learned TF network as tables: edges, summaries, prior overlap, centralities, GraphML.

Every function takes and returns DataFrames. The edge table has columns ``source, target,
weight, sign, layer (tf2tf | tf2gene), in_prior``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

EDGE_COLUMNS = ["source", "target", "weight", "sign", "layer", "in_prior"]
LAYERS = ("tf2tf", "tf2gene")


def _prior_pairs(prior: pd.DataFrame | None) -> set[tuple[str, str]]:
    if prior is None or prior.empty:
        return set()
    return set(zip(prior["source"].astype(str), prior["target"].astype(str)))


def edges_from_module(module: Any, prior: pd.DataFrame | None = None) -> pd.DataFrame:
    """The surviving edges of a :class:`~core.models.tfvae.TFVAE`.

    Parameters
    ----------
    module
        A TF-VAE (masks and weights are read on the CPU).
    prior
        Optional prior table (``source, target``) used to fill ``in_prior``.

    Returns
    -------
    pandas.DataFrame
        One row per unmasked weight; TF→own-gene self edges are left out. Sorted by layer,
        then by decreasing |weight|.
    """
    tfs = np.asarray(module.tf_names, dtype=object)
    genes = np.asarray(module.gene_names, dtype=object)
    tt_mask = module.tf2tf.mask.detach().cpu().numpy() > 0
    tt_w = module.tf2tf.weight.detach().cpu().numpy()
    tg_mask = (module.tf2gene.mask.detach().cpu().numpy() > 0) & (
        module.self_edge_mask().numpy() == 0)
    tg_w = module.tf2gene.weight.detach().cpu().numpy()
    frames = []
    for layer, mask, w, targets in (("tf2tf", tt_mask, tt_w, tfs), ("tf2gene", tg_mask, tg_w,
                                                                    genes)):
        rows, cols = np.nonzero(mask)
        frames.append(pd.DataFrame({"source": tfs[cols], "target": targets[rows],
                                    "weight": w[rows, cols].astype(float), "layer": layer}))
    edges = pd.concat(frames, ignore_index=True)
    edges["sign"] = np.sign(edges["weight"]).astype(int)
    pairs = _prior_pairs(prior)
    edges["in_prior"] = [(s, t) in pairs for s, t in zip(edges["source"], edges["target"])]
    edges = edges.assign(_abs=edges["weight"].abs()).sort_values(
        ["layer", "_abs"], ascending=[False, False]).drop(columns="_abs")
    return edges[EDGE_COLUMNS].reset_index(drop=True)


def weight_summary(edges: pd.DataFrame) -> pd.DataFrame:
    """Per layer: number of edges and the 0/25/50/75/100% quantiles of the weights.

    Returns
    -------
    pandas.DataFrame
        Index = layer; columns ``n_edges, positive, negative, q0, q25, q50, q75, q100``
        (quantiles of the signed weight) and ``abs_q50`` (median |weight|).
    """
    rows = []
    for layer in LAYERS:
        w = edges.loc[edges["layer"] == layer, "weight"].to_numpy(dtype=float)
        q = np.quantile(w, [0, 0.25, 0.5, 0.75, 1.0]) if len(w) else [np.nan] * 5
        rows.append({"layer": layer, "n_edges": len(w), "positive": int((w > 0).sum()),
                     "negative": int((w < 0).sum()),
                     **{f"q{p}": float(v) for p, v in zip((0, 25, 50, 75, 100), q)},
                     "abs_q50": float(np.median(np.abs(w))) if len(w) else np.nan})
    return pd.DataFrame(rows).set_index("layer")


def prior_overlap(edges: pd.DataFrame, prior: pd.DataFrame | None, *, tf_names: Iterable[str],
                  gene_names: Iterable[str]) -> pd.DataFrame:
    """Fraction of learned edges found in a prior, and the enrichment over chance.

    Chance is the fraction of all *possible* edges of the layer (TF→other TF, or TF→gene
    other than its own) that the prior contains: a random mask with as many edges would hit
    the prior at that rate. The p-value is hypergeometric (one-sided, enrichment).

    Returns
    -------
    pandas.DataFrame
        Index = layer; columns ``n_edges, n_in_prior, fraction, chance, enrichment, p_value,
        prior_edges_possible``.
    """
    from scipy.stats import hypergeom

    tfs = list(dict.fromkeys(map(str, tf_names)))
    genes = list(dict.fromkeys(map(str, gene_names)))
    tf_set, gene_set = set(tfs), set(genes)
    pairs = _prior_pairs(prior)
    rows = []
    for layer in LAYERS:
        if layer == "tf2tf":
            possible = len(tfs) * (len(tfs) - 1)
            hits = {(s, t) for s, t in pairs if s in tf_set and t in tf_set and s != t}
        else:
            possible = len(tfs) * len(genes) - len(tf_set & gene_set)
            hits = {(s, t) for s, t in pairs if s in tf_set and t in gene_set and s != t}
        sub = edges[edges["layer"] == layer]
        n = len(sub)
        k = int(sum((s, t) in pairs for s, t in zip(sub["source"], sub["target"])))
        chance = len(hits) / possible if possible else np.nan
        frac = k / n if n else np.nan
        p = float(hypergeom.sf(k - 1, possible, len(hits), n)) if n and possible else np.nan
        rows.append({"layer": layer, "n_edges": n, "n_in_prior": k, "fraction": frac,
                     "chance": chance, "enrichment": frac / chance if chance else np.nan,
                     "p_value": p, "prior_edges_possible": len(hits)})
    return pd.DataFrame(rows).set_index("layer")


def filter_edges(edges: pd.DataFrame, *, min_abs_weight: float = 0.0,
                 layers: Iterable[str] = LAYERS, top_k_per_tf: int | None = None,
                 ) -> pd.DataFrame:
    """Edges of the chosen layers with |weight| ≥ threshold, keeping each TF's top-k targets."""
    out = edges[edges["layer"].isin(list(layers)) & (edges["weight"].abs() >= min_abs_weight)]
    if top_k_per_tf:
        out = (out.assign(_abs=out["weight"].abs())
               .sort_values("_abs", ascending=False)
               .groupby(["source", "layer"], sort=False).head(int(top_k_per_tf))
               .drop(columns="_abs"))
    return out.reset_index(drop=True)


def neighbourhood(edges: pd.DataFrame, tf: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(targets of ``tf``, regulators of ``tf``), each sorted by decreasing |weight|."""
    def by_abs(df: pd.DataFrame) -> pd.DataFrame:
        return df.iloc[np.argsort(-df["weight"].abs().to_numpy(), kind="stable")].reset_index(
            drop=True)
    return by_abs(edges[edges["source"] == tf]), by_abs(edges[edges["target"] == tf])


def centralities(edges: pd.DataFrame, tf_names: Iterable[str] | None = None, *,
                 degree_edges: pd.DataFrame | None = None) -> pd.DataFrame:
    """TF ranking: out-degree, in-degree, out-strength, betweenness and eigenvector centrality.

    Computed with igraph on the directed graph of ``edges`` (betweenness directed and
    normalised to [0, 1]; eigenvector centrality on the undirected graph weighted by |w|,
    as CellOracle reports it).

    Parameters
    ----------
    degree_edges
        Edges to count degrees and strength on (default ``edges``). The Network page passes
        the network before its per-TF top-k cut: after the cut every TF has out-degree 2k,
        so the ranking no longer separates TFs (issue 21).

    Returns
    -------
    pandas.DataFrame
        One row per TF, sorted by decreasing out-degree, then out-strength (Σ |w| of its
        outgoing edges); columns ``tf, out_degree, in_degree, out_strength, betweenness,
        eigenvector``.
    """
    import igraph as ig

    tfs = list(dict.fromkeys(map(str, tf_names))) if tf_names is not None else list(
        dict.fromkeys(edges["source"].astype(str)))
    nodes = list(dict.fromkeys([*tfs, *edges["source"].astype(str), *edges["target"].astype(str)]))
    index = {n: i for i, n in enumerate(nodes)}
    g = ig.Graph(n=len(nodes), directed=True,
                 edges=[(index[s], index[t]) for s, t in zip(edges["source"].astype(str),
                                                            edges["target"].astype(str))])
    weights = edges["weight"].abs().to_numpy(dtype=float)
    n = len(nodes)
    between = np.asarray(g.betweenness(directed=True), dtype=float)
    if n > 2:
        between = between / ((n - 1) * (n - 2))
    if g.ecount():
        und = g.copy()
        und.es["weight"] = weights
        und.to_undirected(mode="each")
        eig = np.asarray(und.eigenvector_centrality(weights="weight", scale=True), dtype=float)
    else:
        eig = np.zeros(n)
    ids = [index[t] for t in tfs]
    counted = edges if degree_edges is None else degree_edges
    src, tgt = counted["source"].astype(str), counted["target"].astype(str)
    strength = counted["weight"].abs().groupby(src).sum()
    table = pd.DataFrame({"tf": tfs,
                          "out_degree": src.value_counts().reindex(tfs, fill_value=0).to_numpy(),
                          "in_degree": tgt.value_counts().reindex(tfs, fill_value=0).to_numpy(),
                          "out_strength": strength.reindex(tfs, fill_value=0.0).to_numpy(),
                          "betweenness": between[ids], "eigenvector": eig[ids]})
    return table.sort_values(["out_degree", "out_strength"], ascending=False).reset_index(
        drop=True)


def to_networkx(edges: pd.DataFrame, tf_names: Iterable[str] | None = None) -> Any:
    """A ``networkx.DiGraph``; nodes carry ``kind`` (tf | gene), edges the table's columns."""
    import networkx as nx

    tfs = set(map(str, tf_names)) if tf_names is not None else set(edges["source"].astype(str))
    g = nx.DiGraph()
    for node in dict.fromkeys([*edges["source"].astype(str), *edges["target"].astype(str),
                               *sorted(tfs)]):
        g.add_node(node, kind="tf" if node in tfs else "gene")
    for row in edges.itertuples(index=False):
        g.add_edge(str(row.source), str(row.target), weight=float(row.weight),
                   sign=int(row.sign), layer=str(row.layer), in_prior=bool(row.in_prior))
    return g


def graphml_bytes(edges: pd.DataFrame, tf_names: Iterable[str] | None = None) -> bytes:
    """The network as GraphML (opens in Cytoscape and Gephi)."""
    import networkx as nx

    buf = io.BytesIO()
    nx.write_graphml(to_networkx(edges, tf_names), buf)
    return buf.getvalue()


def write_graphml(edges: pd.DataFrame, path: str | Path,
                  tf_names: Iterable[str] | None = None) -> Path:
    """Write :func:`graphml_bytes` to ``path``."""
    path = Path(path)
    path.write_bytes(graphml_bytes(edges, tf_names))
    return path


def read_graphml(source: str | Path | bytes) -> pd.DataFrame:
    """Read a GraphML written by :func:`write_graphml` back into an edge table."""
    import networkx as nx

    g = nx.read_graphml(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    rows = [{"source": s, "target": t, "weight": float(d.get("weight", 0.0)),
             "sign": int(d.get("sign", 0)), "layer": d.get("layer", ""),
             "in_prior": bool(d.get("in_prior", False))} for s, t, d in g.edges(data=True)]
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def edge_recovery(scores: pd.DataFrame, truth: pd.DataFrame, *, sources: Iterable[str],
                  targets: Iterable[str], exclude_self: bool = True) -> dict[str, float]:
    """Average precision of ranking all possible edges by ``|weight|`` against a true network.

    Parameters
    ----------
    scores
        ``source, target, weight`` for scored edges; pairs not listed score 0.
    truth
        ``source, target`` of the true edges.
    sources, targets
        The candidate pairs are sources × targets (minus self pairs when ``exclude_self``).

    Returns
    -------
    dict
        ``auprc``, ``density`` (fraction of candidate pairs that are true edges, the AUPRC of a
        random ranking) and ``auprc_over_density``.
    """
    from sklearn.metrics import average_precision_score

    src = list(dict.fromkeys(map(str, sources)))
    tgt = list(dict.fromkeys(map(str, targets)))
    si = {s: i for i, s in enumerate(src)}
    ti = {t: i for i, t in enumerate(tgt)}
    score = np.zeros((len(src), len(tgt)))
    for s, t, w in zip(scores["source"].astype(str), scores["target"].astype(str),
                       scores["weight"].abs()):
        if s in si and t in ti:
            score[si[s], ti[t]] = max(score[si[s], ti[t]], float(w))
    label = np.zeros_like(score, dtype=bool)
    for s, t in zip(truth["source"].astype(str), truth["target"].astype(str)):
        if s in si and t in ti:
            label[si[s], ti[t]] = True
    valid = np.ones_like(label)
    if exclude_self:
        for s, i in si.items():
            if s in ti:
                valid[i, ti[s]] = False
    y, x = label[valid], score[valid]
    density = float(y.mean()) if y.size else np.nan
    auprc = float(average_precision_score(y, x)) if y.any() else np.nan
    return {"auprc": auprc, "density": density, "auprc_over_density": auprc / density
            if density else np.nan}
