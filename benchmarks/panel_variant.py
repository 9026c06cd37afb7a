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


def score_variant(dataset: str, overrides: dict, *, seeds: int = 3, epochs: int = 100,
                  device: str = "cpu", latent_harmony: bool = True) -> tuple[str, list, list]:
    """Train the recommended β-VAE with ``overrides`` on ``seeds`` seeds and score it.

    Returns the likelihood, one score table per seed (rows ``vae``, ``pca`` and, with a batch
    column, ``harmony`` and — if ``latent_harmony`` — ``vae+harmony``; the :data:`COLUMNS`
    that apply) and the seconds per seed.
    """
    from bench_panel import PANEL, panel_data

    from core.analysis.benchmark import score_embeddings
    from core.analysis.embeddings import pca
    from core.recipes.benchmark import harmony_correct, recommended_betavae
    from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, train_betavae
    from core.training.inputs import model_input

    _, label, batch, _ = PANEL[dataset]
    adata = panel_data(dataset)
    likelihood = recommended_betavae(adata).split("_", 1)[1]
    pcs = pca(model_input(adata), 10)
    batches = None if batch is None else adata.obs[batch].to_numpy()
    tables, seconds = [], []
    for seed in range(seeds):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run = train_betavae(adata, dataset=dataset, batch_key=batch,
                                model={"likelihood": likelihood, "n_latent": 10, **overrides},
                                train=replace(BETAVAE_TRAIN_DEFAULTS, seed=seed, device=device,
                                              epochs=epochs), runs_root=tmp)
            latent = np.asarray(run.latent)
        embeddings = {"vae": latent, "pca": pcs}
        if batch is not None:  # Harmony on PCA (and on the latent), same seed
            if latent_harmony:
                embeddings["vae+harmony"] = harmony_correct(latent, adata.obs[batch], seed=seed)
            embeddings["harmony"] = harmony_correct(pcs, adata.obs[batch], seed=seed)
        table = score_embeddings(embeddings, adata.obs[label].to_numpy(), batches, seed=seed)
        tables.append(table[[c for c in COLUMNS if c in table]].dropna(axis=1, how="all"))
        seconds.append(time.perf_counter() - t0)
    return likelihood, tables, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("overrides", help="JSON overrides of the β-VAE settings")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    likelihood, tables, seconds = score_variant(args.dataset, overrides, seeds=args.seeds,
                                                epochs=args.epochs, device=args.device)
    mean = sum(tables) / len(tables)
    print(json.dumps({"dataset": args.dataset, "likelihood": likelihood, "overrides": overrides,
                      "seeds": args.seeds,
                      **{c.split("_")[0]: mean[c].round(4).to_dict() for c in COLUMNS
                         if c in mean},
                      "per_seed_total": [t["total"].round(4).to_dict() for t in tables],
                      "seconds_per_seed": round(float(np.mean(seconds)), 1)}, indent=1))


if __name__ == "__main__":
    main()
