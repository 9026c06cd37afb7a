"""End-to-end recipes used by the pages, the CLI and the benchmarks (no streamlit here)."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from core.errors import ConfigError, DataError
from core.training.progress import Progress
from core.training.runs import Run, load_run, new_run_dir, save_run
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


def model_input(adata: Any) -> np.ndarray | sp.csr_matrix:
    """``adata.X`` as float32 (CSR when sparse), checked finite."""
    x = adata.X
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)
        values = x.data
    else:
        x = np.asarray(x, dtype=np.float32)
        values = x
    if not np.isfinite(values).all():
        raise DataError("The expression matrix has NaN or Inf values; re-run preprocessing.")
    return x


def data_fingerprint(adata: Any) -> str:
    """Short hash of shape, names and values, tying runs to the data they were trained on."""
    h = hashlib.sha1()
    h.update(f"{adata.n_obs}x{adata.n_vars}".encode())
    h.update("\x00".join(map(str, adata.obs_names)).encode())
    h.update("\x00".join(map(str, adata.var_names)).encode())
    x = adata.X
    total = float(x.sum()) if x is not None else 0.0
    h.update(f"{total:.6g}".encode())
    return h.hexdigest()[:12]


def run_matches(run: Run, adata: Any) -> bool:
    """Whether ``run`` was trained on exactly this data (same fingerprint)."""
    return run.config.get("data", {}).get("fingerprint") == data_fingerprint(adata)


def hvg_gene_weights(adata: Any, factor: float) -> np.ndarray | None:
    """Per-gene weights: ``factor`` for highly variable genes, 1 otherwise (None if unused)."""
    if factor == 1.0 or "highly_variable" not in adata.var:
        return None
    hv = adata.var["highly_variable"].to_numpy(dtype=bool)
    if hv.all():
        return None
    return np.where(hv, float(factor), 1.0).astype(np.float32)


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
    from core.analysis.embeddings import pca
    from core.analysis.metrics import compare_embeddings

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
    from core.models.vae import BetaVAE
    from core.training.counts import count_metrics, model_inputs

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
    try:   # a scoring failure must not lose the trained model (issue 19, item 4)
        metrics, arrays = score_latent(x, latent, labels, progress=progress)
        metrics.update(count_metrics(module, inputs, result, latent, arrays.get("pca")))
        message = result.message
    except Exception as exc:  # noqa: BLE001 - any failure: keep the run, say why
        logging.getLogger("scvae").error("Scoring the latent failed", exc_info=exc)
        metrics, arrays = {}, {}
        message = (f"{result.message} The model was saved but scoring its latent failed "
                   f"({type(exc).__name__}: {str(exc)[:120]}).").strip()
    last = result.history.iloc[-1].to_dict()
    metrics.update(
        n_epochs_run=result.n_epochs_run, best_epoch=result.best_epoch,
        train_seconds=result.train_seconds, device=result.device, stopped=result.stopped,
        message=message, final_train_loss=last.get("train_loss"),
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


def annotate_adata(adata: Any, run: Run, *, key: str = "vae") -> Any:
    """A copy of ``adata`` with the run's results written in (this helper does mutate the copy).

    Writes ``obsm['X_<key>']`` (latent means), ``obsm['X_pca']`` (the baseline PCA, when
    stored), ``obsm['X_umap']`` (when ``run.arrays`` has ``umap``), ``obs['<key>_kmeans']`` /
    ``obs['<key>_leiden']`` clusters and ``uns['<key>']['params']`` (the run config). For a
    TF-VAE run (``key="tfvae"``) the latent columns are TF activities and
    ``uns['<key>']['tf_names']`` names them, in order.
    """
    import json

    out = adata.copy()
    if run.latent is None or run.latent.shape[0] != out.n_obs:
        raise DataError("This run does not match the loaded data (different number of cells).")
    out.obsm[f"X_{key}"] = run.latent
    if "pca" in run.arrays:
        out.obsm["X_pca"] = run.arrays["pca"]
    if "umap" in run.arrays:
        out.obsm["X_umap"] = run.arrays["umap"]
    for method in ("kmeans", "leiden"):
        lab = run.arrays.get(f"clusters_{method}_vae")
        if lab is not None:
            out.obs[f"{key}_{method}"] = lab.astype(str)
            out.obs[f"{key}_{method}"] = out.obs[f"{key}_{method}"].astype("category")
    # h5ad cannot store None; a JSON round trip with None → "None" keeps every setting.
    params = json.loads(json.dumps(run.config, default=str).replace("null", '"None"'))
    out.uns[key] = {"params": params, "metrics": {k: v for k, v in run.metrics.items()
                                                  if isinstance(v, (int, float, str))}}
    if run.config.get("tfs"):
        out.uns[key]["tf_names"] = [str(t) for t in run.config["tfs"]]
    return out
