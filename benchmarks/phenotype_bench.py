"""DeepSet phenotype model on Norman 2019 (``norman_gi``): the three splits, as JSON.

Every attempt is trained with 5 seeds (each seed also draws the split) and reports the
held-out Pearson r of the phenotype and of the INTERACTION (predicted − additive vs measured −
additive) beside the baselines: mean, additive, additive_linear (α + β·additive: the
regression-to-the-mean part of the interaction), ridge (ridge regression on the set's summed
and pairwise-product features; gene indicators with learned features) and mf (additive + a
rank-8 model of the interaction).

- pairs split (held-out combinations of genes measured alone): pooling (sum / mean /
  attention), the interaction head on or off, the wild-type-difference form with and without
  gradient-norm clipping;
- random split: the default model;
- genes split (sets containing a gene never seen in training): gene features from (b) a
  table built from the bundled CollecTRI prior (each gene's signed regulon and regulators, 32
  SVD components) and (c) trained runs of this product on kang_pbmc: a β-VAE's decoder
  loadings and a TF-VAE's masked TF→gene weights (genes absent get the learned fallback).

Two steps, because the run features need scanpy (this machine) and the 55 trainings are
quickest in parallel (any machine with torch, pandas, scipy, scikit-learn, anndata):

``PYTHONPATH=. python benchmarks/phenotype_bench.py prepare`` trains the kang_pbmc runs and
writes the feature tables to ``benchmarks/results/phenotype_features/`` (only the Norman
genes' rows); ``PYTHONPATH=. python benchmarks/phenotype_bench.py run [--seeds 5] [--jobs N]
[--quick]`` trains every attempt (one torch thread per job, CPU) and saves
``benchmarks/results/phenotype.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.data.phenotypes import ASSETS_DIR, read_phenotypes
from core.recipes.phenotype import (
    BASELINES,
    PHENOTYPE_TRAIN_DEFAULTS,
    PhenotypeSettings,
    train_phenotype,
)

RESULTS = Path(__file__).resolve().parent / "results" / "phenotype.json"
FEATURES = RESULTS.parent / "phenotype_features"
#: Attempt name → overrides of PhenotypeSettings, plus ``grad_clip`` for the TrainConfig.
ATTEMPTS = {
    "sum_head": {},
    "mean_head": {"pool": "mean"},
    "attention_head": {"pool": "attention"},
    "sum_no_head": {"interaction_head": False},
    "no_head_wildtype_noclip": {"interaction_head": False, "wild_type_difference": True,
                                "grad_clip": None},
    "no_head_wildtype_clip": {"interaction_head": False, "wild_type_difference": True},
}

#: Earlier attempts (pairs split, seeds 0, 1, 2; /tmp/dsbench/tune.py, one torch thread): held-out
#: interaction r of the model, MF baseline in brackets, then best epoch — before the defaults
#: were changed to the last row.
TUNING_LOG = {
    "hidden 64,64, embed 32, wd 1e-4, lr 3e-3": "0.872 (0.822) ep20; 0.123 (0.835) ep2",
    "same, lr 1e-3, patience 40": "0.874 ep16; 0.345 ep4; -0.118 (0.864) ep8",
    "same, wd 1e-3": "0.048 ep9; 0.136 ep3; -0.007 ep8",
    "hidden 32,32, embed 16, wd 1e-4": "0.874 ep32; 0.880 ep6; 0.790 ep4",
    "hidden 32,32, embed 16, wd 1e-4, lr 1e-3, patience 40": "0.874; 0.883; 0.894",
    "hidden 32,32, embed 16, wd 1e-4, dropout 0.1": "0.868; 0.439 ep2; -0.244 ep8",
    "hidden 32,32, embed 16, wd 0 (default)": "0.923 ep104; 0.934 ep97; 0.936 ep107",
}


def collectri_features(genes: list[str], out: Path, n_components: int = 32) -> dict:
    """Write a genes × SVD-components table from CollecTRI; return its coverage."""
    prior = pd.read_csv(ASSETS_DIR / "priors" / "collectri_human.tsv.gz", sep="\t")
    prior = prior[prior["source"].isin(genes) | prior["target"].isin(genes)]
    out_edges = prior.pivot_table(index="source", columns="target", values="weight",
                                  aggfunc="sum", fill_value=0).add_prefix("regulates_")
    in_edges = prior.pivot_table(index="target", columns="source", values="weight",
                                 aggfunc="sum", fill_value=0).add_prefix("regulated_by_")
    matrix = out_edges.join(in_edges, how="outer").fillna(0.0)
    matrix = matrix.loc[[g for g in genes if g in matrix.index]]
    matrix = matrix.loc[:, matrix.abs().sum() > 0]
    u, s, _ = np.linalg.svd(matrix.to_numpy() - matrix.to_numpy().mean(0), full_matrices=False)
    k = min(n_components, len(s))
    table = pd.DataFrame(u[:, :k] * s[:k], index=matrix.index,
                         columns=[f"svd{i + 1}" for i in range(k)])
    table.index.name = "gene"
    table.to_csv(out)
    return {"genes_with_features": len(table), "genes": len(genes), "components": k}


def prepare(out_dir: Path, epochs: int) -> dict:
    """Train a β-VAE and a TF-VAE on kang_pbmc and write the Norman genes' feature tables
    (:func:`core.recipes.phenotype_features.run_gene_features`) and the CollecTRI table."""
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.recipes.betavae import train_betavae
    from core.recipes.phenotype_features import run_gene_features
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    genes = read_phenotypes("norman_gi").genes
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"collectri": collectri_features(genes, out_dir / "collectri.csv")}
    adata = preprocess(read("kang_pbmc").adata, PreprocessConfig())
    train = TrainConfig(epochs=epochs, device="cpu", seed=0)
    quick = {k: max(1, epochs // 5) for k in ("epochs_encoder", "epochs_decoder",
                                              "epochs_masked", "epochs_masked_fine",
                                              "epochs_vae")}
    with tempfile.TemporaryDirectory(prefix="phenotype_prepare_") as tmp:
        for name, fn, model in (("betavae_kang", train_betavae, None),
                                ("tfvae_kang", train_tfvae, quick)):
            t0 = time.perf_counter()
            run = fn(adata, dataset="kang_pbmc", label_key="cell_type" if "cell_type" in
                     adata.obs else None, model=model, train=train, run_dir=Path(tmp) / name)
            feats = run_gene_features(run)
            keep = [i for i, g in enumerate(feats.genes) if g in set(genes)]
            table = pd.DataFrame(feats.matrix[keep], index=[feats.genes[i] for i in keep])
            table.index.name = "gene"
            table.to_csv(out_dir / f"{name}.csv")
            info[name] = {"source": feats.source, "genes_with_features": len(keep),
                          "genes": len(genes), "features": feats.matrix.shape[1],
                          "train_seconds": round(time.perf_counter() - t0, 1),
                          "model": model, "train": train.to_dict()}
    (out_dir / "prepare.json").write_text(json.dumps(info, indent=2))
    return info


def one_job(job: tuple[str, str, dict, int]) -> dict:
    """Train one (attempt, split, overrides, seed) with one torch thread; its scores."""
    name, split, overrides, seed = job
    torch.set_num_threads(1)
    table = read_phenotypes("norman_gi")
    model = {k: v for k, v in overrides.items() if k != "grad_clip"}
    settings = PhenotypeSettings.from_dict({**model, "split": split})
    train = replace(PHENOTYPE_TRAIN_DEFAULTS, seed=seed, device="cpu",
                    grad_clip=overrides.get("grad_clip", PHENOTYPE_TRAIN_DEFAULTS.grad_clip))
    with tempfile.TemporaryDirectory(prefix="phenotype_bench_") as tmp:
        t0 = time.perf_counter()
        metrics = train_phenotype(table, settings=settings, train=train,
                                  run_dir=Path(tmp) / "run").metrics
        wall = time.perf_counter() - t0
    row = {"attempt": name, "split": split, "seed": seed, "wall_seconds": round(wall, 2),
           "best_epoch": metrics["best_epoch"], "epochs": metrics["n_epochs_run"],
           "n_test": metrics["n_test"], "n_without_features":
           len(metrics["genes_without_features"])}
    for method, sc in metrics["scores"].items():
        row[f"{method}_r"] = sc["pearson"]
        row[f"{method}_interaction_r"] = sc["interaction_pearson"]
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict], attempts: dict) -> dict:
    """Mean and sd over seeds of every score column, per attempt."""
    out = {}
    for name, (split, overrides) in attempts.items():
        frame = pd.DataFrame([r for r in rows if r["attempt"] == name]).sort_values("seed")
        summary = {c: [round(float(frame[c].mean()), 4), round(float(frame[c].std()), 4)]
                   for c in frame.columns if c.endswith("_r") and frame[c].notna().any()}
        out[name] = {"settings": overrides, "split": split, "mean_sd": summary,
                     "per_seed": frame.drop(columns=["attempt", "split"]).to_dict("records"),
                     "mean_wall_seconds": round(float(frame["wall_seconds"].mean()), 2)}
    return out


def attempts_for(features_dir: Path, quick: bool) -> dict[str, tuple[str, dict]]:
    """Attempt name → (split, overrides)."""
    if quick:
        return {"sum_head": ("pairs", {})}
    out = {name: ("pairs", o) for name, o in ATTEMPTS.items()}
    out["random_learned"] = ("random", {})
    for source in ("collectri", "betavae_kang", "tfvae_kang"):
        path = features_dir / f"{source}.csv"
        if path.is_file():
            base = {"features": str(path), "allow_learned_fallback": True}
            out[f"genes_{source}"] = ("genes", base)
            # On held-out genes the default overfits each training gene's features: mean
            # pooling and dropout 0.3 each helped in a 3-seed look (CollecTRI, r 0.59 → 0.69
            # and 0.66); this variant combines them.
            out[f"genes_{source}_mean_dropout"] = ("genes", {**base, "pool": "mean",
                                                             "dropout": 0.3})
    return out


def timing() -> dict:
    """The default training on the whole bundled table with two torch threads (the issue's
    target: under 60 s on 2 CPU cores)."""
    torch.set_num_threads(2)
    table = read_phenotypes("norman_gi")
    with tempfile.TemporaryDirectory(prefix="phenotype_timing_") as tmp:
        t0 = time.perf_counter()
        run_ = train_phenotype(table, train=replace(PHENOTYPE_TRAIN_DEFAULTS, device="cpu"),
                               run_dir=Path(tmp) / "run")
        wall = time.perf_counter() - t0
    return {"wall_seconds": round(wall, 1), "train_seconds": run_.metrics["train_seconds"],
            "epochs": run_.metrics["n_epochs_run"], "load_average": os.getloadavg()}


def run(args: argparse.Namespace) -> None:
    """Every attempt × seed in parallel processes; results to ``args.out``."""
    from concurrent.futures import ProcessPoolExecutor

    table = read_phenotypes("norman_gi")
    attempts = attempts_for(Path(args.features_dir), args.quick)
    if args.only:
        attempts = {k: v for k, v in attempts.items() if k.startswith(args.only)}
    jobs = [(name, split, o, seed) for name, (split, o) in attempts.items()
            for seed in range(args.seeds)]
    result = {"data": "norman_gi", "n_sets": len(table), "n_genes": len(table.genes),
              "baselines": list(BASELINES), "torch_threads_per_job": 1, "jobs": args.jobs,
              "load_average_before": os.getloadavg(), "cpu_count": os.cpu_count(),
              "tuning_log": TUNING_LOG}
    prepared = Path(args.features_dir) / "prepare.json"
    if prepared.is_file():
        result["features"] = json.loads(prepared.read_text())
    old = Path(args.out)
    if args.only and old.is_file():         # keep the other attempts of an earlier run
        result = {**json.loads(old.read_text()), **{k: v for k, v in result.items()
                                                    if k != "attempts"},
                  "attempts": json.loads(old.read_text()).get("attempts", {})}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one_job, jobs))
    result["total_wall_seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_after"] = os.getloadavg()
    result.setdefault("attempts", {}).update(summarise(rows, attempts))
    result["timing_2_threads"] = timing()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v["mean_sd"] for k, v in result["attempts"].items()}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["prepare", "run"])
    parser.add_argument("--features-dir", default=str(FEATURES))
    parser.add_argument("--prepare-epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--quick", action="store_true", help="only the default attempt")
    parser.add_argument("--only", default="", help="only attempts whose name starts so "
                        "(the others are kept from --out)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.step == "prepare":
        print(json.dumps(prepare(Path(args.features_dir), args.prepare_epochs), indent=1))
    else:
        run(args)


if __name__ == "__main__":
    main()
