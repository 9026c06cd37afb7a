"""scGen on kang_pbmc: hold out each cell type, score every predictor against real cells.

For every held-out type and seed, one model is trained (library defaults, SCGEN_DEFAULTS and
SCGEN_TRAIN_DEFAULTS, unless overridden) and all predictors are scored the same way: the two
scGen variants (control + decoded change, the default; decode(z + δ)) and the baselines
(control unchanged, gene-space mean shift, δ in PCA space). Scores: R² of per-gene means (all
genes, top-100 DEGs), R² of per-gene variances (all, top-100), and distribution distances in a
PCA space of the real cells (energy distance, RBF MMD², kNN mixing). Prints one JSON line per
(type, seed), then a summary (means over types and seeds; which predictor wins on mean
top-100 R²; whether the default beats mean shift and PCA δ on every seed); ``--out`` saves it.

    PYTHONPATH=. python benchmarks/scgen_kang.py [--seeds 0,1] [--types CD4T,B] \
        [--epochs N] [--device cpu|cuda] [--out benchmarks/results/scgen_kang_default.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch


def _summary(rows: pd.DataFrame, default: str) -> dict:
    from core.analysis.scgen import BASELINES, SCORE_TITLES

    keys = [k for k in SCORE_TITLES if k in rows]
    mean = rows.groupby("method")[keys].mean().round(4)
    per_seed = rows.groupby(["seed", "method"])["r2_top100"].mean().unstack()
    by_type = rows.groupby(["holdout", "method"])["r2_top100"].mean().unstack().round(4)
    top = mean["r2_top100"]
    return {
        "mean_over_types_and_seeds": {m: mean.loc[m].to_dict() for m in mean.index},
        "mean_r2_top100_per_seed": {int(s): per_seed.loc[s].round(4).to_dict()
                                    for s in per_seed.index},
        "r2_top100_by_type": {t: by_type.loc[t].to_dict() for t in by_type.index},
        "best_mean_r2_top100": str(top.idxmax()),
        "default": default,
        "default_margin_r2_top100": {b: round(float(top[default] - top[b]), 4)
                                     for b in BASELINES if b in top},
        "default_beats_baselines_every_seed": bool(all(
            per_seed.loc[s, default] > per_seed.loc[s, b]
            for s in per_seed.index for b in ("mean_shift", "pca_delta"))),
        "default_wins_types": {b: int((by_type[default] > by_type[b]).sum())
                               for b in BASELINES if b in by_type},
        "n_types": int(by_type.shape[0]),
    }


def main() -> None:
    from core.analysis.scgen import DEFAULT_METHOD, ScgenSpec, log_expression
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.recipes.scgen import (
        SCGEN_DEFAULTS,
        SCGEN_TRAIN_DEFAULTS,
        fit_predict,
        holdout_candidates,
    )

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the library's)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--types", help="comma-separated held-out types (default: all)")
    parser.add_argument("--model", default="{}", help="JSON overrides of SCGEN_DEFAULTS")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--out", help="also write the summary JSON here")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="summarise the runs of earlier outputs (e.g. one per seed, run in "
                             "parallel) instead of training")
    args = parser.parse_args()
    if args.merge:
        _write(_merge(args.merge), args.out)
        return
    torch.set_num_threads(args.threads)

    adata = preprocess(read("kang_pbmc").adata)
    x = log_expression(adata)
    model = {**SCGEN_DEFAULTS, **json.loads(args.model)}
    base = ScgenSpec("condition", "control", "stimulated", "cell_type", "CD4T")
    types = args.types.split(",") if args.types else holdout_candidates(adata.obs, base)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, runs = [], []
    t0 = time.perf_counter()
    for seed in seeds:
        train = replace(SCGEN_TRAIN_DEFAULTS, seed=seed, device=args.device)
        if args.epochs:
            train = replace(train, epochs=args.epochs)
        for t in types:
            res = fit_predict(adata, replace(base, holdout=t), model=model, train=train, x=x)
            facts = {"holdout": t, "seed": seed, "epochs": res.train.n_epochs_run,
                     "seconds": round(res.train.train_seconds, 1), "device": res.train.device}
            rows += [{**facts, "method": m, **s} for m, s in res.scores.items()]
            runs.append({**facts, "scores": {m: {k: round(v, 4) for k, v in s.items()}
                                             for m, s in res.scores.items()}})
            print(json.dumps(runs[-1]), flush=True)
    out = {
        "dataset": "kang_pbmc", "input": "layers['log1p'] (log-normalised)",
        "model": model, "train": replace(train, seed=seeds[0]).to_dict(), "seeds": seeds,
        "types": types, "n_genes": int(adata.n_vars),
        "distribution_space": "PCA (50) of the held-out type's real control + stimulated "
                              "cells; RBF bandwidth = median distance among real stimulated",
        **_summary(pd.DataFrame(rows), DEFAULT_METHOD),
        "runs": runs,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "torch_threads": args.threads,
    }
    _write(out, args.out)


def _rows(runs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{**{k: r[k] for k in ("holdout", "seed")}, "method": m, **s}
                         for r in runs for m, s in r["scores"].items()])


def _merge(paths: list[str]) -> dict:
    from core.analysis.scgen import DEFAULT_METHOD

    parts = [json.loads(Path(p).read_text()) for p in paths]
    runs = [r for part in parts for r in part["runs"]]
    keep = ("dataset", "input", "model", "train", "types", "n_genes", "distribution_space",
            "torch_threads")
    return {**{k: parts[0][k] for k in keep if k in parts[0]},
            "seeds": sorted({r["seed"] for r in runs}),
            **_summary(_rows(runs), DEFAULT_METHOD), "runs": runs,
            "total_seconds": round(sum(p["total_seconds"] for p in parts), 1),
            "merged_from": len(parts)}


def _write(out: dict, path: str | None) -> None:
    text = json.dumps(out, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n")


if __name__ == "__main__":
    main()
