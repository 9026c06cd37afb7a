"""scIB metrics of an embedding, computed with ``scib-metrics`` (Luecken et al. 2022).

Arrays in, a one-row-per-embedding DataFrame out. The metrics are scib-metrics' own functions
(not re-implemented), called with the neighbourhood sizes of its ``Benchmarker`` (15 for Leiden
and graph connectivity, 50 for kBET, 90 for the LISIs) on an exact kNN graph. Aggregates follow
scIB: bio conservation = mean of the bio metrics, batch correction = mean of the batch metrics,
total = 0.6 bio + 0.4 batch. Scores are NOT min-max scaled across methods (scib-metrics'
``get_results(min_max_scale=False)``), so a table's numbers do not change when a method is added.

Bio metrics: isolated labels, Leiden NMI and ARI (best NMI over resolutions 0.2 … 2.0),
cell-type silhouette, cLISI, and kNN label accuracy (15-NN, 5-fold; :func:`knn_accuracy`, the
one metric scIB lacks). Batch metrics (only with a batch column): iLISI, kBET (per label),
graph connectivity, batch silhouette. The KMeans ARI/NMI of :mod:`core.analysis.metrics` are
extra columns, outside the aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.analysis.metrics import kmeans_labels, knn_accuracy
from core.errors import ConfigError

#: Bio conservation metrics (columns) averaged into ``bio_conservation``.
BIO_METRICS = ("isolated_labels", "leiden_nmi", "leiden_ari", "silhouette_label", "clisi",
               "knn_accuracy")
#: Batch correction metrics averaged into ``batch_correction``.
BATCH_METRICS = ("ilisi", "kbet", "graph_connectivity", "silhouette_batch")
#: Aggregates, in the order scIB tables show them.
AGGREGATES = ("bio_conservation", "batch_correction", "total")
#: Extra columns (not in the aggregates): KMeans with k = number of labels, mean of 3 seeds.
EXTRA_METRICS = ("kmeans_ari", "kmeans_nmi")
#: Display names, as scib-metrics' tables spell them.
METRIC_TITLES = {
    "isolated_labels": "Isolated labels", "leiden_nmi": "Leiden NMI", "leiden_ari": "Leiden ARI",
    "silhouette_label": "Silhouette label", "clisi": "cLISI", "knn_accuracy": "kNN accuracy",
    "ilisi": "iLISI", "kbet": "kBET", "graph_connectivity": "Graph connectivity",
    "silhouette_batch": "Silhouette batch", "bio_conservation": "Bio conservation",
    "batch_correction": "Batch correction", "total": "Total", "kmeans_ari": "KMeans ARI",
    "kmeans_nmi": "KMeans NMI",
}
_MAX_K = 90  # the largest neighbourhood scib-metrics' Benchmarker uses (the LISIs)


def _codes(values: Sequence[Any] | None, name: str, n: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = pd.Series(np.asarray(values, dtype=object))
    if len(arr) != n:
        raise ConfigError(f"{name} has {len(arr)} values for {n} cells; give one per cell.")
    if arr.isna().any():
        raise ConfigError(f"{name} has missing values; every cell needs one (drop those cells).")
    return pd.factorize(arr.astype(str), sort=True)[0].astype(np.int64)


def neighbors(embedding: np.ndarray, k: int = _MAX_K):
    """Exact kNN of every cell (itself first), as scib-metrics' ``NeighborsResults``."""
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    k = int(min(k, embedding.shape[0] - 1))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(embedding).kneighbors(embedding)
    return NeighborsResults(indices=idx, distances=dist)


def _quiet() -> None:
    """scib-metrics logs one INFO line per label that kBET skips; keep the console readable."""
    import logging

    import scib_metrics

    scib_metrics.settings.verbosity = logging.WARNING


def _bio(emb: np.ndarray, nn: Any, labels: np.ndarray, batch: np.ndarray,
         seed: int) -> dict[str, float]:
    import scib_metrics as sm

    leiden = sm.nmi_ari_cluster_labels_leiden(nn.subset_neighbors(min(15, nn.n_neighbors)),
                                              labels, optimize_resolution=True, seed=seed)
    return {"isolated_labels": float(sm.isolated_labels(emb, labels, batch)),
            "leiden_nmi": float(leiden["nmi"]), "leiden_ari": float(leiden["ari"]),
            "silhouette_label": float(sm.silhouette_label(emb, labels)),
            "clisi": float(sm.clisi_knn(nn, labels)),
            "knn_accuracy": knn_accuracy(emb, labels, seed=seed)[0]}


