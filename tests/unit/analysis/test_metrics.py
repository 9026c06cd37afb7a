"""Label-preservation metrics: kNN label accuracy and its row in the metrics table."""

from __future__ import annotations

import numpy as np

from core.analysis.metrics import compare_embeddings, knn_accuracy, metrics_table


def _blobs(n_per: int = 100, k: int = 4, dims: int = 5, spread: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, dims))
    labels = np.repeat([f"t{i}" for i in range(k)], n_per)
    x = centres[np.repeat(np.arange(k), n_per)] + rng.normal(0, spread, (k * n_per, dims))
    return x, labels


def test_knn_accuracy_separated_vs_random_labels():
    x, labels = _blobs()
    mean, sd = knn_accuracy(x, labels)
    assert mean == 1.0 and sd == 0.0
    shuffled = np.random.default_rng(1).permutation(labels)
    chance, _ = knn_accuracy(x, shuffled)
    assert 0.1 < chance < 0.4                     # about 1/4 with four classes


def test_knn_accuracy_skips_missing_labels_and_subsamples_reproducibly():
    x, labels = _blobs(n_per=300)
    labels = labels.astype(object)
    labels[::7] = None
    assert knn_accuracy(x, labels)[0] == 1.0
    a = knn_accuracy(x, labels, max_cells=200, seed=3)
    assert a == knn_accuracy(x, labels, max_cells=200, seed=3)
    tiny, _ = knn_accuracy(x[:6], ["a", "b"] * 3)  # fewer cells than neighbours: still runs
    assert 0.0 <= tiny <= 1.0


def test_metrics_table_has_the_knn_row():
    x, labels = _blobs()
    noise = np.random.default_rng(2).normal(size=x.shape)
    metrics, _ = compare_embeddings({"vae": x, "pca": noise}, labels, leiden=False)
    table = metrics_table(metrics).set_index("metric")
    assert table.loc["knn_accuracy", "vae"] == 1.0
    assert table.loc["knn_accuracy", "pca"] < 0.5
    assert table.loc["knn_accuracy", "Δ"] > 0.5
