"""Server-side cost of one slider move on the Perturb page with the trust panel (issue 16 §4).

Trains K TF-VAEs (seeds; 1 epoch per phase: the timing does not depend on training) on a
bundled dataset, then times what the page does per slider move: each member's knock-out
(:meth:`Perturber.apply`), :func:`ensemble_table`, the baselines' prediction and the
out-of-distribution check; and, once per run, encoding each member and fitting the baselines.

Usage: ``PYTHONPATH=. python benchmarks/perturb_trust_latency.py [--dataset kang_pbmc]
[--n-models 5] [--repeats 20] [--device cuda --default-epochs]`` (prints JSON). With
``--default-epochs`` the K members train with the library's default recipe (the issue's "ensemble
of 5 on kang_pbmc on the GPU under 3 minutes"); the slider timings stay on the CPU, where the
page computes them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="kang_pbmc")
    parser.add_argument("--n-models", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu", help="where the ensemble trains")
    parser.add_argument("--default-epochs", action="store_true",
                        help="train each member with the default recipe's epochs")
    parser.add_argument("--preprocessed", default=None,
                        help="an .h5ad already preprocessed with the defaults (for a machine "
                             "without scanpy, e.g. the GPU server)")
    args = parser.parse_args()

    import torch

    from core.analysis.perturb import perturber_for_run
    from core.analysis.perturb_trust import LinearBaselines, ensemble_table, out_of_distribution
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS
    from core.recipes.tfvae_ensemble import train_tfvae_ensemble
    from core.training.trainer import TrainConfig

    torch.set_num_threads(1)
    if args.preprocessed:
        import anndata
        ad = anndata.read_h5ad(args.preprocessed)
    else:
        ad = preprocess(read(args.dataset).adata, PreprocessConfig())
    fast = {f"epochs_{p}": 1 for p in ("encoder", "decoder", "masked", "masked_fine", "vae")}
    model, train = ({}, TFVAE_TRAIN_DEFAULTS) if args.default_epochs else (
        fast, TrainConfig(batch_size=512))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        runs = train_tfvae_ensemble(ad, n_models=args.n_models, dataset=args.dataset,
                                    model=model, runs_root=tmp,
                                    train=replace(train, device=args.device))
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        members = [perturber_for_run(r, ad) for r in runs]
        t_encode = time.perf_counter() - t0
    p = members[0]
    t0 = time.perf_counter()
    base = LinearBaselines.fit(ad.X, p.gene_names, p.tf_names, p.z)
    t_fit = time.perf_counter() - t0
    tf = p.tf_names[0]
    times, single = [], []
    for i in range(args.repeats):
        spec = {tf: ("set", p.presets(tf)["knock-out"] + 0.01 * i)}   # a new value each move
        t0 = time.perf_counter()
        own = p.apply(spec).mean_delta                  # what the page computes anyway
        single.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        deltas = np.array([own, *(m.apply(spec).mean_delta for m in members[1:])])
        ensemble_table(deltas, p.gene_names)
        base.predict(p.z, p.perturbed_z(spec))
        out_of_distribution(p.z, p.tf_names, spec)
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "dataset": args.dataset, "cells": int(ad.n_obs), "genes": int(ad.n_vars),
        "tfs": len(p.tf_names), "n_models": len(members), "threads": 1,
        "slider_move_one_model_ms_median": round(1e3 * float(np.median(single)), 1),
        "trust_panel_extra_ms_median": round(1e3 * float(np.median(times)), 1),
        "slider_move_with_trust_ms_median": round(1e3 * float(np.median(np.add(single, times))),
                                                  1),
        "slider_move_with_trust_ms_p90": round(1e3 * float(np.quantile(np.add(single, times),
                                                                       0.9)), 1),
        "once_per_run_encode_members_s": round(t_encode, 2),
        "once_per_run_fit_baselines_s": round(t_fit, 2),
        "ensemble_device": args.device, "ensemble_default_epochs": args.default_epochs,
        "ensemble_train_seconds": round(t_train, 1)}, indent=2))


if __name__ == "__main__":
    main()
