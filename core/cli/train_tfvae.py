"""TF-VAE options of ``python -m core train --model tfvae``.

:mod:`core.cli.train` adds :func:`add_arguments` to its parser and calls :func:`run` for
``--model tfvae``.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.types import number, whole_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the TF-VAE options (a group) to the ``train`` parser."""
    from core.recipes.tfvae import BACKBONES, MASK_SOURCES
    from core.recipes.tfvae import TFVAE_DEFAULTS as D

    g = parser.add_argument_group("TF-VAE (--model tfvae)")
    g.add_argument("--tf-list", default=None, metavar="NAME_OR_PATH",
                   help="bundled TF list (human_lambert2018, mouse_mgi, ...) or a text file; "
                        "default: by species guessed from gene symbols")
    g.add_argument("--max-tfs", type=whole_number, default=D["max_tfs"],
                   help="keep at most this many TFs, most variable first (default %(default)s)")
    g.add_argument("--mask-sparsity", type=number, default=D["mask_sparsity"], metavar="P",
                   help="percent of TF→TF and TF→gene weights kept (default %(default)s)")
    g.add_argument("--mask-source", choices=MASK_SOURCES, default=D["mask_source"],
                   help="where the masks come from (default %(default)s)")
    g.add_argument("--backbone", choices=BACKBONES, default=D["backbone"],
                   help="fixed prior-network regression under the learned decoder (auto: "
                        "for the Gaussian likelihood; default %(default)s)")
    g.add_argument("--prior", default=None, metavar="NAME_OR_PATH",
                   help="prior network (dorothea_human, trrust_human, collectri_human, ... or a "
                        "CSV source,target[,sign]); default DoRothEA of the species")
    g.add_argument("--prior-confidence", default=D["prior_confidence"],
                   help="DoRothEA levels to keep (default %(default)s)")
    g.add_argument("--l1", type=number, default=D["l1"], help="L1 α of phase (b)")
    g.add_argument("--tf-consistency", type=number, default=D["tf_consistency"],
                   help="weight of the TF→TF consistency term in phases (b) and (d) "
                        "(default %(default)s; 0 turns it off)")
    g.add_argument("--align-weight", type=number, default=D["align_weight"],
                   help="weight of the TF-alignment term in phase (e)")
    for phase in ("encoder", "decoder", "masked", "masked_fine", "vae"):
        g.add_argument(f"--epochs-{phase.replace('_', '-')}", type=whole_number,
                       default=D[f"epochs_{phase}"], dest=f"epochs_{phase}",
                       help=f"epochs of phase '{phase}' (default %(default)s)")


def tfvae_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe settings (overrides of TFVAE_DEFAULTS) given on the command line."""
    keys = ("tf_list", "max_tfs", "mask_sparsity", "mask_source", "backbone", "prior",
            "prior_confidence",
            "l1", "tf_consistency", "align_weight", "epochs_encoder", "epochs_decoder",
            "epochs_masked", "epochs_masked_fine", "epochs_vae")
    settings = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    settings["likelihood"] = getattr(args, "likelihood", None) or "gaussian"
    if getattr(args, "batch_key", None):
        from core.errors import ConfigError
        raise ConfigError("--batch-key is not available for the TF-VAE (its decoder has no "
                          "batch covariate); train it without --batch-key.")
    if getattr(args, "hidden", None):
        settings["hidden"] = list(args.hidden)   # parsed by --hidden's positive_int_list
    return settings


def job_parts(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model, train)`` of the job spec for ``python -m core train --model tfvae``.

    Uses the common ``train`` options ``--label-key``, ``--batch-size``, ``--lr``, ``--seed``,
    ``--device``, ``--bf16``, ``--hidden``, ``--likelihood`` (gaussian, nb, zinb) and ``--out``;
    ``--epochs`` is not used (each phase has its own ``--epochs-<phase>``).
    """
    from core.recipes.tfvae import TFVAE_TRAIN_DEFAULTS as base

    train = {"batch_size": getattr(args, "batch_size", None) or base.batch_size,
             "lr": getattr(args, "lr", None) or base.lr,
             "device": getattr(args, "device", "auto"), "bf16": bool(getattr(args, "bf16", False)),
             "devices": getattr(args, "devices", 1)}
    return tfvae_settings(args), train
