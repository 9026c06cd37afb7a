"""One β-VAE variant on one batch dataset of the panel, beside Harmony on its latent (JSON).

The recommended β-VAE (:func:`core.recipes.benchmark.recommended_betavae`) with the given
overrides, trained with the panel's settings (100 epochs, n_latent 10, CPU), scored with
:func:`core.analysis.benchmark.score_embeddings` alone and after harmonypy on its latent.
The attempts in ``results/panel_batch_attempts.json`` compare these figures with the same
seeds' Harmony on PCA (``results/panel_betavae_harmony_cpu.json``).

Usage: ``PYTHONPATH=.:benchmarks python benchmarks/panel_variant.py kang_pbmc
'{"encode_batch": false}' [--seeds 3]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace

import numpy as np

COLUMNS = ["bio_conservation", "batch_correction", "total"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("overrides", help="JSON overrides of the β-VAE settings")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()

    from bench_panel import PANEL, panel_data

    from core.analysis.benchmark import score_embeddings
    from core.recipes.benchmark import harmony_correct, recommended_betavae
    from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, train_betavae

    _, label, batch, _ = PANEL[args.dataset]
    adata = panel_data(args.dataset)
    likelihood = recommended_betavae(adata).split("_", 1)[1]
    overrides = json.loads(args.overrides)
    tables, seconds = [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run = train_betavae(adata, dataset=args.dataset, batch_key=batch,
                                model={"likelihood": likelihood, "n_latent": 10, **overrides},
                                train=replace(BETAVAE_TRAIN_DEFAULTS, seed=seed, device="cpu",
                                              epochs=args.epochs), runs_root=tmp)
            latent = np.asarray(run.latent)
        embeddings = {"vae": latent,
                      "vae+harmony": harmony_correct(latent, adata.obs[batch], seed=seed)}
        tables.append(score_embeddings(embeddings, adata.obs[label].to_numpy(),
                                       adata.obs[batch].to_numpy(), seed=seed)[COLUMNS])
        seconds.append(time.perf_counter() - t0)
    mean = sum(tables) / len(tables)
    print(json.dumps({"dataset": args.dataset, "likelihood": likelihood, "overrides": overrides,
                      "seeds": args.seeds,
                      **{c.split("_")[0]: mean[c].round(4).to_dict() for c in COLUMNS},
                      "per_seed_total": [t["total"].round(4).to_dict() for t in tables],
                      "seconds_per_seed": round(float(np.mean(seconds)), 1)}, indent=1))


if __name__ == "__main__":
    main()
