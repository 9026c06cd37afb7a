"""``python -m core train``: train a model headlessly and write a run folder.

The models are the modules in :data:`MODELS` (``--model NAME``). Each has
``add_arguments(parser)`` (its own option group) and ``run(args, adata, dataset) -> Run``.
Adding a model to the CLI is one module plus one line in the table.
"""

from __future__ import annotations

import argparse
import json
import sys
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` command with the options of every model in :data:`MODELS`."""
    p = sub.add_parser("train", help="train a model and write a run folder")
    _add_common_arguments(p)
    for model in MODELS.values():
        model.add_arguments(p)
    p.set_defaults(func=run)
