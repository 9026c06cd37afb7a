"""β-VAE latent quality vs PCA on the bundled datasets (issue 3 target: ARI ≥ PCA + 0.05).

Prints JSON: per dataset, KMeans/Leiden ARI and NMI and the 15-NN label accuracy of the VAE
latent and of PCA with the same number of components, means over training seeds (each ARI
itself a mean over 3 KMeans seeds).

Usage: python benchmarks/betavae_quality.py [--datasets kang_pbmc zeisel_cortex] [--seeds 0 1 2]
       [--epochs N] [--model-json '{"schedule": {...}}'] [--train-json '{"lr": ...}']
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.io import read  # noqa: E402
from core.data.preprocess import PreprocessConfig, preprocess  # noqa: E402
from core.data.registry import DATASETS  # noqa: E402
from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, train_betavae  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["kang_pbmc", "zeisel_cortex"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--model-json", default="{}")
    ap.add_argument("--train-json", default="{}")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    model = json.loads(args.model_json)
    out: dict = {"model_overrides": model, "train_overrides": json.loads(args.train_json),
                 "datasets": {}}
    for name in args.datasets:
        adata = preprocess(read(name).adata, PreprocessConfig())
        label = DATASETS[name].label_key
        per_seed = []
        for seed in args.seeds:
            train = replace(BETAVAE_TRAIN_DEFAULTS, seed=seed, device=args.device,
                            **json.loads(args.train_json))
            if args.epochs:
                train = replace(train, epochs=args.epochs)
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                run = train_betavae(adata, dataset=name, label_key=label, model=model,
                                    train=train, run_dir=Path(tmp) / "run")
                m = dict(run.metrics)
            m["wall_seconds"] = time.perf_counter() - t
            per_seed.append(m)
        keys = ["ari_kmeans_vae", "ari_kmeans_pca", "nmi_kmeans_vae", "nmi_kmeans_pca",
                "ari_leiden_vae", "ari_leiden_pca", "silhouette_vae", "silhouette_pca",
                "knn_accuracy_vae", "knn_accuracy_pca", "n_epochs_run", "train_seconds"]
        summary = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
        summary["ari_kmeans_vae_per_seed"] = [round(m["ari_kmeans_vae"], 4) for m in per_seed]
        summary["ari_gain_over_pca"] = summary["ari_kmeans_vae"] - summary["ari_kmeans_pca"]
        summary["target_met"] = summary["ari_gain_over_pca"] >= 0.05
        summary["label_key"] = label
        summary["shape"] = [adata.n_obs, adata.n_vars]
        out["datasets"][name] = summary
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
