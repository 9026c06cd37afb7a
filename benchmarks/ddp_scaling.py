"""Epoch time on 1 device vs N devices with DDP (issue 22 targets), as JSON.

Targets: 1,000,000 × 2,000 synthetic sparse cells, the default β-VAE, batch 4096: the epoch
on 2 GPUs ≤ 0.6× the epoch on 1 GPU, both measured in this call. The same for the TF-VAE
recipe (its three kinds of stage: encoder, decoder, vae, each timed per epoch, and the
recipe's default epochs weighted into ``recipe_epoch_seconds``) and for an ensemble of 4
TF-VAEs, under both strategies:

* ``ddp``: the members one after another, each data-parallel on all N devices (what
  ``TrainConfig(devices=N)`` does for ``train_tfvae_ensemble``);
* ``model_per_device``: N processes, each training its own members on its own device at the
  same time (no gradient traffic), measured here with one model per process.

Every timing is the median epoch after the first (the first includes CUDA start-up);
``wall_seconds`` also counts starting the processes and moving the data to the devices.
The data (sparse log1p values, ``betavae_scale.synthetic_csr``) are the same for every
configuration; the losses are reported so the runs can be compared for quality.

Needs torch, numpy, scipy and scikit-learn (core.recipes' scoring imports it), not scanpy or
anndata. Usage (GPU): ``PYTHONPATH=. python benchmarks/ddp_scaling.py --device cuda
--devices 2``; a CPU check at tiny size: ``PYTHONPATH=. python benchmarks/ddp_scaling.py
--device cpu --devices 2 --cells 4000 --genes 200 --epochs 2 --batch-size 512``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from betavae_scale import synthetic_csr  # noqa: E402

from core.device import describe_device, pick_device  # noqa: E402
from core.models.tfvae import TFVAE  # noqa: E402
from core.models.vae import BetaVAE  # noqa: E402
from core.recipes.betavae import BETAVAE_DEFAULTS, BETAVAE_TRAIN_DEFAULTS  # noqa: E402
from core.recipes.tfvae import TFVAE_DEFAULTS  # noqa: E402
from core.training.distributed import load_shared, share_arrays  # noqa: E402
from core.training.schedules import Constant, make_schedule  # noqa: E402
from core.training.trainer import TrainConfig, fit, seed_everything  # noqa: E402

#: TF-VAE stage → (loss kwargs, which parameters, default epochs of the recipe's phases).
STAGES = {
    "encoder": ({"stage": "encoder"}, "encoder", TFVAE_DEFAULTS["epochs_encoder"]),
    "decoder": ({"stage": "decoder", "consistency": TFVAE_DEFAULTS["tf_consistency"]},
                "decoder", TFVAE_DEFAULTS["epochs_decoder"] + TFVAE_DEFAULTS["epochs_masked"]
                + TFVAE_DEFAULTS["epochs_masked_fine"]),
    "vae": ({"stage": "vae", "align_weight": TFVAE_DEFAULTS["align_weight"]}, None,
            TFVAE_DEFAULTS["epochs_vae"]),
}


def _epoch_times(history) -> list[float]:
    return np.diff(np.concatenate([[0.0], history["seconds"].to_numpy()])).tolist()


def _summary(result, wall: float) -> dict:
    times = _epoch_times(result.history)
    last = result.history.iloc[-1]
    return {"devices": result.devices,
            "epoch_seconds": round(float(np.median(times[1:] if len(times) > 1 else times)), 3),
            "epoch_seconds_all": [round(t, 3) for t in times], "wall_seconds": round(wall, 1),
            "final_train_loss": float(last["train_loss"]),
            "final_val_loss": float(last.get("val_loss", math.nan))}


def _betavae(n_genes: int) -> BetaVAE:
    d = BETAVAE_DEFAULTS
    seed_everything(0)
    return BetaVAE(n_genes, d["n_latent"], d["hidden"], batch_norm=d["batch_norm"],
                   dropout=d["dropout"], input_dropout=d["input_dropout"])


def _tfvae(n_genes: int, n_tfs: int) -> TFVAE:
    """A default-size TF-VAE with 10% random masks (the recipe's default sparsity)."""
    torch.manual_seed(0)
    genes = [f"G{i}" for i in range(n_genes)]
    m = TFVAE(n_genes, genes[:n_tfs], list(range(n_tfs)), genes, TFVAE_DEFAULTS["hidden"],
              tf_dropout=TFVAE_DEFAULTS["tf_dropout"])
    g = torch.Generator().manual_seed(0)
    m.set_masks((torch.rand(n_tfs, n_tfs, generator=g) < 0.1).float(),
                (torch.rand(n_genes, n_tfs, generator=g) < 0.1).float())
    return m


def _stage_fit(module: TFVAE, data: dict, stage: str, cfg: TrainConfig):
    loss_kwargs, part, _ = STAGES[stage]
    params = {"encoder": module.encoder_parameters, "decoder": module.decoder_parameters}
    spec = dict(TFVAE_DEFAULTS["schedule"])
    schedule = make_schedule(spec.pop("name"), **spec) if stage == "vae" else None
    return fit(module, data, config=cfg, schedule=schedule, loss_kwargs=loss_kwargs,
               params=params[part]() if part else None)


def bench_betavae(x: sp.csr_matrix, cfg: TrainConfig, counts: list[int]) -> dict:
    out = {}
    for n in counts:
        t = time.perf_counter()
        res = fit(_betavae(x.shape[1]), {"x": x}, config=_with(cfg, n), schedule=Constant(1.0))
        out[str(n)] = _summary(res, time.perf_counter() - t)
    return _ratios(out, counts)


def bench_tfvae(x: sp.csr_matrix, cfg: TrainConfig, counts: list[int], n_tfs: int) -> dict:
    out: dict = {}
    for n in counts:
        per_stage = {}
        for stage in STAGES:
            t = time.perf_counter()
            res = _stage_fit(_tfvae(x.shape[1], n_tfs), {"x": x}, stage, _with(cfg, n))
            per_stage[stage] = _summary(res, time.perf_counter() - t)
        recipe = sum(per_stage[s]["epoch_seconds"] * STAGES[s][2] for s in STAGES)
        out[str(n)] = {"stages": per_stage, "recipe_epochs": sum(v[2] for v in STAGES.values()),
                       "recipe_train_seconds": round(recipe, 1)}
    base = out[str(counts[0])]["recipe_train_seconds"]
    for n in counts[1:]:
        o = out[str(n)]
        o["recipe_time_ratio_vs_1"] = round(o["recipe_train_seconds"] / base, 3)
        o["stage_epoch_ratio_vs_1"] = {
            s: round(o["stages"][s]["epoch_seconds"]
                     / out[str(counts[0])]["stages"][s]["epoch_seconds"], 3) for s in STAGES}
    return out


def _member(rank: int, shared: dict, cfg: TrainConfig, n_tfs: int, results) -> None:
    """One process of the model-per-device ensemble: one TF-VAE's vae stage on its device."""
    if cfg.device.startswith("cuda"):
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(1)
    data = load_shared(shared)
    t = time.perf_counter()
    res = _stage_fit(_tfvae(data["x"].shape[1], n_tfs), data, "vae", cfg)
    results.put((rank, _summary(res, time.perf_counter() - t)))


def bench_ensemble(x: sp.csr_matrix, cfg: TrainConfig, n_devices: int, n_tfs: int,
                   members: int, tfvae: dict) -> dict:
    """Ensemble time per epoch of the vae stage, both strategies, and the recipe estimate."""
    one = tfvae["1"]["stages"]["vae"]["epoch_seconds"]
    ddp = tfvae[str(n_devices)]["stages"]["vae"]["epoch_seconds"]
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as tmp:
        shared = share_arrays({"x": x}, Path(tmp))
        t = time.perf_counter()
        procs = mp.start_processes(_member, args=(shared, _with(cfg, 1), n_tfs, results),
                                   nprocs=n_devices, join=False, start_method="spawn")
        got = [results.get() for _ in range(n_devices)]
        procs.join()
        wall = time.perf_counter() - t
    concurrent = max(s["epoch_seconds"] for _, s in got)   # the slowest device sets the pace
    rounds = math.ceil(members / n_devices)
    recipe_one = tfvae["1"]["recipe_train_seconds"]
    return {
        "members": members, "strategy_in_core": "ddp",
        "vae_epoch_seconds": {"1_device": round(members * one, 3),
                              "ddp": round(members * ddp, 3),
                              "model_per_device": round(rounds * concurrent, 3)},
        "model_per_device_concurrent_epoch_seconds": round(concurrent, 3),
        "model_per_device_wall_seconds": round(wall, 1),
        "recipe_train_seconds": {
            "1_device": round(members * recipe_one, 1),
            "ddp": round(members * tfvae[str(n_devices)]["recipe_train_seconds"], 1),
            "model_per_device": round(rounds * recipe_one * concurrent / one, 1)},
    }


def _with(cfg: TrainConfig, devices: int) -> TrainConfig:
    from dataclasses import replace
    return replace(cfg, devices=devices)


def _ratios(out: dict, counts: list[int]) -> dict:
    base = out[str(counts[0])]["epoch_seconds"]
    for n in counts[1:]:
        out[str(n)]["epoch_ratio_vs_1"] = round(out[str(n)]["epoch_seconds"] / base, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--tfs", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--ensemble", type=int, default=4)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--parts", default="betavae,tfvae,ensemble")
    ap.add_argument("--out", default="benchmarks/results/ddp_scaling.json")
    args = ap.parse_args()

    counts = [1, args.devices]
    t = time.perf_counter()
    x = synthetic_csr(args.cells, args.genes, args.density)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                      val_fraction=BETAVAE_TRAIN_DEFAULTS.val_fraction, patience=None,
                      bf16=args.bf16)
    out: dict = {"device": describe_device(pick_device(args.device)),
                 "device_count": torch.cuda.device_count() if args.device == "cuda" else None,
                 "cells": args.cells, "genes": args.genes, "density": args.density,
                 "tfs": args.tfs, "batch_size": args.batch_size, "epochs": args.epochs,
                 "bf16": args.bf16, "torch": torch.__version__,
                 "data_seconds": round(time.perf_counter() - t, 1),
                 "target": "epoch on 2 devices <= 0.6 x epoch on 1 (same call)"}
    parts = args.parts.split(",")
    if "betavae" in parts:
        out["betavae"] = bench_betavae(x, cfg, counts)
    if "tfvae" in parts or "ensemble" in parts:
        out["tfvae"] = bench_tfvae(x, cfg, counts, args.tfs)
    if "ensemble" in parts:
        out["ensemble"] = bench_ensemble(x, cfg, args.devices, args.tfs, args.ensemble,
                                         out["tfvae"])
    text = json.dumps(out, indent=2)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
