"""``python -m core predict``: scGen held-out stimulation prediction from the command line."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from core.cli.types import nonneg_int, positive_int


def run(args: argparse.Namespace) -> int:
    from core.analysis.scgen import ScgenSpec, spec_defaults
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.errors import ConfigError
    from core.recipes.scgen import SCGEN_TRAIN_DEFAULTS, predict_every_type, train_scgen

    loaded = read(args.data)
    adata = preprocess(loaded.adata)
    defaults = spec_defaults(adata.obs, loaded.name)
    values = {k: getattr(args, k) if getattr(args, k) is not None else defaults[k]
              for k in ("condition_key", "control", "stimulated", "cell_type_key", "holdout")}
    if args.every_type and values["holdout"] is None:
        values["holdout"] = ""
    missing = [k for k, v in values.items() if v is None]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ConfigError(f"{loaded.name} has no default for {flags}; pass them explicitly.")
    spec = ScgenSpec(**{k: str(v) for k, v in values.items()})
    train = replace(SCGEN_TRAIN_DEFAULTS, seed=args.seed, device=args.device)
    if args.epochs is not None:
        train = replace(train, epochs=args.epochs)
    if args.every_type:
        run = predict_every_type(adata, spec, dataset=loaded.name, train=train,
                                 run_dir=args.out)
    else:
        run = train_scgen(adata, spec, dataset=loaded.name, train=train, run_dir=args.out)
    print(json.dumps(run.metrics, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` command."""
    p = sub.add_parser(
        "predict", help="scGen: predict a held-out cell type's stimulated cells; writes a run "
                        "folder with metrics.json: the default predictor's (method) R² of means "
                        "and variances, energy distance, MMD², kNN mixing, and the same for "
                        "the other variant and the baselines")
    p.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="bundled dataset name or file")
    p.add_argument("--condition-key", help="obs column holding the condition")
    p.add_argument("--control", help="control value of the condition column")
    p.add_argument("--stimulated", help="stimulated value of the condition column")
    p.add_argument("--cell-type-key", help="obs column holding the cell type")
    p.add_argument("--holdout", metavar="TYPE",
                   help="cell type whose stimulated cells are held out and predicted")
    p.add_argument("--every-type", action="store_true",
                   help="hold out every cell type in turn (ignores --holdout)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    p.add_argument("--epochs", type=positive_int, help="maximum epochs (default: scGen's 100)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    p.set_defaults(func=run)

