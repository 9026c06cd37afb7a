"""Quality of an embedding against known labels (ARI, NMI, silhouette, kNN label accuracy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

DEFAULT_SEEDS = (0, 1, 2)


def _codes(labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for non-missing labels and the mask of cells that have one."""
    arr = np.asarray(labels, dtype=object)
    mask = np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) for v in arr])
    _, codes = np.unique(arr[mask].astype(str), return_inverse=True)
    return codes, mask


def kmeans_labels(embedding: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """KMeans cluster labels (k clusters, 10 restarts, seeded).

    Runs single-threaded: on a few thousand cells OpenMP threads only add overhead, and on a
    busy server (training in the background) they spin and slow KMeans down a hundredfold.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(embedding)


def knn_accuracy(embedding: np.ndarray, labels: Sequence[Any], *, n_neighbors: int = 15,
                 folds: int = 5, max_cells: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Cross-validated label accuracy of a k-nearest-neighbour classifier on the embedding.

    How well the space keeps the known labels apart, whatever a clustering then makes of it:
    each held-out cell gets the majority label of its ``n_neighbors`` nearest training cells.

    Parameters
    ----------
    embedding
        Cells × dims.
    labels
        Known label per cell; cells with a missing label are left out.
    n_neighbors, folds
        Classifier neighbours and cross-validation folds (shuffled, seeded).
    max_cells
        Larger datasets are scored on a seeded random subset of this many cells.
    seed
        Seed of the folds and the subset.

    Returns
    -------
    mean, sd
        Accuracy over the folds.
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    codes, mask = _codes(labels)
    emb = np.asarray(embedding, dtype=np.float32)[mask]
    if len(codes) > max_cells:
        keep = np.random.default_rng(seed).choice(len(codes), max_cells, replace=False)
        emb, codes = emb[keep], codes[keep]
    folds = int(min(folds, len(codes)))
    k = int(min(n_neighbors, len(codes) - -(-len(codes) // folds)))  # ≤ smallest train fold
    acc = cross_val_score(KNeighborsClassifier(k), emb, codes,
                          cv=KFold(folds, shuffle=True, random_state=seed))
    return float(np.mean(acc)), float(np.std(acc))


def knn_graph(embedding: np.ndarray, n_neighbors: int = 15):
    """Symmetrised kNN connectivity graph (igraph, weighted) of an embedding."""
    import igraph as ig
    from sklearn.neighbors import NearestNeighbors

    n = embedding.shape[0]
    k = min(n_neighbors, n - 1)
    nn_idx = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(
        return_distance=False)[:, 1:]
    src = np.repeat(np.arange(n), k)
    dst = nn_idx.ravel()
    pairs = np.unique(np.sort(np.stack([src, dst], 1), axis=1), axis=0)
    return ig.Graph(n=n, edges=pairs.tolist(), directed=False)


def leiden_labels(graph, resolution: float, seed: int = 0) -> np.ndarray:
    """Leiden (modularity with resolution) partition of an igraph graph."""
    import leidenalg

    part = leidenalg.find_partition(graph, leidenalg.RBConfigurationVertexPartition,
                                    resolution_parameter=resolution, seed=seed)
    return np.asarray(part.membership)


def leiden_matching_k(graph, k: int, *, seed: int = 0, max_iter: int = 20
                      ) -> tuple[np.ndarray, float]:
    """Leiden labels at the resolution whose number of clusters is closest to ``k``.

    Bisection on the resolution in [0.01, 5] (the number of clusters grows with it).
    """
    lo, hi = 0.01, 5.0
    best = (np.inf, None, 1.0)
    for _ in range(max_iter):
        res = float(np.sqrt(lo * hi))
        labels = leiden_labels(graph, res, seed)
        n = len(np.unique(labels))
        if abs(n - k) < best[0]:
            best = (abs(n - k), labels, res)
        if n == k:
            break
        if n < k:
            lo = res
        else:
            hi = res
    return best[1], best[2]


def cluster_scores(embedding: np.ndarray, labels: Sequence[Any], *,
                   seeds: Sequence[int] = DEFAULT_SEEDS, leiden: bool = True,
                   leiden_resolution: float | None = None) -> tuple[dict[str, float],
                                                                    dict[str, np.ndarray]]:
    """ARI/NMI of KMeans (k = number of labels, over ``seeds``) and Leiden, plus silhouette.

    Parameters
    ----------
    embedding
        Cells × dims.
    labels
        Known label per cell; cells with a missing label are left out of the scores.
    seeds
        KMeans and Leiden seeds; scores are means (``*_std`` the spread).
    leiden
        Whether to run Leiden on a 15-NN graph.
    leiden_resolution
        Fixed resolution; ``None`` picks the one that gives k clusters.

    Returns
    -------
    scores, clusters
        ``scores``: ``ari_kmeans``, ``ari_kmeans_std``, ``nmi_kmeans``, ``nmi_kmeans_std``,
        ``ari_leiden``, ``nmi_leiden`` (+ ``_std``), ``leiden_resolution``,
        ``n_leiden_clusters``, ``silhouette``, ``knn_accuracy`` (+ ``_std``, see
        :func:`knn_accuracy`). ``clusters``: ``kmeans`` and ``leiden`` labels
        (first seed) for every cell.
    """
    emb = np.asarray(embedding, dtype=np.float64)
    codes, mask = _codes(labels)
    k = int(len(np.unique(codes)))
    if k < 2:
        raise ValueError("need at least two distinct labels to score clustering")
    scores: dict[str, float] = {}
    clusters: dict[str, np.ndarray] = {}
    aris, nmis = [], []
    for i, seed in enumerate(seeds):
        km = kmeans_labels(emb, k, seed)
        if i == 0:
            clusters["kmeans"] = km
        aris.append(adjusted_rand_score(codes, km[mask]))
        nmis.append(normalized_mutual_info_score(codes, km[mask]))
    scores.update(ari_kmeans=float(np.mean(aris)), ari_kmeans_std=float(np.std(aris)),
                  nmi_kmeans=float(np.mean(nmis)), nmi_kmeans_std=float(np.std(nmis)))
    if leiden:
        graph = knn_graph(emb)
        aris, nmis, ns = [], [], []
        res = leiden_resolution
        for i, seed in enumerate(seeds):
            if res is None:
                lab, res = leiden_matching_k(graph, k, seed=seed)
            else:
                lab = leiden_labels(graph, res, seed)
            if i == 0:
                clusters["leiden"] = lab
            aris.append(adjusted_rand_score(codes, lab[mask]))
            nmis.append(normalized_mutual_info_score(codes, lab[mask]))
            ns.append(len(np.unique(lab)))
        scores.update(ari_leiden=float(np.mean(aris)), ari_leiden_std=float(np.std(aris)),
                      nmi_leiden=float(np.mean(nmis)), nmi_leiden_std=float(np.std(nmis)),
                      leiden_resolution=float(res), n_leiden_clusters=float(np.mean(ns)))
    sample = np.flatnonzero(mask)
    if len(sample) > 5000:  # silhouette is O(n²)
        sample = np.random.default_rng(0).choice(sample, 5000, replace=False)
    sub_codes, _ = _codes(np.asarray(labels, dtype=object)[sample])
    scores["silhouette"] = float(silhouette_score(emb[sample], sub_codes)) if len(
        np.unique(sub_codes)) > 1 else float("nan")
    scores["knn_accuracy"], scores["knn_accuracy_std"] = knn_accuracy(emb, labels)
    return scores, clusters


def compare_embeddings(embeddings: dict[str, np.ndarray], labels: Sequence[Any], **kwargs: Any
                       ) -> tuple[dict[str, float], dict[str, dict[str, np.ndarray]]]:
    """:func:`cluster_scores` for several embeddings; keys suffixed with the embedding name.

    E.g. ``{"vae": z, "pca": pcs}`` gives ``ari_kmeans_vae``, ``ari_kmeans_pca``, ...
    """
    out: dict[str, float] = {}
    clusters: dict[str, dict[str, np.ndarray]] = {}
    for name, emb in embeddings.items():
        s, c = cluster_scores(emb, labels, **kwargs)
        out.update({f"{k}_{name}": v for k, v in s.items()})
        clusters[name] = c
    return out, clusters


def metrics_table(metrics: dict[str, float], names: Sequence[str] = ("vae", "pca"),
                  ) -> pd.DataFrame:  # noqa: F821
    """Rows = metric, columns = embeddings plus ``Δ (first − second)``."""
    import pandas as pd

    rows = []
    for metric in ("ari_kmeans", "nmi_kmeans", "ari_leiden", "nmi_leiden", "silhouette",
                   "knn_accuracy"):
        if f"{metric}_{names[0]}" not in metrics:
            continue
        row = {"metric": metric}
        for n in names:
            row[n] = metrics.get(f"{metric}_{n}")
            std = metrics.get(f"{metric}_std_{n}")
            row[f"{n} ± sd"] = float("nan") if std is None else std
        row["Δ"] = (row[names[0]] or 0) - (row[names[1]] or 0) if len(names) > 1 else None
        rows.append(row)
    return pd.DataFrame(rows)


def batch_mixing_entropy(embedding: np.ndarray, batches: Sequence[Any], *,
                         n_neighbors: int = 50, n_pools: int = 50, pool_size: int = 100,
                         seed: int = 0) -> float:
    """Entropy of batch mixing in kNN neighbourhoods (Lopez et al. 2018, scVI).

    For ``n_pools`` random pools of ``pool_size`` cells, the entropy (natural log) of the batch
    frequencies among each cell's ``n_neighbors`` nearest neighbours is averaged over the pool;
    the result is the mean over pools. Perfect mixing of B equally sized batches gives log B;
    fully separated batches give 0.

    Parameters
    ----------
    embedding
        Cells × dims.
    batches
        Batch label per cell.
    n_neighbors, n_pools, pool_size, seed
        As in the scVI paper (50 neighbours, 50 pools of 100 cells).

    Returns
    -------
    float
        Mean entropy in nats.
    """
    from sklearn.neighbors import NearestNeighbors

    emb = np.asarray(embedding, dtype=np.float64)
    _, codes = np.unique(np.asarray(batches).astype(str), return_inverse=True)
    n = emb.shape[0]
    if len(np.unique(codes)) < 2 or n < 3:
        return 0.0
    k = min(n_neighbors, n - 1)
    rng = np.random.default_rng(seed)
    pools = [rng.choice(n, size=min(pool_size, n), replace=False) for _ in range(n_pools)]
    cells = np.unique(np.concatenate(pools))
    nn_idx = NearestNeighbors(n_neighbors=k + 1).fit(emb).kneighbors(
        emb[cells], return_distance=False)[:, 1:]
    n_codes = int(codes.max()) + 1
    freq = np.stack([np.bincount(row, minlength=n_codes) for row in codes[nn_idx]]) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(freq > 0, freq * np.log(freq), 0.0), axis=1)
    ent_of = dict(zip(cells.tolist(), ent.tolist()))
    return float(np.mean([np.mean([ent_of[c] for c in pool]) for pool in pools]))
