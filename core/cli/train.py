"""``python -m core train``: train a model headlessly and write a run folder.

The models are the modules in :data:`MODELS` (``--model NAME``). Each has
``add_arguments(parser)`` (its own option group) and ``run(args, adata, dataset) -> Run``.
Adding a model to the CLI is one module plus one line in the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from core.cli import train_betavae, train_tfvae
from core.cli.types import nonneg_int, positive_float, positive_int, positive_int_list
from core.errors import ConfigError

#: ``--model`` name → its CLI module (``add_arguments``, ``run``); the first is the default.
MODELS = {
    "betavae": train_betavae,
    "tfvae": train_tfvae,
}


def _load(args: argparse.Namespace):
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess

    result = read(args.data, transpose=getattr(args, "transpose", False))
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    config = PreprocessConfig(subset_hvg=args.subset_hvg)
    if args.n_top_genes:
        config = replace(config, n_top_genes=args.n_top_genes)
    return preprocess(result.adata, config), result.name


def run(args: argparse.Namespace) -> int:
    """Check the options, read and preprocess the data, train, print the metrics as JSON."""
    if args.model not in MODELS:
        raise ConfigError(f"Unknown model '{args.model}'; choose one of {', '.join(MODELS)}.")
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise ConfigError(f"Output folder {args.out} exists and is not empty; choose a new one.")
    if _backed(args):
        return _run_backed(args)
    adata, dataset = _load(args)
    if args.label_key and args.label_key not in adata.obs:
        raise ConfigError(f"--label-key '{args.label_key}' is not an obs column; columns are: "
                          f"{', '.join(map(str, adata.obs.columns))}.")
    trained = MODELS[args.model].run(args, adata, dataset)
    print(json.dumps({"run_dir": str(trained.path), **trained.metrics}, indent=2, default=str))
    return 0


def _backed(args: argparse.Namespace) -> bool:
    """Whether to read ``--data`` from disk (``--backed on``, or ``auto`` and a large .h5ad)."""
    from core.data.backed import is_large_h5ad

    if args.backed == "off" or not str(args.data).lower().endswith(".h5ad"):
        if args.backed == "on":
            raise ConfigError("--backed on needs an .h5ad file.")
        return False
    return args.backed == "on" or is_large_h5ad(args.data)


def _run_backed(args: argparse.Namespace) -> int:
    """Train the β-VAE on the .h5ad read from disk (core.recipes.betavae_backed)."""
    from core.cli.train_betavae import schedule_from_args, train_config
    from core.data.preprocess import PreprocessConfig
    from core.recipes.betavae_backed import train_betavae_backed

    if args.model != "betavae" or args.likelihood != "gaussian" or args.batch_key:
        raise ConfigError("Reading from disk (--backed) trains the Gaussian β-VAE without a "
                          "batch key for now; use --backed off to load the file in memory.")
    pre = PreprocessConfig(subset_hvg=args.subset_hvg)
    if args.n_top_genes:
        pre = replace(pre, n_top_genes=args.n_top_genes)
    train = train_config(args)
    model = {"n_latent": args.latent} if args.latent is not None else {}
    if args.hidden:
        model["hidden"] = list(args.hidden)
    trained = train_betavae_backed(args.data, label_key=args.label_key, model=model,
                                   train=train, schedule=schedule_from_args(args, train.epochs),
                                   preprocess=pre, resident=args.backed_reads == "memory",
                                   run_dir=args.out)
    print(json.dumps({"run_dir": str(trained.path), **trained.metrics}, indent=2, default=str))
    return 0


def _add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="bundled dataset name or a file (.h5ad, 10x .h5/.zip, CSV/TSV)")
    p.add_argument("--model", default="betavae", help=", ".join(MODELS) + " (default betavae)")
    p.add_argument("--label-key", default=None, help="obs column to score ARI/NMI against")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--hidden", type=positive_int_list, default=None,
                   help="encoder widths, e.g. 1024,512,256")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--n-top-genes", type=positive_int, default=None,
                   help="highly variable genes (2000)")
    p.add_argument("--subset-hvg", action="store_true", help="train on the HVGs only")
    p.add_argument("--out", default=None, help="run folder to write (default: a new folder "
                   "under $SCVAE_RUNS_DIR or ./runs)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--transpose", action="store_true", help="CSV/TSV has genes as rows")
    p.add_argument("--backed", choices=["auto", "on", "off"], default="auto",
                   help="read an .h5ad from disk in row chunks instead of loading X (auto: "
                        "when dense X would exceed 2 GB)")
    p.add_argument("--backed-reads", choices=["memory", "disk"], default="memory",
                   help="with --backed: keep the counts as CSR on the device (memory, default) "
                        "or read every batch from the file (disk; for counts larger than RAM)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` command with the options of every model in :data:`MODELS`."""
    p = sub.add_parser("train", help="train a model and write a run folder")
    _add_common_arguments(p)
    for model in MODELS.values():
        model.add_arguments(p)
    p.set_defaults(func=run)
