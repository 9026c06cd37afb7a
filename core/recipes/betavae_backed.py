"""The β-VAE on an ``.h5ad`` read from disk (issue 20): X is never loaded dense, nor whole
unless it fits as CSR.

One pass over row chunks of the file learns the preprocessing (:func:`fit_lazy`: detection,
HVG, the scaling means and SDs) and, in the default ``resident`` mode, keeps the raw counts as
CSR on the training device (1M × 2,000 at 5 %: 1.2 GB with int64 indices). Each batch is
densified and transformed there (:func:`core.training.device_data.lazy_transform`), so the
trainer sees the same X as the in-memory path for the same cells. ``resident=False`` reads each
batch from the file instead (:class:`HostRows`; for counts larger than memory, and slower:
≈ 25 ms per 128 random rows, benchmarks/atlas_scale.py). The PCA baseline is streamed
(:func:`pca_streamed`); the clustering scores use a stratified subsample.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from core.analysis.embeddings import pca_streamed
from core.analysis.metrics import compare_embeddings
from core.analysis.scoring import labels_of
from core.analysis.subsample import DEFAULT_SUBSAMPLE, stratified_subsample
from core.data.backed import CHUNK_ROWS, BackedCounts
from core.data.preprocess import PreprocessConfig
from core.data.preprocess_lazy import LazyPreprocess, fit_lazy
from core.device import pick_device
from core.errors import ConfigError
from core.recipes.betavae import (
    BETAVAE_TRAIN_DEFAULTS,
    BetaVAESettings,
    _schedule_of,
    build_module,
    loss_kwargs_of,
    training_summary,
)
from core.runs import Run, load_run, new_run_dir, run_config, save_run
from core.training.device_data import CSRRows, HostRows, TransformedRows, lazy_transform
from core.training.progress import Progress
from core.training.schedules import Schedule, to_dict
from core.training.trainer import TrainConfig, encode_mean, fit


class _DataStandIn:
    """What :func:`run_config` reads of an AnnData (shape, names, X.sum) for a backed file."""

    def __init__(self, src: BackedCounts, lazy: LazyPreprocess, total: float):
        self.n_obs, self.n_vars = src.n_obs, lazy.n_vars
        self.obs_names, self.var_names = src.obs.index, lazy.var.index
        self.obs, self.var = src.obs, lazy.var
        self.X = np.array([total])


def load_backed(src: BackedCounts, config: PreprocessConfig | None, *, resident: bool,
                progress: Progress | None = None) -> tuple[LazyPreprocess, sp.csr_matrix | None]:
    """One pass over the file: the fitted preprocessing, and the counts as CSR if resident."""
    kept: list[sp.csr_matrix] = []
    n_chunks = -(-src.n_obs // CHUNK_ROWS)
    if progress is not None:
        progress.set_phase("read", n_chunks, f"Reading {src.path.name} in row chunks")

    def chunks():
        for i, (_, block) in enumerate(src.chunks()):
            if resident:
                kept.append(block)
            if progress is not None:
                progress.update(i + 1, {})
            yield block

    lazy = fit_lazy(chunks(), src.var, config)
    counts = sp.vstack(kept, format="csr", dtype=np.float32) if resident else None
    return lazy, counts


def train_betavae_backed(
    path: str | Path,
    *,
    dataset: str | None = None,
    label_key: str | None = None,
    model: dict[str, Any] | None = None,
    train: TrainConfig | None = None,
    schedule: Schedule | None = None,
    preprocess: PreprocessConfig | None = None,
    resident: bool = True,
    score_cells: int = DEFAULT_SUBSAMPLE,
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Run:
    """Train the Gaussian β-VAE on an ``.h5ad`` of raw counts read from disk; save a run.

    Parameters are those of :func:`~core.recipes.betavae.train_betavae`, plus ``path`` (the
    ``.h5ad``; X CSR raw counts), ``preprocess`` (settings of the streamed preprocessing),
    ``resident`` (keep the counts as CSR on the device; ``False`` reads every batch from disk)
    and ``score_cells`` (size of the stratified subsample the clustering scores use).
    The run's ``metrics['timings']`` holds each step's seconds.
    """
    settings = BetaVAESettings.for_likelihood("gaussian", model).to_dict()
    if settings["likelihood"] != "gaussian":
        raise ConfigError("Training from disk supports the Gaussian likelihood only for now; "
                          "load the file in memory for NB/ZINB.")
    train = train or replace(BETAVAE_TRAIN_DEFAULTS)
    schedule = schedule or _schedule_of(settings, train.epochs)
    settings["schedule"] = to_dict(schedule)
    src = BackedCounts(path)
    labels = labels_of(src.adata, label_key)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lazy, counts = load_backed(src, preprocess, resident=resident, progress=progress)
    timings["read_and_preprocess_s"] = time.perf_counter() - t0
    device = pick_device(train.device)
    if counts is not None:
        x = TransformedRows(CSRRows(counts, device), lazy_transform(lazy, device), lazy.n_vars)
    else:
        x = HostRows(src.n_obs, lazy.n_vars, lambda idx: lazy.transform(src.rows(idx)), device)
    module = build_module(settings, lazy.n_vars, train.seed)
    result = fit(module, {"x": x}, config=train, schedule=schedule, progress=progress,
                 cancel=cancel, loss_kwargs=loss_kwargs_of(settings))
    if result.n_epochs_run == 0:
        raise ConfigError(result.message or "Training stopped before the first epoch ended.")
    timings["train_s"] = result.train_seconds
    t0 = time.perf_counter()
    latent = encode_mean(module, x, device=result.device)
    timings["latent_s"] = time.perf_counter() - t0
    metrics, arrays = _score(src, counts, lazy, latent, labels, score_cells, timings, progress)
    metrics.update(training_summary(result))
    metrics["timings"] = {k: round(v, 2) for k, v in timings.items()}
    total = float(counts.sum()) if counts is not None else 0.0
    config = run_config("betavae", _DataStandIn(src, lazy, total), dataset=dataset or src.path.stem,
                        module_kwargs=module.init_kwargs, settings=settings, train=train,
                        label_key=label_key, data={"batch_key": None, "batch_categories": [],
                                                   "backed": str(src.path),
                                                   "preprocess": lazy.uns()})
    out = Path(run_dir) if run_dir else new_run_dir("betavae", config["data"]["name"], runs_root)
    save_run(out, config=config, metrics=metrics, history=result.history, module=module,
             latent=latent, arrays=arrays)
    src.close()
    return load_run(out)


def _score(src: BackedCounts, counts: sp.csr_matrix | None, lazy: LazyPreprocess,
           latent: np.ndarray, labels: np.ndarray | None, score_cells: int,
           timings: dict[str, float], progress: Progress | None) -> tuple[dict, dict]:
    """Streamed PCA of every cell, then clustering scores on a stratified subsample."""
    if progress is not None:
        progress.set_phase("metrics", 1, "PCA baseline (streamed) and clustering scores")
    t0 = time.perf_counter()

    def log1p_chunks():
        if counts is not None:
            for s in range(0, counts.shape[0], CHUNK_ROWS):
                yield lazy.log1p(counts[s:s + CHUNK_ROWS])
        else:
            for _, block in src.chunks():
                yield lazy.log1p(block)

    pcs = pca_streamed(log1p_chunks, lazy.mean, lazy.std, latent.shape[1])
    timings["pca_s"] = time.perf_counter() - t0
    arrays: dict[str, np.ndarray] = {"pca": pcs}
    metrics: dict[str, Any] = {}
    if labels is not None and len(set(map(str, labels))) > 1:
        t0 = time.perf_counter()
        idx = stratified_subsample(len(latent), score_cells, labels)
        metrics, _ = compare_embeddings({"vae": latent[idx], "pca": pcs[idx]}, labels[idx])
        metrics["scored_cells"] = int(len(idx))
        timings["scores_s"] = time.perf_counter() - t0
    if progress is not None:
        progress.update(1, {})
    return metrics, arrays
