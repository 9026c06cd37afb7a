"""``python -m core train``: train a model headlessly and write a run folder."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from core.cli_types import (
    fraction,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    positive_int_list,
)
from core.errors import ConfigError

#: Extra ``--model`` choices: name → (add_arguments(parser), run(args, adata, dataset) -> Run).
MODEL_HANDLERS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable]] = {}
#: Functions adding options shared by several models (e.g. likelihood, batch key).
EXTRA_TRAIN_ARGS: list[Callable[[argparse.ArgumentParser], None]] = []


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


def train_config(args: argparse.Namespace):
    """TrainConfig from the common CLI options (model defaults where an option is not given)."""
    from core.training.workflows import BETAVAE_TRAIN_DEFAULTS

    base = BETAVAE_TRAIN_DEFAULTS
    return replace(base, epochs=args.epochs or base.epochs, seed=args.seed, device=args.device,
                   batch_size=args.batch_size or base.batch_size, lr=args.lr or base.lr,
                   bf16=args.bf16)


def schedule_from_args(args: argparse.Namespace, epochs: int):
    """The β schedule named by ``--beta-schedule`` with ``--beta``/``--warmup`` options."""
    from core.training.schedules import make_schedule
    from core.training.workflows import model_defaults

    if args.beta_schedule is None:
        spec = dict(model_defaults(getattr(args, "likelihood", "gaussian"))["schedule"])
        name = spec.pop("name")
    else:
        name, spec = args.beta_schedule, {}
    if args.beta is not None:
        spec.update(beta_value=args.beta, beta_max=args.beta)
    if args.warmup is not None:
        spec.update(warmup_epochs=args.warmup)
    return make_schedule(name, total_epochs=epochs, **spec)


def _run_betavae(args: argparse.Namespace, adata, dataset: str):
    from core.training.workflows import train_betavae

    train = train_config(args)
    model = {}
    if args.latent:
        model["n_latent"] = args.latent
    if args.hidden:
        model["hidden"] = list(args.hidden)
    if args.hvg_weight:
        model["hvg_weight"] = args.hvg_weight
    for key in ("dropout", "input_dropout"):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    extra = getattr(args, "betavae_model_overrides", None)
    if callable(extra):
        model.update(extra(args))
    return train_betavae(adata, dataset=dataset, label_key=args.label_key, model=model,
                         train=train, schedule=schedule_from_args(args, train.epochs),
                         run_dir=args.out, batch_key=getattr(args, "batch_key", None))


def _cmd_train(args: argparse.Namespace) -> int:
    handlers = {"betavae": (None, _run_betavae), **MODEL_HANDLERS}
    if args.model not in handlers:
        raise ConfigError(f"Unknown model '{args.model}'; choose one of {', '.join(handlers)}.")
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise ConfigError(f"Output folder {args.out} exists and is not empty; choose a new one.")
    adata, dataset = _load(args)
    if args.label_key and args.label_key not in adata.obs:
        raise ConfigError(f"--label-key '{args.label_key}' is not an obs column; columns are: "
                          f"{', '.join(map(str, adata.obs.columns))}.")
    run = handlers[args.model][1](args, adata, dataset)
    print(json.dumps({"run_dir": str(run.path), **run.metrics}, indent=2, default=str))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = sub.add_parser("train", help="train a model and write a run folder")
    p.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="bundled dataset name or a file (.h5ad, 10x .h5/.zip, CSV/TSV)")
    p.add_argument("--model", default="betavae",
                   help="betavae (default)" + "".join(f", {m}" for m in MODEL_HANDLERS))
    p.add_argument("--label-key", default=None, help="obs column to score ARI/NMI against")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--latent", type=positive_int, default=None, help="latent dimensions")
    p.add_argument("--hidden", type=positive_int_list, default=None,
                   help="encoder widths, e.g. 1024,512,256")
    p.add_argument("--hvg-weight", type=positive_float, default=None,
                   help="reconstruction weight of highly variable genes")
    p.add_argument("--dropout", type=fraction, default=None,
                   help="betavae: dropout in every hidden layer")
    p.add_argument("--input-dropout", type=fraction, default=None,
                   help="betavae: fraction of input values zeroed while training (denoising)")
    p.add_argument("--beta-schedule", choices=["constant", "linear", "reference", "cyclical"],
                   default=None)
    p.add_argument("--beta", type=nonneg_float, default=None, help="β (constant) or β max")
    p.add_argument("--warmup", type=nonneg_int, default=None, help="warm-up epochs (linear)")
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
    for add in EXTRA_TRAIN_ARGS:
        add(p)
    for add, _ in MODEL_HANDLERS.values():
        if add is not None:
            add(p)
    p.set_defaults(func=_cmd_train)
