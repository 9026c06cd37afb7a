"""The β-VAE recipe: defaults, ``train_betavae(adata, ...) -> Run`` (used by the pages, the CLI
and the benchmarks)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.analysis.scoring import count_metrics, labels_of, score_latent
from core.errors import ConfigError
from core.models.likelihoods import DISPERSIONS, LIKELIHOODS
from core.models.vae import DENOISING_INPUT_DROPOUT, BetaVAE
from core.recipes.durable import durable_fit
from core.runs import Run, begin_run, end_run, load_run, run_config, save_run
from core.training.inputs import hvg_gene_weights, model_input, model_inputs
from core.training.progress import Progress
from core.training.schedules import Schedule, make_schedule, to_dict
from core.training.settings import Settings, between, one_of
from core.training.trainer import TrainConfig, TrainResult, encode_mean, fit, seed_everything

#: The β schedule of the Gaussian β-VAE: linear warm-up of β to 5 over 10 epochs.
_SCHEDULE = {"name": "linear", "beta_max": 5.0, "warmup_epochs": 10}


@dataclass(frozen=True)
class BetaVAESettings(Settings):
    """Settings of the β-VAE recipe (module shape, likelihood, β schedule).

    Defaults tuned with benchmarks/betavae_quality.py and the sweeps in
    benchmarks/results/betavae.md. ``input_dropout`` defaults to
    :data:`core.models.vae.DENOISING_INPUT_DROPOUT` (its evidence is there). ``mmd_weight``
    (with a batch covariate) adds a batch MMD of μ to the loss; it is off because on the panel
    it erased stimulation biology on kang_pbmc (benchmarks/results/panel_batch_attempts.json).
    ``encode_batch=False`` gives the batch one-hot to the decoder only (scVI's
    ``encode_covariates=False``); it stays opt-in: +0.012 total on kang_pbmc, −0.007 on
    symphony_pbmc, −0.001 on papalexi_controls (same file).
    """

    TITLE = "the β-VAE"

    n_latent: int = between(10, 1, 4096)
    hidden: tuple[int, ...] = (1024, 512, 256)
    batch_norm: bool = True
    dropout: float = between(0.0, 0.0, 1.0, high_open=True)
    input_dropout: float = between(DENOISING_INPUT_DROPOUT, 0.0, 1.0, high_open=True)
    hvg_weight: float = between(1.0, 0.0)
    free_bits: float = between(0.0, 0.0)
    mmd_weight: float = between(0.0, 0.0)
    encode_batch: bool = True
    schedule: dict[str, Any] = field(default_factory=lambda: dict(_SCHEDULE))
    likelihood: str = one_of("gaussian", LIKELIHOODS)
    dispersion: str = one_of("gene", DISPERSIONS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"hidden must be one or more positive layer widths; "
                              f"got {list(self.hidden)}.")
        if "name" not in self.schedule:
            raise ConfigError("schedule needs a 'name' (constant, linear, reference, cyclical).")

    @classmethod
    def for_likelihood(cls, likelihood: str = "gaussian",
                       overrides: dict[str, Any] | None = None) -> BetaVAESettings:
        """The defaults for ``likelihood`` (:data:`COUNT_MODEL_DEFAULTS` for NB/ZINB), then
        ``overrides`` (explicit keys win)."""
        counts = likelihood != "gaussian"
        base = cls.from_dict({**(COUNT_MODEL_DEFAULTS if counts else {}),
                              "likelihood": likelihood})
        return cls.from_dict(overrides, base=base)


BETAVAE_TRAIN_DEFAULTS = TrainConfig(epochs=100, batch_size=128, lr=1e-3, patience=20)
#: Settings that replace the β-VAE defaults for the NB/ZINB likelihoods: one hidden layer
#: of 128 with dropout 0.1 (as scVI) and β warmed up to 1.5. β 2 gave the best KMeans ARI on
#: zeisel_cortex (β 1: ≈0.55, β 2: ≈0.67, β 4: ≈0.52; benchmarks/counts_zeisel.py), but on the
#: scIB panel (benchmarks/results/panel_nb_beta.json, CPU, 3 seeds) β 1.5 keeps
#: zeisel_cortex's bio conservation (0.7275 at both, PCA 0.719; KMeans ARI 0.673 → 0.582) and
#: lifts papalexi_controls' total from 0.416 to 0.431, above Harmony's 0.427; β 1.25 and
#: below cost zeisel_cortex its margin over PCA on some seeds.
#: Explicit ``model`` keys win.
COUNT_MODEL_DEFAULTS: dict[str, Any] = {
    "hidden": [128],
    "dropout": 0.1,
    "input_dropout": 0.0,
    "schedule": {"name": "linear", "beta_max": 1.5, "warmup_epochs": 10},
}
#: The Gaussian defaults as a dict (what the pages and benchmarks read).
BETAVAE_DEFAULTS: dict[str, Any] = BetaVAESettings().to_dict()


def model_defaults(likelihood: str = "gaussian") -> dict[str, Any]:
    """β-VAE settings for a likelihood as a dict: the defaults, with
    :data:`COUNT_MODEL_DEFAULTS` for ``"nb"``/``"zinb"``."""
    return BetaVAESettings.for_likelihood(likelihood).to_dict()


def loss_kwargs_of(settings: dict[str, Any]) -> dict[str, float]:
    """The β-VAE loss's keyword arguments from its settings (free bits, batch MMD weight)."""
    return {"free_bits": float(settings["free_bits"]),
            "mmd_weight": float(settings["mmd_weight"])}


