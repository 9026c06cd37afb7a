"""scGen recipe (DESIGN §5): train a VAE without one type's stimulated cells, predict them.

The module is :class:`core.models.vae.BetaVAE` with scGen's own defaults and the training loop
is :func:`core.training.trainer.fit`. The model reads **log-normalised** expression
(``layers['log1p']``, see :func:`core.analysis.scgen.log_expression`), not the scaled ``X``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis import scgen as sg
from core.errors import ConfigError
from core.models.vae import BetaVAE
from core.runs import Run, load_run, new_run_dir, run_config, save_run
from core.training.progress import Progress
from core.training.schedules import Constant
from core.training.settings import Settings, between
from core.training.trainer import TrainConfig, TrainResult, encode_mean, fit, predict


#: scGen's published architecture: latent 100, two hidden layers of 800, dropout 0.2, KL weight
#: 5e-5, here **without BatchNorm**. On kang_pbmc (1,975 cells; 5 seeds x 7 held-out types with
#: benchmarks/sweeps, results in benchmarks/results/scgen_sweep.json) BatchNorm was what held
#: scGen back: CD4T held out, R² all genes / top-100 DEGs 0.886 / 0.858 with BatchNorm and hidden
#: [512], 0.951 / 0.935 without it, 0.959 / 0.955 without it at 800-800; mean top-100 over the 7
#: types 0.913 ([512]) and 0.940 (800-800) vs 0.847 for the gene-space mean shift. Why was not
#: isolated; the likely cause is the gap between training on the statistics of batches of 32
#: cells of mixed type and condition and predicting with the running averages.
#: (scGen's loss is 0.5·SSE + α·KL and BetaVAE's SSE + β·KL, so β = 5e-5 is half scGen's
#: relative weight: both make the model nearly an autoencoder. ReLU instead of LeakyReLU.)
@dataclass(frozen=True)
class ScgenSettings(Settings):
    """Settings of the scGen recipe (see the evidence above)."""

    TITLE = "scGen"

    n_latent: int = between(100, 1, 4096)
    hidden: tuple[int, ...] = (800, 800)
    batch_norm: bool = False
    dropout: float = between(0.2, 0.0, 1.0, high_open=True)
    kl_weight: float = between(5e-5, 0.0)


#: The defaults as a dict (what the Predict page and the benchmarks read).
SCGEN_DEFAULTS: dict[str, Any] = ScgenSettings().to_dict()
#: scGen's optimisation: Adam lr 1e-3, batch 32, up to 100 epochs with early stopping on 10%
#: validation cells (patience 10: on kang_pbmc the validation loss flattens by epoch 50-60).
SCGEN_TRAIN_DEFAULTS = TrainConfig(epochs=100, batch_size=32, lr=1e-3, patience=10,
                                   val_fraction=0.1)


@dataclass
class ScgenResult:
    """One held-out prediction: the prediction, its scores and everything needed to save it."""

    spec: sg.ScgenSpec
    split: sg.CellSplit
    predicted: np.ndarray
    delta: np.ndarray
    latent: np.ndarray
    scores: dict[str, dict[str, float]]
    genes: pd.DataFrame
    train: TrainResult
    module: torch.nn.Module
    settings: dict[str, Any]
    #: Predictions of the other variant and the baselines, by method name.
    others: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        """The default predictor's scores (``method``), ``baselines``, ``variants``, facts."""
        t = self.train
        return {**self.scores[sg.DEFAULT_METHOD], "method": sg.DEFAULT_METHOD,
                "baselines": {m: s for m, s in self.scores.items() if m in sg.BASELINES},
                "variants": {m: s for m, s in self.scores.items()
                             if m not in sg.BASELINES and m != sg.DEFAULT_METHOD},
                "holdout": self.spec.holdout, "n_train_cells": len(self.split.train_idx),
                "n_holdout_control": len(self.split.holdout_ctrl_idx),
                "n_holdout_stimulated": len(self.split.holdout_stim_idx),
                "n_epochs_run": t.n_epochs_run, "best_epoch": t.best_epoch,
                "train_seconds": t.train_seconds, "device": t.device, "stopped": t.stopped,
                "message": t.message}


