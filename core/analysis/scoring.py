"""Scores a recipe stores with its run: clustering of the latent beside a PCA baseline, and the
held-out likelihood and batch mixing of count / batch models."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from core.analysis.embeddings import pca
from core.analysis.metrics import batch_mixing_entropy, compare_embeddings
from core.errors import ConfigError
from core.training.inputs import ModelInputs, heldout_terms
from core.training.progress import Progress


def labels_of(adata: Any, label_key: str | None) -> np.ndarray | None:
    """Labels for scoring (``None`` when no key is given)."""
    if not label_key:
        return None
    if label_key not in adata.obs:
        raise ConfigError(f"Label column '{label_key}' is not in the data's obs columns.")
    return adata.obs[label_key].astype(object).to_numpy()


def score_latent(x: Any, latent: np.ndarray, labels: np.ndarray | None, *,
                 progress: Progress | None = None, seeds: tuple[int, ...] = (0, 1, 2)
                 ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Clustering metrics of the latent beside PCA with as many components.

    Returns metrics with suffixes ``_vae``/``_pca`` and arrays to store in the run
    (``pca`` plus cluster labels).
    """

    if progress is not None:
        progress.set_phase("metrics", 1, "PCA baseline and clustering scores")
    pcs = pca(x, latent.shape[1])
    arrays: dict[str, np.ndarray] = {"pca": pcs}
    metrics: dict[str, float] = {}
    if labels is not None and len(set(map(str, labels))) > 1:
        metrics, clusters = compare_embeddings({"vae": latent, "pca": pcs}, labels, seeds=seeds)
        for emb, cl in clusters.items():
            for method, lab in cl.items():
                arrays[f"clusters_{method}_{emb}"] = lab.astype(np.int32)
    if progress is not None:
        progress.update(1, {})
    return metrics, arrays


def count_metrics(module: nn.Module, inputs: ModelInputs, result: Any, latent: np.ndarray,
                  pcs: np.ndarray | None = None) -> dict[str, float]:
    """Held-out loss terms, and batch mixing entropy of the latent (and PCA) with a covariate.

    ``result`` is the :class:`~core.training.trainer.TrainResult` (its ``val_idx`` are the
    held-out cells). ``batch_mixing_entropy`` is the latent's value (same as ``_vae``).
    """

    out = heldout_terms(module, inputs.data, np.asarray(result.val_idx), device=result.device)
    if inputs.batch_codes is not None:
        out["batch_mixing_entropy_vae"] = batch_mixing_entropy(latent, inputs.batch_codes)
        out["batch_mixing_entropy"] = out["batch_mixing_entropy_vae"]
        if pcs is not None:
            out["batch_mixing_entropy_pca"] = batch_mixing_entropy(pcs, inputs.batch_codes)
    return out
