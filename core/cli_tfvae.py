"""CLI pieces of the TF-VAE: ``train --model tfvae`` options and the ``network`` command.

``python -m core train`` (:mod:`core.cli_train`) adds :func:`add_tfvae_train_args` to its parser
and dispatches to :func:`run_tfvae_train` for ``--model tfvae`` (``MODEL_HANDLERS``). The
``network`` command is registered through ``EXTRA_COMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.cli import EXTRA_COMMANDS
from core.cli_train import MODEL_HANDLERS
from core.cli_types import nonneg_float, nonneg_int, percent, positive_int


def add_tfvae_train_args(parser: argparse.ArgumentParser) -> None:
    """Add the TF-VAE options (a group) to the ``train`` parser."""
    from core.training.tfvae_recipe import MASK_SOURCES
    from core.training.tfvae_recipe import TFVAE_DEFAULTS as D

    g = parser.add_argument_group("TF-VAE (--model tfvae)")
    g.add_argument("--tf-list", default=None, metavar="NAME_OR_PATH",
                   help="bundled TF list (human_lambert2018, mouse_mgi, ...) or a text file; "
                        "default: by species guessed from gene symbols")
    g.add_argument("--max-tfs", type=positive_int, default=D["max_tfs"],
                   help="keep at most this many TFs, most variable first (default %(default)s)")
    g.add_argument("--mask-sparsity", type=percent, default=D["mask_sparsity"], metavar="P",
                   help="percent of TF→TF and TF→gene weights kept (default %(default)s)")
    g.add_argument("--mask-source", choices=MASK_SOURCES, default=D["mask_source"],
                   help="where the masks come from (default %(default)s)")
    g.add_argument("--prior", default=None, metavar="NAME_OR_PATH",
                   help="prior network (dorothea_human, trrust_human, collectri_human, ... or a "
                        "CSV source,target[,sign]); default DoRothEA of the species")
    g.add_argument("--prior-confidence", default=D["prior_confidence"],
                   help="DoRothEA levels to keep (default %(default)s)")
    g.add_argument("--l1", type=nonneg_float, default=D["l1"], help="L1 α of phase (b)")
    g.add_argument("--tf-consistency", type=nonneg_float, default=D["tf_consistency"],
                   help="weight of the TF→TF consistency term in phases (b) and (d) "
                        "(default %(default)s; 0 turns it off)")
    g.add_argument("--align-weight", type=nonneg_float, default=D["align_weight"],
                   help="weight of the TF-alignment term in phase (e)")
    for phase in ("encoder", "decoder", "masked", "masked_fine", "vae"):
        g.add_argument(f"--epochs-{phase.replace('_', '-')}", type=nonneg_int,
                       default=D[f"epochs_{phase}"], dest=f"epochs_{phase}",
                       help=f"epochs of phase '{phase}' (default %(default)s)")


def tfvae_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe settings (overrides of TFVAE_DEFAULTS) given on the command line."""
    keys = ("tf_list", "max_tfs", "mask_sparsity", "mask_source", "prior", "prior_confidence",
            "l1", "tf_consistency", "align_weight", "epochs_encoder", "epochs_decoder",
            "epochs_masked", "epochs_masked_fine", "epochs_vae")
    settings = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    settings["likelihood"] = getattr(args, "likelihood", None) or "gaussian"
    if getattr(args, "batch_key", None):
        from core.errors import ConfigError
        raise ConfigError("--batch-key is not available for the TF-VAE (its decoder has no "
                          "batch covariate); train it without --batch-key.")
    if getattr(args, "hidden", None):
        settings["hidden"] = [int(h) for h in str(args.hidden).split(",") if h]
    return settings


def run_tfvae_train(args: argparse.Namespace, adata: Any, dataset: str) -> Any:
    """Train a TF-VAE for ``python -m core train --model tfvae``; returns the saved Run.

    Uses the common ``train`` options ``--label-key``, ``--batch-size``, ``--lr``, ``--seed``,
    ``--device``, ``--bf16``, ``--hidden``, ``--likelihood`` (gaussian, nb, zinb) and ``--out``;
    ``--epochs`` is not used (each phase has its own ``--epochs-<phase>``).
    """
    from dataclasses import replace

    from core.training.tfvae_recipe import TFVAE_TRAIN_DEFAULTS, train_tfvae

    base = TFVAE_TRAIN_DEFAULTS
    train = replace(base, batch_size=getattr(args, "batch_size", None) or base.batch_size,
                    lr=getattr(args, "lr", None) or base.lr, seed=getattr(args, "seed", 0),
                    device=getattr(args, "device", "auto"),
                    bf16=bool(getattr(args, "bf16", False)))
    return train_tfvae(adata, dataset=dataset, label_key=getattr(args, "label_key", None),
                       model=tfvae_settings(args), train=train,
                       run_dir=getattr(args, "out", None))


def _cmd_network(args: argparse.Namespace) -> int:
    from core.analysis.network import filter_edges, write_graphml
    from core.training.runs import load_run
    from core.training.tfvae_recipe import load_network

    run = load_run(args.run_dir)
    edges = filter_edges(load_network(run), min_abs_weight=args.min_weight,
                         layers=args.layer or ("tf2tf", "tf2gene"), top_k_per_tf=args.top_k)
    out = Path(args.out) if args.out else None
    if out is None:
        edges.to_csv(sys.stdout, index=False)
    elif out.suffix.lower() == ".graphml":
        write_graphml(edges, out, run.config.get("tfs"))
    else:
        edges.to_csv(out, index=False)
    if out is not None:
        print(json.dumps({"out": str(out), "edges": len(edges),
                          **edges["layer"].value_counts().to_dict()}))
    return 0


def register_network(sub: argparse._SubParsersAction) -> None:
    """``python -m core network RUN_DIR [--out edges.csv|net.graphml]``."""
    p = sub.add_parser("network", help="export the TF network learned by a TF-VAE run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", default=None,
                   help="edges CSV (source,target,weight,sign,layer,in_prior) or .graphml; "
                        "stdout when omitted")
    p.add_argument("--min-weight", type=nonneg_float, default=0.0, help="keep |weight| ≥ this")
    p.add_argument("--layer", action="append", choices=("tf2tf", "tf2gene"),
                   help="only this layer (repeatable)")
    p.add_argument("--top-k", type=positive_int, default=None, help="keep each TF's top-k targets")
    p.set_defaults(func=_cmd_network)


if register_network not in EXTRA_COMMANDS:
    EXTRA_COMMANDS.append(register_network)
MODEL_HANDLERS["tfvae"] = (add_tfvae_train_args, run_tfvae_train)
