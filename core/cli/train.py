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
    from core.training.distributed import check_devices

    check_devices(args.device, args.devices)     # before the data is read
    adata, dataset = _load(args)
    if args.label_key and args.label_key not in adata.obs:
        raise ConfigError(f"--label-key '{args.label_key}' is not an obs column; columns are: "
                          f"{', '.join(map(str, adata.obs.columns))}.")
    trained = MODELS[args.model].run(args, adata, dataset)
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
    p.add_argument("--devices", type=positive_int, default=1, metavar="N",
                   help="train data-parallel on N devices (GPUs 0…N-1 with DDP over NCCL, or "
                        "N CPU processes with gloo); default 1")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--transpose", action="store_true", help="CSV/TSV has genes as rows")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` command with the options of every model in :data:`MODELS`."""
    p = sub.add_parser("train", help="train a model and write a run folder")
    _add_common_arguments(p)
    for model in MODELS.values():
        model.add_arguments(p)
    p.set_defaults(func=run)
