"""Latency of one Perturb-page slider change on a kang_pbmc-size TF-VAE (CPU), as JSON.

The model is a randomly initialised TFVAE of the default size (hidden 512,256; up to 200 TFs
of the human TF list found in kang_pbmc's genes; learned-style masks keeping 10% of weights),
not a trained one: the latency depends on the shapes, not the weight values. One "slider
change" is what the page's fragment computes: ``Perturber.apply`` on all cells, the shown rows
of the gene table (top 200 by |Δ|) and the bar chart's top up/down genes with direct targets,
the per-group Δ for the heatmap, the TF cascade and the dose–response curve of the top gene
(cached: it does not depend on the moved TF's own value). The full table (CSV download) is
timed separately. Each thread count is timed with ``Perturber(threads=...)``, i.e. the
number of torch and BLAS threads inside the perturbation path only.

With ``--likelihood nb`` the model has the NB decoder and the cells are Poisson counts of the
same shape (kang_pbmc keeps no raw counts; the latency depends on the shapes): every result is
then a log2 fold change, which adds each perturbed cell's softmax normaliser (a cells × genes
product) to a slider change.

Usage: ``PYTHONPATH=. python benchmarks/perturb_bench.py [--likelihood nb]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--likelihood", choices=("gaussian", "nb", "zinb"), default="gaussian")
    args = parser.parse_args()
    from core.analysis.network import edges_from_module
    from core.analysis.perturb import Perturber, target_index
    from core.analysis.tf_decoder import tf_decoder
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.models.tfvae import TFVAE
    from core.recipes.tfvae import select_tfs
    from core.training.inputs import model_input

    adata = preprocess(read("kang_pbmc").adata)
    tfs, _ = select_tfs(adata, max_tfs=200)
    genes = [str(g) for g in adata.var_names]
    gi = {g: i for i, g in enumerate(genes)}
    torch.manual_seed(0)
    module = TFVAE(adata.n_vars, tfs, [gi[t] for t in tfs], genes, (512, 256),
                   likelihood=args.likelihood)
    g = torch.Generator().manual_seed(0)
    module.set_masks((torch.rand(len(tfs), len(tfs), generator=g) < 0.1).float(),
                     (torch.rand(adata.n_vars, len(tfs), generator=g) < 0.1).float())
    module.eval()
    dec = tf_decoder(module)
    x = model_input(adata)
    if module.is_count_model:
        import scipy.sparse as sp
        rng = np.random.default_rng(0)
        x = sp.csr_matrix(rng.poisson(0.3, size=x.shape).astype(np.float32))
    t0 = time.perf_counter()
    p = Perturber(dec, x)
    setup = time.perf_counter() - t0
    edges = edges_from_module(module)
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    tf = tfs[0]
    lo, hi = p.slider_range(tf)
    out = {"dataset": "kang_pbmc", "cells": int(adata.n_obs), "genes": int(adata.n_vars),
           "tfs": len(tfs), "likelihood": args.likelihood,
           "model": "TFVAE random init, hidden 512,256, 10% masks",
           "device": "cpu", "perturber_setup_seconds": round(setup, 3), "target_ms": 100}
    targets = target_index(edges, p.gene_names)
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        p.threads = threads
        times, times_apply, times_full = [], [], []
        for v in np.linspace(lo, hi, 21)[1:]:
            t0 = time.perf_counter()
            spec = {tf: ("set", float(v))}
            res = p.apply(spec)
            times_apply.append(time.perf_counter() - t0)
            table = res.gene_table(targets, top=200)
            res.extremes(10, targets)
            res.by_group(labels)
            res.cascade()
            p.dose_response(tf, table["gene"].iloc[0],
                            np.linspace(lo, hi, 13 if module.is_count_model else 25))
            times.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            res.gene_table(targets)
            times_full.append(time.perf_counter() - t1)
        out[f"threads_{threads}"] = {
            "slider_change_ms_median_of_20": round(1000 * float(np.median(times)), 2),
            "apply_only_ms_median_of_20": round(1000 * float(np.median(times_apply)), 2),
            "full_gene_table_ms_median_of_20": round(1000 * float(np.median(times_full)), 2)}
    p.threads = 1
    t0 = time.perf_counter()                 # a new dose TF (or another TF moved): 25 applies
    n_dose = 13 if module.is_count_model else 25          # as the Perturb page
    p.dose_response(tfs[1], genes[0], np.linspace(*p.slider_range(tfs[1]), n_dose))
    out["dose_curve_recompute_ms_threads_1"] = round(1000 * (time.perf_counter() - t0), 2)
    out["threads_outside"] = default_threads
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