def _batch(emb: np.ndarray, nn: Any, labels: np.ndarray, batch: np.ndarray) -> dict[str, float]:
    import scib_metrics as sm

    return {"ilisi": float(sm.ilisi_knn(nn, batch)),
            "kbet": float(sm.kbet_per_label(nn.subset_neighbors(min(50, nn.n_neighbors)),
                                            batch, labels)),
            "graph_connectivity": float(sm.graph_connectivity(
                nn.subset_neighbors(min(15, nn.n_neighbors)), labels)),
            "silhouette_batch": float(sm.silhouette_batch(emb, labels, batch))}


def _kmeans(emb: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    k = len(np.unique(labels))
    fits = [kmeans_labels(emb, k, seed) for seed in (0, 1, 2)]
    return {"kmeans_ari": float(np.mean([adjusted_rand_score(labels, f) for f in fits])),
            "kmeans_nmi": float(np.mean([normalized_mutual_info_score(labels, f)
                                         for f in fits]))}


def scib_scores(embedding: np.ndarray, labels: Sequence[Any], batch: Sequence[Any] | None = None,
                *, seed: int = 0) -> dict[str, float]:
    """scIB bio conservation (and, with ``batch``, batch correction) scores of one embedding.

    Parameters
    ----------
    embedding
        Cells × dims (finite).
    labels
        Cell type per cell (no missing values).
    batch
        Batch per cell, or ``None`` (no batch metrics; isolated labels then treats the data as
        one batch, so every label counts as isolated).
    seed
        Seed of the Leiden runs and the kNN-accuracy folds.

    Returns
    -------
    dict
        Every metric of :data:`BIO_METRICS` (+ :data:`BATCH_METRICS` with a batch),
        :data:`EXTRA_METRICS` and the aggregates ``bio_conservation``, ``batch_correction``
        (NaN without a batch) and ``total`` (= bio without a batch).
    """
    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] < 10 or not np.isfinite(emb).all():
        raise ConfigError("The embedding must be a finite cells × dims array of at least 10 "
                          f"cells; got shape {emb.shape}.")
    codes = _codes(labels, "The label column", emb.shape[0])
    if len(np.unique(codes)) < 2:
        raise ConfigError("The label column has a single value; scoring needs two or more.")
    batches = _codes(batch, "The batch column", emb.shape[0])
    _quiet()
    nn = neighbors(emb)
    one_batch = np.zeros(emb.shape[0], dtype=np.int64) if batches is None else batches
    out = _bio(emb, nn, codes, one_batch, seed)
    out["bio_conservation"] = float(np.mean([out[m] for m in BIO_METRICS]))
    if batches is not None and len(np.unique(batches)) > 1:
        out.update(_batch(emb, nn, codes, batches))
        out["batch_correction"] = float(np.mean([out[m] for m in BATCH_METRICS]))
        out["total"] = 0.6 * out["bio_conservation"] + 0.4 * out["batch_correction"]
    else:
        out["batch_correction"] = float("nan")
        out["total"] = out["bio_conservation"]
    out.update(_kmeans(emb, codes))
    return out


def score_embeddings(embeddings: dict[str, np.ndarray], labels: Sequence[Any],
                     batch: Sequence[Any] | None = None, *, seed: int = 0) -> pd.DataFrame:
    """:func:`scib_scores` of several embeddings of the same cells: one row per embedding
    (index ``method``), columns in :func:`metric_columns` order."""
    rows = {name: scib_scores(emb, labels, batch, seed=seed) for name, emb in embeddings.items()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method"
    return df[[c for c in metric_columns(batch is not None) if c in df.columns]]


def metric_columns(with_batch: bool) -> list[str]:
    """Metric columns of a benchmark table, in display order."""
    cols = list(BIO_METRICS) + (list(BATCH_METRICS) if with_batch else [])
    return cols + list(AGGREGATES) + list(EXTRA_METRICS)


def summarize(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean ± sd over seeds of a long table (columns ``method``, ``seed`` and metrics).

    Returns one row per method (original order) with ``<metric>`` (mean) and
    ``<metric>_sd`` columns, plus ``n_seeds``.
    """
    metrics = [c for c in per_seed.columns if c not in ("method", "seed")]
    grouped = per_seed.groupby("method", sort=False)[metrics]
    mean, sd = grouped.mean(), grouped.std(ddof=0).add_suffix("_sd")
    out = pd.concat([mean, sd], axis=1)
    out["n_seeds"] = per_seed.groupby("method", sort=False).size()
    return out


def best_per_column(table: pd.DataFrame, columns: Sequence[str]) -> dict[str, str]:
    """The method with the highest (every scIB metric: higher is better) mean per column."""
    return {c: str(table[c].idxmax()) for c in columns
            if c in table.columns and table[c].notna().any()}
