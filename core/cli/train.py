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


def job_spec(args: argparse.Namespace):
    """The :class:`core.jobs.spec.JobSpec` the ``train`` options describe (also what
    ``python -m core jobs submit`` queues)."""
    from core.jobs.spec import JobSpec

    if args.model not in MODELS:
        raise ConfigError(f"Unknown model '{args.model}'; choose one of {', '.join(MODELS)}.")
    if not args.data:
        raise ConfigError("--data is required (a bundled dataset name or a file), unless "
                          "--resume RUN_DIR continues a run.")
    model, train = MODELS[args.model].job_parts(args)
    preprocess = {"subset_hvg": bool(args.subset_hvg),
                  **({"n_top_genes": args.n_top_genes} if args.n_top_genes else {})}
    return JobSpec.from_dict({
        "kind": args.model, "data": args.data, "transpose": bool(args.transpose),
        "preprocess": preprocess, "label_key": args.label_key,
        "batch_key": getattr(args, "batch_key", None) or None, "model": model,
        "train": train, "seed": args.seed,
        **({"checkpoint_every": args.checkpoint_every} if args.checkpoint_every else {}),
    }).check()


def run(args: argparse.Namespace) -> int:
    """Check the options, read and preprocess the data, train, print the metrics as JSON.

    The run folder is marked unfinished and checkpointed while it trains; ``--resume
    RUN_DIR`` continues such a folder from its checkpoint with the settings it was started
    with (its ``job.json``), so it ends with the epochs it would have had uninterrupted.
    """
    from core.jobs.spec import execute, load_spec, write_spec
    from core.runs import new_run_dir
    from core.training.distributed import check_devices

    if not args.resume and _backed(args):
        if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
            raise ConfigError(f"Output folder {args.out} exists and is not empty; choose a "
                              "new one.")
        return _run_backed(args)
    if args.resume:
        path = Path(args.resume)
        spec = load_spec(path)
    else:
        spec = job_spec(args)
        check_devices(args.device, args.devices)     # before the data is read
        if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
            raise ConfigError(f"Output folder {args.out} exists and is not empty; choose a "
                              "new one.")
        path = Path(args.out) if args.out else new_run_dir(spec.kind, Path(spec.data).stem)
        path.mkdir(parents=True, exist_ok=True)
        write_spec(spec, path)
    trained = execute(spec, path, progress=_stderr_progress(), resume=bool(args.resume))
    print(json.dumps({"run_dir": str(trained.path), **trained.metrics}, indent=2, default=str))
    return 0


def _stderr_progress():
    """A Progress that prints a line per epoch on stderr (stdout keeps the JSON)."""
    from core.training.progress import Progress

    class StderrProgress(Progress):
        def update(self, epoch: int, terms: dict) -> None:
            super().update(epoch, terms)
            loss = terms.get("train_loss")
            print(f"{self.phase} epoch {epoch}/{self.n_epochs}"
                  + (f" loss {loss:.4g}" if loss is not None else ""), file=sys.stderr,
                  flush=True)

    return StderrProgress()


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
    p.add_argument("--data", default=None, metavar="NAME_OR_PATH",
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
    p.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                   help="write a checkpoint every N epochs (default 5) and at cancel")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an unfinished run folder from its checkpoint (other options "
                        "are ignored: the run keeps the settings it was started with)")
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
