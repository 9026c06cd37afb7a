"""Run a list of settings in parallel worker processes (the GPU machine: no scanpy needed).

Each line of the settings JSON is one run: ``{"kind": "scgen" | "tfvae" | "betavae",
"seed": S, "device": "cuda" | "cpu", ...}`` plus the kind's own keys (below). Results are
appended to OUT as JSON lines. Data comes from :mod:`benchmarks.sweeps.export`.

* ``scgen``: ``holdout``, ``model`` (overrides of SCGEN_DEFAULTS), ``train`` (TrainConfig
  fields). Scores of scGen and the baselines, as :func:`core.recipes.scgen.fit_predict`.
* ``tfvae``: ``data`` (0/1/2, the synthetic network), ``model`` (overrides of
  TFVAE_DEFAULTS). AUPRC over edge density of TF→TF and TF→gene after the dense decoder,
  after the masked phases and at the end.
* ``betavae``: ``data`` (``kang_pbmc``/``zeisel_cortex``), ``input`` (``all``/``hvg``),
  ``model`` (overrides of BETAVAE_DEFAULTS), optional ``batch_key`` (``condition``:
  kang_pbmc's stimulation as a covariate of encoder and decoder), optional ``n_hvg`` (train
  on the N genes of highest normalised dispersion instead), optional ``corrupt``
  (``{"dropout": p}``: the model's ``input_dropout`` p; ``{"noise": s}`` adds N(0, s²) to the
  encoder's input while training; the reconstruction target stays the clean input). KMeans ARI
  (3 KMeans seeds) of the latent, PCA's on the same input, the active latent units and the
  5-fold accuracy of a 15-NN classifier on each space (:func:`core.analysis.metrics.knn_accuracy`;
  ``betavae_sweep4.json`` was made with unshuffled stratified folds: up to 0.02 lower).
  Fifth sweep's options: ``learn_variance`` (a learned variance per gene in the Gaussian
  reconstruction), ``mixture`` K with ``mixture_var`` (a mixture-of-Gaussians prior with K
  learned means, optionally learned variances; one-sample KL estimate). kang_pbmc only:
  ``target: "log"`` reconstructs the log-normalised (unscaled) expression, and
  ``encoder_input: "log"`` feeds it to the encoder (PCA then runs on the encoder's input).

    PYTHONPATH=. python benchmarks/sweeps/sweep.py SETTINGS.json OUT.jsonl [WORKERS] [DATA_DIR]
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from multiprocessing import Pool
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
DATA = os.environ.get("SWEEP_DATA", "sweep_data")


def _scgen(cfg: dict[str, Any]) -> dict[str, Any]:
    from core.analysis import scgen as sg
    from core.training import scgen as ts

    d = np.load(os.path.join(DATA, "kang.npz"), allow_pickle=True)
    x = d["x"].astype(np.float32)
    obs = pd.DataFrame({"condition": pd.Categorical(d["condition"]),
                        "cell_type": pd.Categorical(d["cell_type"])}, index=d["obs_names"])
    var_names = pd.Index(d["var_names"])
    degs = pd.read_csv(os.path.join(DATA, "kang_degs.csv"), index_col=[0, 1])
    table = degs.loc[cfg["holdout"]].reindex(var_names)
    sg.rank_degs = lambda control, stimulated, names: table  # computed by export.py
    adata = SimpleNamespace(obs=obs, var_names=var_names, layers={"log1p": x}, X=x,
                            n_vars=x.shape[1], n_obs=x.shape[0])
    spec = sg.ScgenSpec("condition", "control", "stimulated", "cell_type", cfg["holdout"])
    train = replace(ts.SCGEN_TRAIN_DEFAULTS, seed=cfg["seed"], device=cfg.get("device", "cpu"),
                    **cfg.get("train", {}))
    res = ts.fit_predict(adata, spec, model=cfg.get("model", {}), train=train, x=x)
    return {"epochs": res.train.n_epochs_run,
            "scores": {m: {k: round(v, 4) for k, v in s.items()} for m, s in res.scores.items()}}


def _tfvae(cfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    from core.analysis.network import edge_recovery, edges_from_module
    from core.models.tfvae import TFVAE
    from core.recipes.tfvae import TFVAE_DEFAULTS, _learned_masks
    from core.training.schedules import make_schedule
    from core.training.trainer import TrainConfig, fit, split_indices

    d = np.load(os.path.join(DATA, f"syn{cfg.get('data', 0)}.npz"), allow_pickle=True)
    x, genes, tfs = d["x"], list(d["genes"]), list(d["tfs"])
    gi = {g: i for i, g in enumerate(genes)}
    tf_rows = [gi[t] for t in tfs]
    targets = [g for g in genes if g not in set(tfs)]
    truth = {layer: pd.DataFrame({"source": d[f"{key}_src"], "target": d[f"{key}_tgt"]})
             for layer, key in (("tf2tf", "tt"), ("tf2gene", "tg"))}
    s = {**TFVAE_DEFAULTS, **cfg.get("model", {})}
    consistency = float(s["tf_consistency"])
    train = TrainConfig(epochs=1, batch_size=128, lr=1e-3, patience=None, seed=cfg["seed"],
                        device=cfg.get("device", "cpu"))
    split = split_indices(len(x), 0.1, cfg["seed"])
    torch.manual_seed(cfg["seed"])
    m = TFVAE(x.shape[1], tfs, tf_rows, genes, s["hidden"], tf_dropout=s["tf_dropout"],
              gene_dropout=s["gene_dropout"], likelihood=s["likelihood"])
    data: dict[str, Any] = {"x": x}
    if m.is_count_model:
        counts = d["counts"].astype(np.float32)
        data.update(counts=counts, library=counts.sum(1, keepdims=True))

    def phase(epochs: int, lr: float, stage: str, **kw: Any) -> None:
        params = m.encoder_parameters() if stage == "encoder" else m.decoder_parameters()
        if epochs > 0:
            fit(m, data, config=replace(train, epochs=int(epochs), lr=float(lr)),
                params=params, split=split, loss_kwargs={"stage": stage, **kw})

    out: dict[str, Any] = {}

    def score(tag: str) -> None:
        edges = edges_from_module(m)
        out[tag] = {short: round(edge_recovery(
            edges[edges["layer"] == layer], truth[layer], sources=tfs,
            targets=tfs if layer == "tf2tf" else targets)["auprc_over_density"], 3)
            for short, layer in (("tt", "tf2tf"), ("tg", "tf2gene"))}

    phase(s["epochs_encoder"], 1e-3, "encoder")
    phase(s["epochs_decoder"], s["lr_decoder"], "decoder", l1=float(s["l1"]),
          consistency=consistency)
    score("dense")
    tt_mask, tg_mask = _learned_masks(m, float(s["mask_sparsity"]))
    m.set_masks(torch.as_tensor(tt_mask), torch.as_tensor(tg_mask))
    phase(s["epochs_masked"], 1e-3, "decoder", consistency=consistency)
    phase(s["epochs_masked_fine"], 1e-4, "decoder", consistency=consistency)
    score("masked")
    spec = dict(s["schedule"])
    schedule = make_schedule(spec.pop("name"), **spec)
    if s["epochs_vae"] > 0:
        fit(m, data, config=replace(train, epochs=int(s["epochs_vae"])), schedule=schedule,
            split=split, loss_kwargs={"stage": "vae", "align_weight": float(s["align_weight"])})
    score("final")
    return out


def _kmeans_ari(z: np.ndarray, labels: np.ndarray) -> float:
    """KMeans ARI (k = number of labels), mean over KMeans seeds 0–2, as the product scores."""
    from sklearn.metrics import adjusted_rand_score

    from core.analysis.metrics import kmeans_labels

    k = len(np.unique(labels))
    return float(np.mean([adjusted_rand_score(labels, kmeans_labels(z, k, s)) for s in range(3)]))


def _noisy(base: type, noise: float) -> type:
    """A subclass of the β-VAE whose encoder sees input + N(0, noise²) while training."""
    import torch

    class Noisy(base):  # type: ignore[misc, valid-type]
        def encode(self, x: torch.Tensor, batch: torch.Tensor | None = None):  # noqa: ANN202
            if self.training:
                x = x + noise * torch.randn_like(x)
            return super().encode(x, batch)

    return Noisy


def _other_target(base: type) -> type:
    """A subclass of the β-VAE that reconstructs ``batch["y"]`` instead of its input."""
    import torch

    class OtherTarget(base):  # type: ignore[misc, valid-type]
        def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
                 free_bits: float = 0.0) -> dict[str, torch.Tensor]:
            from core.models.losses import kl_normal, weighted_squared_error
            out = self(batch["x"], batch.get("batch"))
            recon = weighted_squared_error(batch["y"], out["x_hat"].float(),
                                           self.gene_weights).mean()
            kl = kl_normal(out["mu"].float(), out["logvar"].float()).mean()
            return {"loss": recon + beta * kl, "recon": recon, "kl": kl}

    return OtherTarget


def _learned_variance(base: type) -> type:
    """A subclass of the β-VAE with a learned variance per gene in the Gaussian reconstruction
    (Σ_g (x − x̂)²/σ²_g + log σ²_g, which is the squared error when σ²_g = 1)."""
    import torch
    from torch import nn

    class LearnedVariance(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.log_var_gene = nn.Parameter(torch.zeros(self.n_input))

        def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
                 free_bits: float = 0.0) -> dict[str, torch.Tensor]:
            from core.models.losses import kl_normal
            x = batch["x"]
            out = self(x, batch.get("batch"))
            lv = self.log_var_gene.clamp(-7.0, 7.0)
            sq = (x - out["x_hat"].float()).pow(2) * torch.exp(-lv) + lv
            recon = (sq * self.gene_weights).sum(-1).mean()
            kl = kl_normal(out["mu"].float(), out["logvar"].float()).mean()
            return {"loss": recon + beta * kl, "recon": recon, "kl": kl}

    return LearnedVariance


def _mixture(base: type, k: int, learn_var: bool) -> type:
    """A subclass of the β-VAE whose prior is a mixture of ``k`` Gaussians (learned means,
    optionally learned diagonal variances, equal weights); the KL is a one-sample estimate."""
    import math

    import torch
    from torch import nn

    class Mixture(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.prior_mu = nn.Parameter(torch.randn(k, self.n_latent))
            self.prior_lv = nn.Parameter(torch.zeros(k, self.n_latent),
                                         requires_grad=learn_var)

        def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
                 free_bits: float = 0.0) -> dict[str, torch.Tensor]:
            from core.models.losses import weighted_squared_error
            x = batch["x"]
            mu, logvar = self.encode(x, batch.get("batch"))
            mu, logvar = mu.float(), logvar.float()
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
            x_hat = self.decode(z, batch.get("batch")).float()
            recon = weighted_squared_error(x, x_hat, self.gene_weights).mean()
            log_q = -0.5 * (logvar + (z - mu).pow(2) / logvar.exp()
                            + math.log(2 * math.pi)).sum(-1)
            plv = self.prior_lv.clamp(-5, 5)
            d = z[:, None, :] - self.prior_mu[None]
            log_pk = -0.5 * (plv[None] + d.pow(2) / plv.exp()[None]
                             + math.log(2 * math.pi)).sum(-1)
            log_p = torch.logsumexp(log_pk, dim=1) - math.log(k)
            kl = (log_q - log_p).mean()
            return {"loss": recon + beta * kl, "recon": recon, "kl": kl}

    return Mixture


def _pullback(m: Any, z: np.ndarray, device: str, h: float = 1e-2) -> dict[str, np.ndarray]:
    """The latent re-scaled by the decoder's mean pull-back metric G = mean_c J_cᵀ J_c.

    J_c (genes × latent) is the decoder's Jacobian at cell c (central differences). ``pullback``
    maps z → z G^{1/2}, so latent distances approximate (linearised) distances of the decoded
    expression, as PCA's distances are those of the data; ``diag`` scales each unit by
    sqrt(G_jj) only.
    """
    import torch

    m.eval().to(device)
    zt = torch.as_tensor(z, device=device)
    cols = []
    with torch.no_grad():
        for j in range(z.shape[1]):
            e = torch.zeros(z.shape[1], device=device)
            e[j] = h
            cols.append(((m.decode(zt + e) - m.decode(zt - e)) / (2 * h)).float())
        jac = torch.stack(cols, -1)                       # cells × genes × latent
        g = torch.einsum("cgi,cgj->ij", jac, jac).double().cpu().numpy() / len(z)
    w, v = np.linalg.eigh(g)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return {"pullback": z @ root, "diag": z * np.sqrt(np.clip(np.diag(g), 0, None))}


def _betavae(cfg: dict[str, Any]) -> dict[str, Any]:
    import torch
    from sklearn.decomposition import PCA

    from core.analysis.metrics import knn_accuracy
    from core.models.vae import BetaVAE
    from core.recipes.betavae import BETAVAE_DEFAULTS, BETAVAE_TRAIN_DEFAULTS
    from core.training.schedules import make_schedule
    from core.training.trainer import TrainConfig, encode_mean, fit

    d = np.load(os.path.join(DATA, f"bv_{cfg['data']}.npz"), allow_pickle=True)
    x, labels = d["x"], d["labels"]
    if cfg.get("n_hvg"):
        x = np.ascontiguousarray(x[:, np.argsort(-d["dispersion"])[:int(cfg["n_hvg"])]])
    elif cfg.get("input") == "hvg":
        x = np.ascontiguousarray(x[:, d["hvg"]])
    # kang_pbmc only: log-normalised X and the condition, from the scGen export
    kang = (np.load(os.path.join(DATA, "kang.npz"), allow_pickle=True)
            if {cfg.get("encoder_input"), cfg.get("target"), cfg.get("batch_key")} - {None}
            else None)
    if cfg.get("encoder_input") == "log":
        x = kang["x"].astype(np.float32)
    data: dict[str, Any] = {"x": x}
    if cfg.get("target") == "log":
        data["y"] = kang["x"].astype(np.float32)
    if cfg.get("batch_key"):
        data["batch"] = np.unique(kang[cfg["batch_key"]], return_inverse=True)[1].astype(np.int64)
    s = {**BETAVAE_DEFAULTS, **cfg.get("model", {})}
    corrupt = cfg.get("corrupt", {})
    if "dropout" in corrupt:  # the sweep's name for what became the model's input_dropout
        s["input_dropout"] = corrupt["dropout"]
    spec = dict(s["schedule"])
    schedule = make_schedule(spec.pop("name"), **spec)
    torch.manual_seed(cfg["seed"])
    cls = _noisy(BetaVAE, corrupt["noise"]) if corrupt.get("noise") else BetaVAE
    if cfg.get("learn_variance"):
        cls = _learned_variance(cls)
    if cfg.get("target") == "log":
        cls = _other_target(cls)
    if cfg.get("mixture"):
        cls = _mixture(cls, int(cfg["mixture"]), bool(cfg.get("mixture_var", False)))
    m = cls(x.shape[1], s["n_latent"], s["hidden"], batch_norm=s["batch_norm"],
            dropout=s["dropout"], input_dropout=s["input_dropout"],
            n_batch=2 if "batch" in data else 0)
    train: TrainConfig = replace(BETAVAE_TRAIN_DEFAULTS, seed=cfg["seed"],
                                 device=cfg.get("device", "cuda"), **cfg.get("train", {}))
    res = fit(m, data, config=train, schedule=schedule,
              loss_kwargs={"free_bits": float(s["free_bits"])})
    z = encode_mean(m, x, device=res.device,
                    **{k: v for k, v in data.items() if k not in ("x", "y")})
    active = int((z.var(0) > 0.01).sum())
    pca = PCA(s["n_latent"], random_state=0).fit_transform(x)
    extra: dict[str, Any] = {}
    if cfg.get("pullback"):
        extra = {f"ari_{k}": round(_kmeans_ari(v, labels), 4)
                 for k, v in _pullback(m, z, res.device).items()}
    return {**extra, "ari": round(_kmeans_ari(z, labels), 4),
            "ari_pca": round(_kmeans_ari(pca, labels), 4),
            "active": active, "epochs": res.n_epochs_run,
            "knn_acc": round(knn_accuracy(z, labels)[0], 4),
            "knn_acc_pca": round(knn_accuracy(pca, labels)[0], 4)}


def run_one(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run one setting; returns it with its results and wall seconds."""
    import torch

    torch.set_num_threads(int(cfg.get("threads", 1)))
    t0 = time.time()
    out = {"scgen": _scgen, "tfvae": _tfvae, "betavae": _betavae}[cfg["kind"]](cfg)
    return {**cfg, **out, "seconds": round(time.time() - t0, 1)}


def main() -> None:
    settings = json.load(open(sys.argv[1]))
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    with Pool(workers) as pool, open(sys.argv[2], "a") as fh:
        for result in pool.imap_unordered(run_one, settings):
            fh.write(json.dumps(result) + "\n")
            fh.flush()
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 4:
        DATA = sys.argv[4]
    main()
