"""The TF-VAE recipe (DESIGN §3) as one function with named phases, each a call to ``fit``.

Phases (as shown in the progress view):

``encoder``          (a) μ of each TF unit regresses onto that TF's own scaled expression.
``decoder_dense``    (b) dense decoder from observed TF expression, with an L1 penalty α.
``masking``          (c) keep the top p% |w| of TF→TF and of TF→gene (learned masks only).
``decoder_masked``   (d) retrain the masked decoder, lr 1e-3 …
``decoder_masked_fine``  … then lr 1e-4.
``vae``              (e) end-to-end VAE with a β schedule and the TF-alignment term.
``metrics``          latent scores beside PCA.

With ``mask_source="prior"`` phases (b) and (c) are skipped: masks come from a TF→target table.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.analysis.network import edges_from_module, prior_overlap
from core.analysis.scoring import labels_of, score_latent
from core.data.tfs import DEFAULT_PRIOR, DEFAULT_TF_LIST, guess_species, load_prior, load_tf_list
from core.errors import ConfigError, DataError
from core.models.tfvae import TFVAE
from core.runs import Run, data_fingerprint, load_run, new_run_dir, save_run
from core.training.inputs import heldout_terms, model_input, model_inputs
from core.training.progress import Progress
from core.training.schedules import make_schedule, to_dict
from core.training.trainer import TrainConfig, encode_mean, fit, predict, split_indices

MASK_SOURCES = ("learned", "prior", "both")
MIN_TFS = 5
GROUND_TRUTH = "ground_truth"

#: Defaults; the epoch counts finish in a few minutes on kang_pbmc on CPU.
TFVAE_DEFAULTS: dict[str, Any] = {
    "tf_list": None,            # None: the dataset's own (uns['tf_names']) or by species
    "max_tfs": 200,
    "hidden": [512, 256],
    "tf_dropout": 0.7,
    "gene_dropout": 0.0,        # reference 0.5 on x̂; see TFVAE's notes
    "mask_source": "learned",
    "mask_sparsity": 10.0,      # percent of weights kept per masked layer
    "prior": None,              # None: ground truth when simulated, else DoRothEA by species
    "prior_confidence": "ABC",
    "l1": 10.0,
    "align_weight": 1.0,
    "tf_consistency": 1.0,      # weight of TFVAE.tf_consistency in phases (b) and (d)
    "epochs_encoder": 30,
    "epochs_decoder": 40,
    "epochs_masked": 20,
    "epochs_masked_fine": 20,
    "epochs_vae": 40,
    "lr_decoder": 1e-2,         # reference 1e-4; 1e-2 converges within the CPU budget
    "schedule": {"name": "reference", "scale": 1e-7, "cap": 20},
    "likelihood": "gaussian",   # or "nb"/"zinb" on raw counts (layers['counts'])
}
TFVAE_TRAIN_DEFAULTS = TrainConfig(epochs=1, batch_size=128, lr=1e-3, patience=None)


def phases_of(mask_source: str) -> list[str]:
    """Phase names the progress view shows for a mask source."""
    learned = ["decoder_dense", "masking"] if mask_source != "prior" else []
    return ["encoder", *learned, "decoder_masked", "decoder_masked_fine", "vae", "metrics"]


def select_tfs(adata: Any, tf_list: str | Path | list[str] | None = None, *,
               max_tfs: int | None = 200, min_tfs: int = MIN_TFS) -> tuple[list[str], str]:
    """TFs of the chosen list that are genes of ``adata``, most variable first, capped.

    Parameters
    ----------
    adata
        Preprocessed AnnData (variance read from ``layers['log1p']`` when present).
    tf_list
        A bundled list name, a file path, a list of symbols, or ``None``: the dataset's own
        ``uns['tf_names']`` (simulated data) or the default list of the guessed species.
    max_tfs
        Keep at most this many (``None``: all).
    min_tfs
        Fewer matches than this is a :class:`DataError` saying how many matched.

    Returns
    -------
    (list of str, str)
        The TF names and a description of the list used.
    """
    import scipy.sparse as sp


    if tf_list is None and "tf_names" in adata.uns:
        names, label = [str(t) for t in adata.uns["tf_names"]], "the dataset's TFs"
    elif isinstance(tf_list, (list, tuple)):
        names, label = [str(t) for t in tf_list], "the given TFs"
    else:
        key = tf_list or DEFAULT_TF_LIST[guess_species(adata.var_names)]
        names, label = load_tf_list(key), f"TF list '{Path(str(key)).name}'"
    genes = {g: i for i, g in enumerate(map(str, adata.var_names))}
    found = [t for t in dict.fromkeys(names) if t in genes]
    if len(found) < min_tfs:
        raise DataError(
            f"Only {len(found)} of the {adata.n_vars} genes are in {label} ({len(names)} TFs); "
            f"the TF-VAE needs at least {min_tfs}. Pick the list for the right species or "
            "upload a TF list whose symbols match the gene names."
        )
    x = adata.layers["log1p"] if "log1p" in adata.layers else adata.X
    cols = x[:, [genes[t] for t in found]]
    cols = cols.toarray() if sp.issparse(cols) else np.asarray(cols)
    order = np.argsort(-cols.var(0), kind="stable")
    found = [found[i] for i in order]
    if max_tfs:
        found = found[:int(max_tfs)]
    return found, label


def resolve_prior(adata: Any, prior: str | Path | pd.DataFrame | None, *,
                  confidence: str = "ABC") -> tuple[pd.DataFrame, str]:
    """The prior TF→target table and its label.

    ``None`` means the simulator's ground truth when ``adata.uns`` holds one, else DoRothEA
    for the guessed species; ``"ground_truth"`` asks for the simulator's network explicitly.
    """

    if isinstance(prior, pd.DataFrame):
        return prior, "the given table"
    if prior in (None, GROUND_TRUTH) and "true_network" in adata.uns:
        return pd.DataFrame(adata.uns["true_network"])[["source", "target", "sign"]], (
            "simulated ground truth")
    if prior == GROUND_TRUTH:
        raise DataError("This dataset has no simulated ground-truth network.")
    key = prior or DEFAULT_PRIOR[guess_species(adata.var_names)]
    return load_prior(key, confidence=confidence), Path(str(key)).name


def top_fraction_mask(weights: np.ndarray, percent: float,
                      candidates: np.ndarray | None = None) -> np.ndarray:
    """Binary mask keeping exactly ``round(percent/100 · n_candidates)`` largest |w|.

    Ties are broken by position (stable), so the count is always exact.
    """
    if not 0 < percent <= 100:
        raise ConfigError("mask sparsity must be a percentage in (0, 100].")
    w = np.abs(np.asarray(weights, dtype=float))
    cand = np.ones(w.shape, dtype=bool) if candidates is None else np.asarray(candidates, bool)
    flat = np.flatnonzero(cand)
    k = int(round(percent / 100.0 * len(flat)))
    keep = flat[np.argsort(-w.ravel()[flat], kind="stable")[:k]]
    mask = np.zeros(w.size, dtype=np.float32)
    mask[keep] = 1.0
    return mask.reshape(w.shape)


def prior_masks(prior: pd.DataFrame, tf_names: list[str], gene_names: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """(TF→TF, TF→gene) masks from a prior; rows are targets, columns source TFs."""
    ti = {t: i for i, t in enumerate(tf_names)}
    gi = {g: i for i, g in enumerate(gene_names)}
    tt = np.zeros((len(tf_names), len(tf_names)), dtype=np.float32)
    tg = np.zeros((len(gene_names), len(tf_names)), dtype=np.float32)
    for s, t in zip(prior["source"].astype(str), prior["target"].astype(str)):
        if s in ti:
            if t in ti and t != s:
                tt[ti[t], ti[s]] = 1.0
            if t in gi:
                tg[gi[t], ti[s]] = 1.0
    return tt, tg


def _learned_masks(module: Any, percent: float) -> tuple[np.ndarray, np.ndarray]:
    tt_w = module.tf2tf.weight.detach().cpu().numpy()
    tg_w = module.tf2gene.weight.detach().cpu().numpy()
    tt = top_fraction_mask(tt_w, percent, 1 - np.eye(module.n_tfs, dtype=bool))
    tg = top_fraction_mask(tg_w, percent, module.self_edge_mask().numpy() == 0)
    return tt, tg


def tf_alignment(latent: np.ndarray, tf_expression: np.ndarray) -> np.ndarray:
    """Pearson r between each TF unit's μ and that TF's expression (NaN for constant columns)."""
    a = latent - latent.mean(0)
    b = tf_expression - tf_expression.mean(0)
    denom = np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(0) / denom, np.nan)


def train_tfvae(
    adata: Any,
    *,
    dataset: str,
    label_key: str | None = None,
    model: dict[str, Any] | None = None,
    train: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Run:
    """Run the whole TF-VAE recipe and save a run folder.

    Parameters
    ----------
    adata
        Preprocessed AnnData (scaled ``X``; raw counts in ``layers['counts']`` for the
        ``"nb"``/``"zinb"`` likelihoods).
    dataset
        Name recorded in the run.
    label_key
        obs column for ARI/NMI of the TF latent beside PCA (optional).
    model
        Overrides of :data:`TFVAE_DEFAULTS`.
    train
        Batch size, base learning rate, seed, device (``epochs`` is ignored: each phase has its
        own epoch count in ``model``).
    run_dir, runs_root, progress, cancel
        As for :func:`core.recipes.betavae.train_betavae`.

    Returns
    -------
    Run
        With ``latent`` = μ (columns = TFs, ``config['tfs']``), table ``network.csv`` (the
        edges, :func:`core.analysis.network.edges_from_module`) and metrics ``align_median_r``,
        ``val_recon_mse`` (Gaussian) or ``heldout_recon_loglik``/``heldout_elbo`` (count
        models, per held-out cell), prior overlap and clustering scores.
    """

    settings = {**TFVAE_DEFAULTS, **(model or {})}
    source = settings["mask_source"]
    if source not in MASK_SOURCES:
        raise ConfigError(f"mask source must be one of {', '.join(MASK_SOURCES)}.")
    train = train or replace(TFVAE_TRAIN_DEFAULTS)
    if progress is not None:
        progress.phases = phases_of(source)
    tfs, tf_label = select_tfs(adata, settings["tf_list"], max_tfs=settings["max_tfs"])
    genes = [str(g) for g in adata.var_names]
    gene_index = {g: i for i, g in enumerate(genes)}
    prior, prior_label = resolve_prior(adata, settings["prior"],
                                       confidence=settings["prior_confidence"])
    x = model_input(adata)
    likelihood = settings["likelihood"]
    inputs = model_inputs(adata, x, likelihood=likelihood)
    data = {"x": x, **inputs.data}       # count models: the counts too; "x" gives TF targets
    labels = labels_of(adata, label_key)
    split = split_indices(adata.n_obs, train.val_fraction, train.seed)
    torch.manual_seed(train.seed)
    module = TFVAE(adata.n_vars, tfs, [gene_index[t] for t in tfs], genes, settings["hidden"],
                   tf_dropout=settings["tf_dropout"], gene_dropout=settings["gene_dropout"],
                   likelihood=likelihood)
    histories: list[pd.DataFrame] = []
    results: dict[str, Any] = {}

    def phase(name: str, epochs: int, lr: float, stage: str, params: list, **kw: Any) -> None:
        if epochs <= 0:
            return
        cfg = replace(train, epochs=int(epochs), lr=float(lr), patience=None)
        res = fit(module, data, config=cfg, progress=progress, cancel=cancel, phase=name,
                  params=params, split=split, loss_kwargs={"stage": stage, **kw})
        histories.append(res.history)
        results[name] = res
        if res.stopped in ("cancelled", "diverged"):
            raise ConfigError(res.message or f"Training stopped in phase '{name}'.")

    consistency = float(settings["tf_consistency"])
    phase("encoder", settings["epochs_encoder"], train.lr, "encoder", module.encoder_parameters())
    if source != "prior":
        phase("decoder_dense", settings["epochs_decoder"], settings["lr_decoder"], "decoder",
              module.decoder_parameters(), l1=float(settings["l1"]), consistency=consistency)
        if progress is not None:
            progress.set_phase("masking", 1, f"keeping the top {settings['mask_sparsity']}%")
        tt, tg = _learned_masks(module, float(settings["mask_sparsity"]))
        if source == "both":
            ptt, ptg = prior_masks(prior, tfs, genes)
            tt, tg = np.maximum(tt, ptt), np.maximum(tg, ptg)
        if progress is not None:
            progress.update(1, {})
    else:
        tt, tg = prior_masks(prior, tfs, genes)
        if tg.sum() == 0:
            raise DataError(f"The prior ({prior_label}) has no edge from the selected TFs to the "
                            "dataset's genes; check that its symbols match the gene names.")
    module.set_masks(torch.as_tensor(tt), torch.as_tensor(tg))
    phase("decoder_masked", settings["epochs_masked"], 1e-3, "decoder",
          module.decoder_parameters(), consistency=consistency)
    phase("decoder_masked_fine", settings["epochs_masked_fine"], 1e-4, "decoder",
          module.decoder_parameters(), consistency=consistency)

    spec = dict(settings["schedule"])
    schedule = make_schedule(spec.pop("name"), **spec)
    settings["schedule"] = to_dict(schedule)
    if settings["epochs_vae"] > 0:
        cfg = replace(train, epochs=int(settings["epochs_vae"]), patience=None)
        res = fit(module, data, config=cfg, schedule=schedule, progress=progress,
                  cancel=cancel, phase="vae", split=split,
                  loss_kwargs={"stage": "vae", "align_weight": float(settings["align_weight"])})
        histories.append(res.history)
        results["vae"] = res
        if res.stopped in ("cancelled", "diverged"):
            raise ConfigError(res.message or "Training stopped in phase 'vae'.")

    device = next(iter(results.values())).device if results else "cpu"
    latent = encode_mean(module, inputs.encoder_input, device=device)
    metrics, arrays = score_latent(x, latent, labels, progress=progress)
    tf_cols = [gene_index[t] for t in tfs]
    x_tf = x[:, tf_cols]
    x_tf = x_tf.toarray() if hasattr(x_tf, "toarray") else np.asarray(x_tf)
    r = tf_alignment(latent, x_tf)
    val_idx = split[1]
    if likelihood == "gaussian":
        metrics["val_recon_mse"] = _recon_mse(module, x, val_idx, device) if len(val_idx) else None
    else:
        held = heldout_terms(module, data, val_idx, device=device)
        metrics.update({k: v for k, v in held.items() if k in ("heldout_recon_loglik",
                                                               "heldout_elbo")})
    metrics.update(
        n_tfs=len(tfs), tf_list=tf_label, prior=prior_label,
        align_median_r=float(np.nanmedian(r)),
        train_seconds=float(sum(r.train_seconds for r in results.values())), device=device,
        phase_epochs={k: v.n_epochs_run for k, v in results.items()},
        n_epochs_run=int(sum(v.n_epochs_run for v in results.values())),
        best_epoch=int(sum(v.n_epochs_run for v in results.values())),
        stopped="completed", message="",
    )
    module.cpu()
    edges = edges_from_module(module, prior)
    overlap = prior_overlap(edges, prior, tf_names=tfs, gene_names=genes)
    for layer, row in overlap.iterrows():
        metrics[f"{layer}_edges"] = int(row["n_edges"])
        metrics[f"{layer}_prior_fraction"] = row["fraction"]
        metrics[f"{layer}_prior_enrichment"] = row["enrichment"]
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    if len(history):
        history.insert(0, "step", np.arange(1, len(history) + 1))
    config = {
        "model": "tfvae", "module": module.init_kwargs, "settings": settings,
        "train": train.to_dict(), "seed": train.seed, "tfs": tfs,
        "data": {"name": dataset, "fingerprint": data_fingerprint(adata), "n_obs": adata.n_obs,
                 "n_vars": adata.n_vars, "label_key": label_key},
    }
    path = Path(run_dir) if run_dir else new_run_dir("tfvae", dataset, runs_root)
    arrays["tf_alignment_r"] = r.astype(np.float32)
    save_run(path, config=config, metrics=metrics, history=history, module=module,
             latent=latent, arrays=arrays, tables={"network": edges})
    return load_run(path)


@torch.no_grad()
def _recon_mse(module: Any, x: Any, idx: np.ndarray, device: str) -> float:
    """Mean squared error per gene and cell on cells ``idx`` (eval mode, z = μ)."""

    rows = x[idx]
    x_hat = predict(module, {"x": rows}, lambda m, b: m(b["x"])["x_hat"], device=device)
    dense = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
    return float(np.mean((dense - x_hat) ** 2))


def load_network(run: Run) -> pd.DataFrame:
    """The edge table saved with a TF-VAE run (``network.csv``)."""
    edges = run.table("network") if run.model == "tfvae" else None
    if edges is None:
        raise DataError(f"Run {run.id} is not a TF-VAE run (no network table).")
    return edges
