"""Train K TF-VAEs with the same settings and different seeds (issue 16 §4), one job."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS, train_tfvae
from core.runs import Run
from core.training.progress import Progress
from core.training.trainer import TrainConfig

#: Models of an ensemble by default: 5 on a GPU (≈ the time of one on CPU), 3 on CPU.
ENSEMBLE_SIZE = {"cuda": 5, "cpu": 3}


def default_ensemble_size(device: str) -> int:
    """K for a device name (``cuda…`` → 5, anything else → 3)."""
    return ENSEMBLE_SIZE["cuda" if str(device).startswith("cuda") else "cpu"]


def train_tfvae_ensemble(adata: Any, *, n_models: int, dataset: str,
                         label_key: str | None = None, model: dict[str, Any] | None = None,
                         train: TrainConfig | None = None, runs_root: str | Path | None = None,
                         progress: Progress | None = None,
                         cancel: threading.Event | None = None) -> list[Run]:
    """Train ``n_models`` TF-VAEs, seeds ``train.seed`` … ``train.seed + n_models - 1``.

    Each is an ordinary run folder (:func:`core.recipes.tfvae.train_tfvae`); they form an
    ensemble because they share the data, settings and module arguments
    (:func:`core.runs.ensemble.ensemble_members`). Stops after the current model when
    ``cancel`` is set.

    Returns
    -------
    list of Run
        In seed order; the first is the one with ``train.seed``.
    """
    base = train or TFVAE_TRAIN_DEFAULTS
    runs = []
    for k in range(max(1, int(n_models))):
        if cancel is not None and cancel.is_set():
            break
        runs.append(train_tfvae(adata, dataset=dataset, label_key=label_key, model=model,
                                train=replace(base, seed=base.seed + k), runs_root=runs_root,
                                progress=progress, cancel=cancel))
    return runs
