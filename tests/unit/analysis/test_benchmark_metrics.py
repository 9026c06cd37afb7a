"""scIB wrapper on cases with a known answer: separated labels score ≈ 1, a random embedding
low; with a batch, perfectly mixed batches score high and separated batches low."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.benchmark import BIO_METRICS, best_per_column, scib_scores, summarize
from core.errors import ConfigError

RNG = np.random.default_rng(0)
LABELS = np.repeat(np.array(["a", "b", "c", "d"]), 60)


def _separated(batch_shift: float = 0.0, batch=None) -> np.ndarray:
    emb = RNG.normal(size=(240, 6)) * 0.1 + np.eye(6)[np.repeat(np.arange(4), 60)] * 10
    if batch is not None:
        emb[:, 5] += batch_shift * (batch == "x")
    return emb


def test_separated_labels_score_near_one_and_random_low():
    good = scib_scores(_separated(), LABELS)
    bad = scib_scores(RNG.normal(size=(240, 6)), LABELS)
    assert good["bio_conservation"] > 0.95
    assert good["leiden_ari"] == pytest.approx(1.0) and good["knn_accuracy"] == 1.0
    assert bad["bio_conservation"] < 0.45 and bad["leiden_ari"] < 0.1
    assert np.isnan(good["batch_correction"]) and good["total"] == good["bio_conservation"]
    assert set(BIO_METRICS) <= set(good) and good["kmeans_ari"] == pytest.approx(1.0)


def test_batch_metrics_mixed_beats_separated_and_total_is_scib_weighting():
    batch = np.tile(np.array(["x", "y"]), 120)
    mixed = scib_scores(_separated(0.0, batch), LABELS, batch)
    split = scib_scores(_separated(30.0, batch), LABELS, batch)
    assert mixed["batch_correction"] > 0.85 > split["batch_correction"] + 0.3
    assert mixed["total"] == pytest.approx(0.6 * mixed["bio_conservation"]
                                           + 0.4 * mixed["batch_correction"])


def test_bad_input_is_one_line_config_error():
    with pytest.raises(ConfigError, match="single value"):
        scib_scores(RNG.normal(size=(50, 3)), ["a"] * 50)
    with pytest.raises(ConfigError, match="missing values"):
        scib_scores(RNG.normal(size=(50, 3)), ["a", None] * 25)


def test_summarize_and_best():
    import pandas as pd

    per_seed = pd.DataFrame({"method": ["p", "p", "v", "v"], "seed": [0, 1, 0, 1],
                             "total": [0.5, 0.7, 0.8, 0.8]})
    table = summarize(per_seed)
    assert table.loc["p", "total"] == pytest.approx(0.6)
    assert table.loc["p", "total_sd"] == pytest.approx(0.1)
    assert best_per_column(table, ["total"]) == {"total": "v"}
