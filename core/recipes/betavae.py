"""The β-VAE recipe: defaults, ``train_betavae(adata, ...) -> Run`` (used by the pages, the CLI
and the benchmarks)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.analysis.scoring import count_metrics, labels_of, score_latent
from core.errors import ConfigError
from core.models.vae import BetaVAE
from core.runs import Run, data_fingerprint, load_run, new_run_dir, save_run
from core.training.inputs import hvg_gene_weights, model_input, model_inputs
from core.training.progress import Progress
from core.training.schedules import Schedule, make_schedule, to_dict
from core.training.trainer import TrainConfig, encode_mean, fit, seed_everything

#: Defaults of the β-VAE (module settings, β schedule); tuned with benchmarks/betavae_quality.py
#: and the sweeps in benchmarks/results/betavae.md. Input dropout 0.1 (denoising) raised the
#: KMeans ARI on zeisel_cortex from 0.612 ± 0.041 to 0.643 ± 0.020 (20 seeds, paired p = 0.01)
#: and left kang_pbmc within its seed spread (−0.016, p = 0.4).
BETAVAE_DEFAULTS: dict[str, Any] = {
    "n_latent": 10,
    "hidden": [1024, 512, 256],
    "batch_norm": True,
    "dropout": 0.0,
    "input_dropout": 0.1,
    "hvg_weight": 1.0,
    "free_bits": 0.0,
    "schedule": {"name": "linear", "beta_max": 5.0, "warmup_epochs": 10},
    "likelihood": "gaussian",
    "dispersion": "gene",
}
BETAVAE_TRAIN_DEFAULTS = TrainConfig(epochs=100, batch_size=128, lr=1e-3, patience=20)
#: Settings that replace :data:`BETAVAE_DEFAULTS` for the NB/ZINB likelihoods: one hidden layer
#: of 128 with dropout 0.1 (as scVI) and β warmed up to 2, which gave the best KMeans ARI on
#: zeisel_cortex (β 1: ≈0.55, β 2: ≈0.67, β 4: ≈0.52; benchmarks/counts_zeisel.py).
#: Explicit ``model`` keys win.
COUNT_MODEL_DEFAULTS: dict[str, Any] = {
    "hidden": [128],
    "dropout": 0.1,
    "input_dropout": 0.0,
    "schedule": {"name": "linear", "beta_max": 2.0, "warmup_epochs": 10},
}


def model_defaults(likelihood: str = "gaussian") -> dict[str, Any]:
    """β-VAE settings for a likelihood: :data:`BETAVAE_DEFAULTS`, with
    :data:`COUNT_MODEL_DEFAULTS` for ``"nb"``/``"zinb"``."""
    counts = likelihood != "gaussian"
    return {**BETAVAE_DEFAULTS, **(COUNT_MODEL_DEFAULTS if counts else {}),
            "likelihood": likelihood}


def train_betavae(
    adata: Any,
    *,
    dataset: str,
    label_key: str | None = None,
    model: dict[str, Any] | None = None,
    train: TrainConfig | None = None,
    schedule: Schedule | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    batch_key: str | None = None,
) -> Run:
    """Train a β-VAE on ``adata.X``, score it against PCA, and save a run folder.

    Parameters
    ----------
    adata
        Preprocessed AnnData; ``X`` is what the model reconstructs.
    dataset
        Dataset name recorded in the run.
    label_key
        obs column used for ARI/NMI (optional).
    model
        Overrides of :data:`BETAVAE_DEFAULTS` (``n_latent``, ``hidden``, ``dropout``,
        ``input_dropout``, ``batch_norm``, ``hvg_weight``, ``free_bits``, ``schedule``,
        ``likelihood``
        ``"gaussian"``/``"nb"``/``"zinb"``, ``dispersion`` ``"gene"``/``"gene-batch"``).
        NB/ZINB read raw counts (``layers['counts']``, or X when it holds counts).
    train
        Optimisation settings (default :data:`BETAVAE_TRAIN_DEFAULTS`).
    schedule
        β schedule; default built from ``model['schedule']``.
    run_dir, runs_root
        Where to write the run (a new folder under ``runs_root`` by default).
    progress, cancel
        From the background job.
    batch_key
        obs column one-hot encoded into encoder and decoder (optional); adds
        ``batch_mixing_entropy_vae``/``_pca`` to the metrics.

    Returns
    -------
    Run
        The saved run (``metrics`` holds ``ari_kmeans_vae``, ``ari_kmeans_pca``, ...).
    """
    settings = {**model_defaults((model or {}).get("likelihood", "gaussian")), **(model or {})}
    train = train or replace(BETAVAE_TRAIN_DEFAULTS)
    if schedule is None:
        spec = dict(settings["schedule"])
        name = spec.pop("name")
        if name == "cyclical":
            spec.setdefault("total_epochs", train.epochs)
        schedule = make_schedule(name, **spec)
    settings["schedule"] = to_dict(schedule)
    x = model_input(adata)
    labels = labels_of(adata, label_key)
    inputs = model_inputs(adata, x, likelihood=settings["likelihood"], batch_key=batch_key)
    weights = hvg_gene_weights(adata, float(settings["hvg_weight"]))
    seed_everything(train.seed)
    module = BetaVAE(adata.n_vars, settings["n_latent"], settings["hidden"],
                     batch_norm=settings["batch_norm"], dropout=settings["dropout"],
                     input_dropout=float(settings["input_dropout"]),
                     gene_weights=weights, likelihood=settings["likelihood"],
                     n_batch=inputs.n_batch, dispersion=settings["dispersion"])
    result = fit(module, inputs.data, config=train, schedule=schedule, progress=progress,
                 cancel=cancel, loss_kwargs={"free_bits": float(settings["free_bits"])})
    if result.n_epochs_run == 0:
        raise ConfigError(result.message or "Training stopped before the first epoch ended.")
    latent = encode_mean(module, inputs.encoder_input, device=result.device,
                         **inputs.encode_extra)
    metrics, arrays = score_latent(x, latent, labels, progress=progress)
    metrics.update(count_metrics(module, inputs, result, latent, arrays.get("pca")))
    last = result.history.iloc[-1].to_dict()
    metrics.update(
        n_epochs_run=result.n_epochs_run, best_epoch=result.best_epoch,
        train_seconds=result.train_seconds, device=result.device, stopped=result.stopped,
        message=result.message, final_train_loss=last.get("train_loss"),
        final_val_loss=last.get("val_loss"),
    )
    config = {
        "model": "betavae",
        "module": module.init_kwargs,
        "settings": settings,
        "train": train.to_dict(),
        "seed": train.seed,
        "data": {"name": dataset, "fingerprint": data_fingerprint(adata), "n_obs": adata.n_obs,
                 "n_vars": adata.n_vars, "label_key": label_key, "batch_key": batch_key,
                 "batch_categories": inputs.batch_categories},
    }
    path = Path(run_dir) if run_dir else new_run_dir("betavae", dataset, runs_root)
    save_run(path, config=config, metrics=metrics, history=result.history, module=module,
             latent=latent, arrays=arrays)
    return load_run(path)


