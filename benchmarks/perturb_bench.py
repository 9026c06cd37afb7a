"""Latency of one Perturb-page slider change on a kang_pbmc-size TF-VAE (CPU), as JSON.

The model is a randomly initialised TFVAE of the default size (hidden 512,256; up to 200 TFs
of the human TF list found in kang_pbmc's genes; learned-style masks keeping 10% of weights),
not a trained one: the latency depends on the shapes, not the weight values. One "slider
change" is what the page's fragment computes: ``Perturber.apply`` on all cells, the gene table
with direct targets, and the per-group Δ for the heatmap.

Usage: ``PYTHONPATH=. python benchmarks/perturb_bench.py``
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch


def main() -> None:
    from core.analysis.network import edges_from_module
    from core.analysis.perturb import Perturber
    from core.analysis.tf_decoder import tf_decoder
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.models.tfvae import TFVAE
    from core.training.tfvae_recipe import select_tfs
    from core.training.workflows import model_input

    adata = preprocess(read("kang_pbmc").adata)
    tfs, _ = select_tfs(adata, max_tfs=200)
    genes = [str(g) for g in adata.var_names]
    gi = {g: i for i, g in enumerate(genes)}
    torch.manual_seed(0)
    module = TFVAE(adata.n_vars, tfs, [gi[t] for t in tfs], genes, (512, 256))
    g = torch.Generator().manual_seed(0)
    module.set_masks((torch.rand(len(tfs), len(tfs), generator=g) < 0.1).float(),
                     (torch.rand(adata.n_vars, len(tfs), generator=g) < 0.1).float())
    module.eval()
    dec = tf_decoder(module)
    x = model_input(adata)
    t0 = time.perf_counter()
    p = Perturber(dec, x)
    setup = time.perf_counter() - t0
    edges = edges_from_module(module)
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    tf = tfs[0]
    lo, hi = p.slider_range(tf)
    out = {"dataset": "kang_pbmc", "cells": int(adata.n_obs), "genes": int(adata.n_vars),
           "tfs": len(tfs), "model": "TFVAE random init, hidden 512,256, 10% masks",
           "device": "cpu", "perturber_setup_seconds": round(setup, 3), "target_ms": 100}
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        times, times_apply = [], []
        for v in np.linspace(lo, hi, 21)[1:]:
            t0 = time.perf_counter()
            res = p.apply({tf: ("set", float(v))})
            times_apply.append(time.perf_counter() - t0)
            res.gene_table(edges)
            res.by_group(labels)
            res.cascade()
            times.append(time.perf_counter() - t0)
        out[f"threads_{threads}"] = {
            "slider_change_ms_median_of_20": round(1000 * float(np.median(times)), 2),
            "apply_only_ms_median_of_20": round(1000 * float(np.median(times_apply)), 2)}
    torch.set_num_threads(default_threads)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
