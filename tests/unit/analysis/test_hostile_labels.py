"""Issue 19, item 4: a label column with NaN or with one category scores without a traceback."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from core.analysis.scoring import labels_of, score_latent


def _adata(labels) -> ad.AnnData:
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"lab": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(rng.normal(size=(len(labels), 6)).astype(np.float32), obs=obs)


@pytest.mark.parametrize("labels", [
    ["a", "b", None, "a"] * 10,
    pd.Categorical(["a", "b", np.nan, "a"] * 10),
    [1.0, 2.0, np.nan, 1.0] * 10,
])
def test_cells_without_a_label_are_left_out_of_the_scores(labels):
    adata = _adata(labels)
    # the latent separates b from a; the unlabelled cells sit with a (a "nan" class: ARI < 1)
    latent = np.tile([[0.0, 0.0], [9.0, 9.0], [0.0, 0.1], [0.0, 0.0]], (10, 1)).astype(np.float32)
    metrics, _ = score_latent(adata.X, latent, labels_of(adata, "lab"), seeds=(0,))
    assert metrics["ari_kmeans_vae"] == pytest.approx(1.0)   # the unlabelled cells left out
    assert np.isfinite(metrics["nmi_kmeans_pca"])


def test_one_category_gives_no_scores_and_no_error():
    adata = _adata(["a"] * 40)
    metrics, arrays = score_latent(adata.X, np.zeros((40, 3), np.float32) + np.arange(40)[:, None],
                                   labels_of(adata, "lab"), seeds=(0,))
    assert metrics == {} and arrays["pca"].shape == (40, 3)