def fit_predict(adata: Any, spec: sg.ScgenSpec, *, model: dict[str, Any] | None = None,
                train: TrainConfig | None = None, progress: Progress | None = None,
                cancel: threading.Event | None = None, phase: str = "train",
                x: np.ndarray | None = None) -> ScgenResult:
    """Train scGen without the held-out stimulated cells, predict them and score everything.

    Parameters
    ----------
    adata
        Preprocessed AnnData; the model reads ``layers['log1p']`` (log-normalised), not ``X``.
    spec
        Condition column/values, cell-type column and held-out type.
    model
        Overrides of :data:`SCGEN_DEFAULTS`.
    train
        Optimisation settings (default :data:`SCGEN_TRAIN_DEFAULTS`).
    progress, cancel, phase
        Passed to :func:`~core.training.trainer.fit`.
    x
        The log-normalised matrix when the caller already has it (saves a copy per type).

    Returns
    -------
    ScgenResult
        Predicted cells of the default predictor (:data:`~core.analysis.scgen.DEFAULT_METHOD`;
        rows = the held-out type's control cells, clipped at 0 like the log-normalised data),
        δ, latent means of all cells, scores of every variant and baseline.
    """

    settings = ScgenSettings.from_dict(model).to_dict()
    train = train or replace(SCGEN_TRAIN_DEFAULTS)
    x = sg.log_expression(adata) if x is None else x
    obs = adata.obs
    split = sg.split_cells(obs, spec)
    torch.manual_seed(train.seed)  # the initial weights too, so a seed reproduces a run
    module = BetaVAE(x.shape[1], int(settings["n_latent"]), settings["hidden"],
                     batch_norm=bool(settings["batch_norm"]), dropout=float(settings["dropout"]),
                     input_dropout=0.0)
    # Only the training rows go to the trainer: the held-out stimulated cells never reach it.
    result = fit(module, {"x": x[split.train_idx]}, config=train,
                 schedule=Constant(float(settings["kl_weight"])), progress=progress,
                 cancel=cancel, phase=phase)
    if result.n_epochs_run == 0:
        raise ConfigError(result.message or "Training stopped before the first epoch ended.")
    if progress is not None:
        progress.note(f"{spec.holdout}: predicting and scoring")
    latent = encode_mean(module, x, device=result.device)
    ctrl_rows, stim_rows = sg.balanced_condition_sets(obs, spec, split.train_idx, seed=train.seed)
    delta = sg.mean_delta(latent, ctrl_rows, stim_rows).astype(np.float32)
    shifted = latent[split.holdout_ctrl_idx] + delta
    decoded, decoded_ctrl = (
        predict(module, {"z": z}, lambda m, b: m.decode(b["z"]), device=result.device)
        for z in (shifted, latent[split.holdout_ctrl_idx]))

    ctrl_x, real_x = x[split.holdout_ctrl_idx], x[split.holdout_stim_idx]
    predictions = {
        # The default: keep each control cell and add only the decoder's change, so the
        # decoder's reconstruction error cancels out: x_ctrl + decode(z + δ) − decode(z).
        "scgen_residual": np.maximum(ctrl_x + decoded - decoded_ctrl, 0).astype(np.float32),
        "scgen": np.maximum(decoded, 0).astype(np.float32),
        "control_unchanged": sg.control_unchanged(ctrl_x),
        "mean_shift": sg.mean_shift(ctrl_x, x, obs, spec, split.train_idx),
        "pca_delta": sg.pca_delta(ctrl_x, x, split.train_idx, ctrl_rows, stim_rows,
                                  n_components=int(settings["n_latent"]), seed=train.seed),
    }
    predicted = predictions[sg.DEFAULT_METHOD]
    degs = sg.rank_degs(ctrl_x, real_x, adata.var_names)
    top = sg.top_deg_indices(degs)
    scores = sg.score_methods(predictions, ctrl_x, real_x, top, seed=train.seed)
    genes = sg.gene_table(adata.var_names, control=ctrl_x, real=real_x, predicted=predicted,
                          degs=degs)
    others = {m: p for m, p in predictions.items() if m != sg.DEFAULT_METHOD}
    return ScgenResult(spec=spec, split=split, predicted=predicted, delta=delta, latent=latent,
                       scores=scores, genes=genes, train=result, module=module,
                       settings=settings, others=others)