def _schedule_of(settings: dict[str, Any], epochs: int) -> Schedule:
    """The β schedule described by ``settings['schedule']`` (a cyclical one spans ``epochs``)."""
    spec = dict(settings["schedule"])
    name = spec.pop("name")
    if name == "cyclical":
        spec.setdefault("total_epochs", epochs)
    return make_schedule(name, **spec)


def training_summary(result: TrainResult, *, note: str | None = None) -> dict[str, Any]:
    """The metrics every single-phase run records about its training (``note`` is added to
    the trainer's message, e.g. why the scores are missing)."""
    last = result.history.iloc[-1].to_dict()
    message = f"{result.message or ''} {note}".strip() if note else result.message
    return {"n_epochs_run": result.n_epochs_run, "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds, "device": result.device,
            "devices": result.devices,
            "stopped": result.stopped, "message": message,
            "final_train_loss": last.get("train_loss"), "final_val_loss": last.get("val_loss")}


def _score(module: BetaVAE, inputs: Any, result: TrainResult, x: Any, latent: Any,
           labels: Any, progress: Progress | None) -> tuple[dict, dict, str | None]:
    """``(metrics, arrays, failure)``: the latent scored against PCA (and count metrics).

    A scoring failure must not lose the trained model (issue 19, item 4): it is logged with
    its traceback on the server, and ``failure`` says in one line why the metrics are missing.
    """
    try:
        metrics, arrays = score_latent(x, latent, labels, progress=progress)
        metrics.update(count_metrics(module, inputs, result, latent, arrays.get("pca")))
    except Exception as exc:  # noqa: BLE001 - any failure: keep the run, say why
        logging.getLogger("scvae").error("Scoring the latent failed", exc_info=exc)
        return {}, {}, ("The model was saved but scoring its latent failed "
                        f"({type(exc).__name__}: {str(exc)[:120]}).")
    return metrics, arrays, None


def build_module(settings: dict[str, Any], n_vars: int, seed: int, *,
                 gene_weights: Any = None, n_batch: int = 0) -> BetaVAE:
    """The seeded :class:`BetaVAE` of resolved ``settings`` for ``n_vars`` genes."""
    seed_everything(seed)
    return BetaVAE(n_vars, settings["n_latent"], settings["hidden"],
                   batch_norm=settings["batch_norm"], dropout=settings["dropout"],
                   input_dropout=float(settings["input_dropout"]),
                   gene_weights=gene_weights, likelihood=settings["likelihood"],
                   n_batch=n_batch, dispersion=settings["dispersion"],
                   encode_batch=settings["encode_batch"])


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
    checkpoint_every: int | None = None,
    resume: bool = False,
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
        Overrides of :data:`BETAVAE_DEFAULTS` (:class:`BetaVAESettings` fields, e.g.
        ``likelihood`` gaussian/nb/zinb; NB/ZINB read raw counts from ``layers['counts']``).
    train, schedule
        Optimisation settings (:data:`BETAVAE_TRAIN_DEFAULTS`); β schedule (``model['schedule']``).
    run_dir, runs_root, progress, cancel
        Where to write the run (a new folder under ``runs_root`` by default); from the job.
    batch_key
        obs column one-hot encoded into encoder and decoder (optional); adds
        ``batch_mixing_entropy_vae``/``_pca`` to the metrics.
    checkpoint_every, resume
        Checkpoint every ``checkpoint_every`` epochs (5) and at cancel (which raises
        :class:`~core.errors.Cancelled`, the folder left unfinished); ``resume`` continues
        ``run_dir``'s checkpoint (:func:`core.recipes.durable.durable_fit`).

    Returns
    -------
    Run
        The saved run (``metrics`` holds ``ari_kmeans_vae``, ``ari_kmeans_pca``, ...).
    """
    started = time.perf_counter()  # total_seconds: what the user waited, scoring included
    settings = BetaVAESettings.for_likelihood((model or {}).get("likelihood", "gaussian"),
                                              model).to_dict()
    train = train or replace(BETAVAE_TRAIN_DEFAULTS)
    schedule = schedule or _schedule_of(settings, train.epochs)
    settings["schedule"] = to_dict(schedule)
    x = model_input(adata)
    labels = labels_of(adata, label_key)
    inputs = model_inputs(adata, x, likelihood=settings["likelihood"], batch_key=batch_key)
    weights = hvg_gene_weights(adata, float(settings["hvg_weight"]))
    module = build_module(settings, adata.n_vars, train.seed, gene_weights=weights,
                          n_batch=inputs.n_batch)
    path = begin_run("betavae", dataset, run_dir=run_dir, runs_root=runs_root,
                     n_epochs=train.epochs, resume=resume)
    result = durable_fit(path, lambda ckpt: fit(
        module, inputs.data, config=train, schedule=schedule, progress=progress, cancel=cancel,
        loss_kwargs=loss_kwargs_of(settings), checkpoint=ckpt),
        every=checkpoint_every, resume=resume, created=run_dir is None)
    if result.n_epochs_run == 0:
        raise ConfigError(result.message or "Training stopped before the first epoch ended.")
    latent = encode_mean(module, inputs.encoder_input, device=result.device,
                         **inputs.encode_extra)
    metrics, arrays, failure = _score(module, inputs, result, x, latent, labels, progress)
    metrics.update(training_summary(result, note=failure))
    config = run_config("betavae", adata, dataset=dataset, module_kwargs=module.init_kwargs,
                        settings=settings, train=train, label_key=label_key,
                        data={"batch_key": batch_key,
                              "batch_categories": inputs.batch_categories})
    metrics["total_seconds"] = time.perf_counter() - started
    save_run(path, config=config, metrics=metrics, history=result.history, module=module,
             latent=latent, arrays=arrays)
    end_run(path)
    return load_run(path)

