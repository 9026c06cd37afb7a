"""Train scvi-tools SCVI on an h5ad of raw counts and save its latent (run in its own venv).

Run with the interpreter of a separate environment that has scvi-tools (see
``benchmarks/requirements.txt``), never the app's venv::

    /tmp/scvi-venv/bin/python benchmarks/scvi_reference.py IN.h5ad OUT_PREFIX \
        --seeds 0 1 --epochs 200 [--batch-key KEY] [--threads 1]

Writes ``OUT_PREFIX_seed<N>.npy`` (latent means) and prints one JSON line per seed with the
training time and epochs per second.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("h5ad")
    parser.add_argument("out_prefix")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--n-latent", type=int, default=10)
    parser.add_argument("--batch-key", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import anndata
    import numpy as np
    import scvi
    import torch

    torch.set_num_threads(args.threads)
    adata = anndata.read_h5ad(args.h5ad)
    for seed in args.seeds:
        scvi.settings.seed = seed
        ad = adata.copy()
        scvi.model.SCVI.setup_anndata(ad, batch_key=args.batch_key)
        model = scvi.model.SCVI(ad, n_latent=args.n_latent)
        start = time.perf_counter()
        model.train(max_epochs=args.epochs, accelerator="cpu", enable_progress_bar=False,
                    early_stopping=False)
        seconds = time.perf_counter() - start
        latent = model.get_latent_representation()
        np.save(f"{args.out_prefix}_seed{seed}.npy", latent.astype(np.float32))
        print(json.dumps({"seed": seed, "epochs": args.epochs, "train_seconds": seconds,
                          "epochs_per_second": args.epochs / seconds,
                          "scvi_version": scvi.__version__}), flush=True)


if __name__ == "__main__":
    main()