def _config(adata: Any, res_settings: dict[str, Any], module_kwargs: dict[str, Any] | None,
            spec: sg.ScgenSpec, train: TrainConfig, dataset: str, mode: str) -> dict[str, Any]:
    return run_config("scgen", adata, dataset=dataset, module_kwargs=module_kwargs,
                      settings=res_settings, train=train, label_key=spec.cell_type_key,
                      mode=mode, spec=spec.to_dict(),
                      input="layers['log1p'] (log-normalised, not scaled)")


def train_scgen(adata: Any, spec: sg.ScgenSpec, *, dataset: str,
                model: dict[str, Any] | None = None, train: TrainConfig | None = None,
                run_dir: str | Path | None = None, runs_root: str | Path | None = None,
                progress: Progress | None = None,
                cancel: threading.Event | None = None) -> Run:
    """Run :func:`fit_predict` and save a run folder (model ``scgen``).

    The folder holds ``metrics.json`` (``r2_all``, ``r2_top100``, ``r2_var``,
    ``r2_var_top100``, ``energy``, ``mmd``, ``knn_mixing`` of the default predictor named by
    ``method``, ``baselines``, ``variants``), ``predicted.npy`` (the default's predicted cells),
    ``delta.npy``, the index arrays ``train_idx``/``holdout_ctrl_idx``/``holdout_stim_idx``,
    the latent of all cells, ``genes.csv`` (per-gene table) and ``scores.csv``.
    """
    train = train or replace(SCGEN_TRAIN_DEFAULTS)
    res = fit_predict(adata, spec, model=model, train=train, progress=progress, cancel=cancel)
    config = _config(adata, res.settings, res.module.init_kwargs, spec, train, dataset,
                     "single")
    path = Path(run_dir) if run_dir else new_run_dir("scgen", dataset, runs_root)
    save_run(path, config=config, metrics=res.metrics, history=res.train.history,
             module=res.module, latent=res.latent,
             arrays={"predicted": res.predicted, "delta": res.delta,
                     "train_idx": res.split.train_idx,
                     "holdout_ctrl_idx": res.split.holdout_ctrl_idx,
                     "holdout_stim_idx": res.split.holdout_stim_idx},
             tables={"genes": res.genes, "scores": sg.scores_table(res.scores)})
    return load_run(path)


def holdout_candidates(obs: pd.DataFrame, spec: sg.ScgenSpec) -> list[str]:
    """Cell types that can be held out (≥ 2 control and ≥ 2 stimulated cells), sorted."""
    out = []
    for t in sorted(obs[spec.cell_type_key].astype(str).unique()):
        try:
            sg.check_spec(obs, replace(spec, holdout=t))
        except ConfigError:
            continue
        out.append(t)
    return out


