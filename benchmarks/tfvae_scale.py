"""Time per epoch of the TF-VAE's training stages at scale, Gaussian and NB, as JSON.

Synthetic sparse counts (cells × genes, ~10% non-zero) and their log1p-standardised values; a
TFVAE of the default size (hidden 512,256) with ``--tfs`` latent TFs and 10% masks on both
masked layers. One epoch of each stage the recipe runs — ``encoder`` (phase a), ``decoder``
(phases b/d) and ``vae`` (phase e) — is timed after one warm-up epoch, with the library's
trainer (data on the device, index-slice batches). The default recipe runs 30 encoder, 80
decoder and 40 VAE epochs, so ``recipe_seconds_estimate`` = 30·a + 80·b + 40·e.

Needs only torch, numpy and scipy (it runs on the GPU machine, which has no scanpy).

Usage: ``PYTHONPATH=. python benchmarks/tfvae_scale.py --cells 100000 --genes 2000 --tfs 200
[--device cuda] [--batch-size 1024]``
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import torch


def _data(n: int, g: int, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Counts (CSR), their standardised log1p values (dense float32) and library sizes."""
    rng = np.random.default_rng(seed)
    nnz = int(n * g * 0.1)
    rows = rng.integers(0, n, nnz)
    cols = rng.integers(0, g, nnz)
    vals = rng.poisson(2.0, nnz).astype(np.float32) + 1
    counts = sp.csr_matrix((vals, (rows, cols)), shape=(n, g), dtype=np.float32)
    counts.sum_duplicates()
    library = np.asarray(counts.sum(1), dtype=np.float32).reshape(-1, 1)
    logn = counts.multiply(1e4 / np.maximum(library, 1)).tocsr()
    logn.data = np.log1p(logn.data)
    x = logn.toarray()
    x -= x.mean(0)
    x /= np.maximum(x.std(0), 1e-6)
    return counts, x.astype(np.float32), library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--tfs", type=int, default=200)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--likelihoods", default="gaussian,nb")
    args = parser.parse_args()

    from core.models.tfvae import TFVAE
    from core.recipes.tfvae import TFVAE_DEFAULTS, TFVAE_TRAIN_DEFAULTS
    from core.training.trainer import fit

    t0 = time.perf_counter()
    counts, x, library = _data(args.cells, args.genes)
    data_seconds = time.perf_counter() - t0
    genes = [f"G{i}" for i in range(args.genes)]
    tfs = genes[:args.tfs]
    out: dict = {"cells": args.cells, "genes": args.genes, "tfs": args.tfs,
                 "batch_size": args.batch_size, "data_seconds": round(data_seconds, 1),
                 "torch": torch.__version__}
    d = TFVAE_DEFAULTS
    epochs = {"encoder": d["epochs_encoder"],
              "decoder": d["epochs_decoder"] + d["epochs_masked"] + d["epochs_masked_fine"],
              "vae": d["epochs_vae"]}
    for likelihood in args.likelihoods.split(","):
        torch.manual_seed(0)
        m = TFVAE(args.genes, tfs, list(range(args.tfs)), genes, d["hidden"],
                  likelihood=likelihood)
        g = torch.Generator().manual_seed(0)
        m.set_masks((torch.rand(args.tfs, args.tfs, generator=g) < 0.1).float(),
                    (torch.rand(args.genes, args.tfs, generator=g) < 0.1).float())
        data = {"x": x}
        if m.is_count_model:
            data.update(counts=counts, library=library)
        cfg = replace(TFVAE_TRAIN_DEFAULTS, device=args.device, batch_size=args.batch_size,
                      val_fraction=0.0)
        row: dict = {}
        for stage in ("encoder", "decoder", "vae"):
            params = m.encoder_parameters() if stage == "encoder" else (
                m.decoder_parameters() if stage == "decoder" else None)
            kwargs = {"stage": stage, **({"l1": 10.0, "consistency": 1.0}
                                         if stage == "decoder" else {})}
            res = fit(m, data, config=replace(cfg, epochs=2), params=params,
                      loss_kwargs=kwargs)
            row[f"{stage}_seconds_per_epoch"] = round(float(res.history["seconds"].diff()
                                                            .iloc[-1]), 3)
            row["device"] = res.device
        row["recipe_seconds_estimate"] = round(sum(
            epochs[s] * row[f"{s}_seconds_per_epoch"] for s in epochs), 1)
        if row["device"].startswith("cuda"):
            row["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
            torch.cuda.reset_peak_memory_stats()
        out[likelihood] = row
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
