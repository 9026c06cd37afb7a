"""``python -m core phenotype train|predict``: DeepSet phenotype of perturbed gene sets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.types import nonneg_int, positive_int


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from core.data.phenotypes import read_phenotypes
    from core.errors import ConfigError
    from core.recipes.phenotype import (
        PHENOTYPE_TRAIN_DEFAULTS,
        PhenotypeSettings,
        train_phenotype,
    )

    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise ConfigError(f"Output folder {args.out} exists and is not empty; choose a new one.")
    table = read_phenotypes(args.data, genes_column=args.genes_column,
                            value_column=args.value_column)
    values = {"features": args.features, "split": args.split,
              "allow_learned_fallback": args.allow_learned_fallback}
    if args.pool is not None:
        values["pool"] = args.pool
    train = replace(PHENOTYPE_TRAIN_DEFAULTS, seed=args.seed, device=args.device)
    if args.max_epochs is not None:
        train = replace(train, epochs=args.max_epochs)
    run = train_phenotype(table, settings=PhenotypeSettings.from_dict(values), train=train,
                          run_dir=args.out)
    print(json.dumps({"run_dir": str(run.path), **run.metrics}, indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from core.errors import DataError
    from core.recipes.phenotype import predict

    path = Path(args.sets)
    if not path.is_file():
        raise DataError(f"--sets {args.sets}: no such file; give a CSV/TSV with a "
                        f"'{args.genes_column}' column.")
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    try:
        frame = pd.read_csv(path, sep=sep)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"Cannot read {path.name} as a CSV/TSV table: {exc}") from exc
    if args.genes_column not in frame.columns:
        raise DataError(f"{path.name} has no column '{args.genes_column}'; its columns are "
                        f"{', '.join(map(str, frame.columns))}.")
    table = predict(args.run_dir, frame[args.genes_column].tolist())
    table.to_csv(args.out, index=False)
    print(json.dumps({"out": str(args.out), "n_sets": len(table)}))
    return 0


def _cmd_interactions(args: argparse.Namespace) -> int:
    from core.recipes.phenotype import interaction_ranking, load_module
    from core.runs import load_run

    run = load_run(args.run_dir)
    load_module(run)                    # a one-line error when it is not a DeepSet run
    table = interaction_ranking(run)
    if args.only_new:
        table = table[table["in_data"] == "new"]
    table.to_csv(args.out, index=False)
    top = table.head(args.top)[["genes", "interaction"]]
    print(json.dumps({"out": str(args.out), "n_pairs": len(table),
                      "top_synergy": top.to_dict("records")}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``phenotype`` command with ``train`` and ``predict``."""
    p = sub.add_parser("phenotype", help="DeepSet: predict the phenotype of a set of perturbed "
                                         "genes (train a run, or predict with one)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser("train", help="train a DeepSet; writes a run folder with "
                                         "metrics.json (held-out Pearson/Spearman, baselines)")
    t.add_argument("--data", required=True, metavar="FILE_OR_NAME",
                   help="phenotype table (CSV/TSV) or bundled name, e.g. norman_gi")
    t.add_argument("--genes-column", default="genes", help="column of sets, A or A+B+…")
    t.add_argument("--value-column", default="fitness", help="numeric phenotype column")
    t.add_argument("--features", default="learned", metavar="FILE|RUN_DIR|learned",
                   help="gene features: a genes × features table, a TF-VAE run folder, or "
                        "'learned' (an embedding per gene)")
    t.add_argument("--allow-learned-fallback", action="store_true",
                   help="genes missing from --features get a learned embedding instead of "
                        "an error")
    t.add_argument("--split", default="pairs", choices=["pairs", "random", "genes"])
    t.add_argument("--pool", choices=["sum", "mean", "attention"])
    t.add_argument("--max-epochs", type=positive_int)
    t.add_argument("--seed", type=nonneg_int, default=0, help="seeds the split and the weights")
    t.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    t.add_argument("--out", default=None, metavar="RUN_DIR", help="run folder to write "
                   "(default: a new folder under $SCVAE_RUNS_DIR or ./runs)")
    t.set_defaults(func=_cmd_train)
    q = actions.add_parser("predict", help="predict sets with a trained run; writes a CSV "
                                           "(genes, predicted, additive, interaction)")
    q.add_argument("run_dir", metavar="RUN_DIR")
    q.add_argument("--sets", required=True, metavar="FILE",
                   help="CSV/TSV with a 'genes' column of A+B+… sets")
    q.add_argument("--genes-column", default="genes")
    q.add_argument("--out", required=True, metavar="CSV")
    q.set_defaults(func=_cmd_predict)
    r = actions.add_parser("interactions", help="rank every pair of the run's genes by "
                                                "predicted interaction (synergy first); "
                                                "writes a CSV")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--out", required=True, metavar="CSV")
    r.add_argument("--only-new", action="store_true", help="only pairs not in the data")
    r.add_argument("--top", type=positive_int, default=10, help="pairs printed (default 10)")
    r.set_defaults(func=_cmd_interactions)