def predict_every_type(adata: Any, spec: sg.ScgenSpec, *, dataset: str,
                       model: dict[str, Any] | None = None, train: TrainConfig | None = None,
                       run_dir: str | Path | None = None, runs_root: str | Path | None = None,
                       progress: Progress | None = None,
                       cancel: threading.Event | None = None) -> Run:
    """Hold out every cell type in turn (a fresh model each time); save one summary run.

    ``spec.holdout`` is ignored. The run's ``per_type.csv`` has one row per (held-out type,
    method) with every score of :data:`~core.analysis.scgen.SCORE_TITLES`; ``metrics.json``
    holds the mean of each score per method. The predictions of every type are stacked in
    ``predicted.npy`` (one row per control cell of a finished type, in the order of
    ``holdout_ctrl_idx.npy``; ``holdout_stim_idx.npy`` lists the real stimulated cells), so
    :func:`prediction_adata` works on this run too. Cancelling keeps the types already finished.
    """
    train = train or replace(SCGEN_TRAIN_DEFAULTS)
    x = sg.log_expression(adata)
    types = holdout_candidates(adata.obs, spec)
    if not types:
        raise ConfigError("No cell type has at least 2 control and 2 stimulated cells.")
    rows: list[dict[str, Any]] = []
    history = []
    settings: dict[str, Any] = {}
    stacked: dict[str, list[np.ndarray]] = {"predicted": [], "holdout_ctrl_idx": [],
                                            "holdout_stim_idx": []}
    for t in types:
        if cancel is not None and cancel.is_set():
            break
        res = fit_predict(adata, replace(spec, holdout=t), model=model, train=train,
                          progress=progress, cancel=cancel, phase=t, x=x)
        settings = res.settings
        if res.train.stopped == "cancelled":
            break
        history.append(res.train.history)
        stacked["predicted"].append(res.predicted)
        stacked["holdout_ctrl_idx"].append(res.split.holdout_ctrl_idx)
        stacked["holdout_stim_idx"].append(res.split.holdout_stim_idx)
        for method, s in res.scores.items():
            rows.append({"holdout": t, "method": method, **s,
                         "n_epochs_run": res.train.n_epochs_run})
    if not rows:
        raise ConfigError("Cancelled before the first cell type finished.")
    per_type = pd.DataFrame(rows)
    means = per_type.groupby("method")[[k for k in sg.SCORE_TITLES if k in per_type]].mean()
    metrics = {"types": sorted(per_type["holdout"].unique()), "complete": len(
        per_type["holdout"].unique()) == len(types),
        "mean": {m: means.loc[m].to_dict() for m in means.index}, "method": sg.DEFAULT_METHOD}
    config = _config(adata, settings or ScgenSettings.from_dict(model).to_dict(), None, spec, train,
                     dataset, "every_type")
    path = Path(run_dir) if run_dir else new_run_dir("scgen", dataset, runs_root)
    save_run(path, config=config, metrics=metrics, history=pd.concat(history, ignore_index=True),
             arrays={k: np.concatenate(v) for k, v in stacked.items()},
             tables={"per_type": per_type})
    return load_run(path)


def prediction_adata(adata: Any, run: Run) -> Any:
    """AnnData of the held-out type's control, real stimulated and predicted cells stacked.

    ``obs['group']`` is ``control``/``real stimulated``/``predicted`` and the cell-type column
    of the run's spec holds each cell's type (a predicted cell has its control cell's type); X
    is log-normalised; ``uns['scgen']`` holds the spec and the scores. For a "predict every
    cell type" run the rows cover every finished type. Builds a new object (``adata``
    untouched).
    """
    import anndata

    ctrl = run.arrays["holdout_ctrl_idx"]
    stim = run.arrays["holdout_stim_idx"]
    x = sg.log_expression(adata)
    pred = run.arrays["predicted"]
    groups = (["control"] * len(ctrl) + ["real stimulated"] * len(stim)
              + ["predicted"] * len(pred))
    names = ([str(adata.obs_names[i]) for i in ctrl] + [str(adata.obs_names[i]) for i in stim]
             + [f"{adata.obs_names[i]}-pred" for i in ctrl])
    obs = pd.DataFrame({"group": pd.Categorical(groups, categories=[
        "control", "real stimulated", "predicted"])}, index=names)
    type_key = run.config.get("spec", {}).get("cell_type_key")
    if type_key in adata.obs:
        types = adata.obs[type_key].astype(str).to_numpy()
        obs[type_key] = pd.Categorical(np.concatenate([types[ctrl], types[stim], types[ctrl]]))
    out = anndata.AnnData(X=np.vstack([x[ctrl], x[stim], pred]).astype(np.float32), obs=obs,
                          var=pd.DataFrame(index=adata.var_names.copy()))
    scores = {k: v for k, v in run.metrics.items() if isinstance(v, (int, float, str))}
    out.uns["scgen"] = {"spec": run.config.get("spec", {}), "scores": scores}
    return out
