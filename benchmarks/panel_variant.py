"""One β-VAE variant on one dataset of the panel, beside PCA and Harmony on the same seeds (JSON).

The recommended β-VAE (:func:`core.recipes.benchmark.recommended_betavae`) with the given
overrides, trained with the panel's settings (100 epochs, n_latent 10, CPU unless
``--device``), scored with :func:`core.analysis.benchmark.score_embeddings` beside PCA (10
components) on the same seeds; with a batch column also Harmony on its latent and on PCA.
The attempts in ``results/panel_batch_attempts.json`` and ``results/panel_nb_beta.json``
come from this script.

Usage: ``PYTHONPATH=.:benchmarks python benchmarks/panel_variant.py kang_pbmc
'{"encode_batch": false}' [--seeds 3] [--device cuda]``
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
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from bench_panel import PANEL, panel_data

    from core.analysis.benchmark import score_embeddings
    from core.analysis.embeddings import pca
    from core.recipes.benchmark import harmony_correct, recommended_betavae
    from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, train_betavae
    from core.training.inputs import model_input

    _, label, batch, _ = PANEL[args.dataset]
    adata = panel_data(args.dataset)
    likelihood = recommended_betavae(adata).split("_", 1)[1]
    overrides = json.loads(args.overrides)
    pcs = pca(model_input(adata), 10)
    tables, seconds = [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run = train_betavae(adata, dataset=args.dataset, batch_key=batch,
                                model={"likelihood": likelihood, "n_latent": 10, **overrides},
                                train=replace(BETAVAE_TRAIN_DEFAULTS, seed=seed, device=args.device,
                                              epochs=args.epochs), runs_root=tmp)
            latent = np.asarray(run.latent)
        embeddings = {"vae": latent, "pca": pcs}
        if batch is not None:  # Harmony on the latent and on PCA, same seed
            embeddings["vae+harmony"] = harmony_correct(latent, adata.obs[batch], seed=seed)
            embeddings["harmony"] = harmony_correct(pcs, adata.obs[batch], seed=seed)
        batches = None if batch is None else adata.obs[batch].to_numpy()
        table = score_embeddings(embeddings, adata.obs[label].to_numpy(), batches, seed=seed)
        tables.append(table[[c for c in COLUMNS if c in table]])
        seconds.append(time.perf_counter() - t0)
    mean = sum(tables) / len(tables)
    print(json.dumps({"dataset": args.dataset, "likelihood": likelihood, "overrides": overrides,
                      "seeds": args.seeds,
                      **{c.split("_")[0]: mean[c].round(4).to_dict() for c in COLUMNS
                         if c in mean},
                      "per_seed_total": [t["total"].round(4).to_dict() for t in tables],
                      "seconds_per_seed": round(float(np.mean(seconds)), 1)}, indent=1))


if __name__ == "__main__":
    main()
