"""Count-likelihood and batch options of ``python -m core train`` (DESIGN §2).

:func:`add_count_args` is registered in :data:`core.cli_train.EXTRA_TRAIN_ARGS`; it adds the
options and sets ``betavae_model_overrides`` so the β-VAE handler puts the likelihood into the
model settings (the handler passes ``--batch-key`` on as ``batch_key``).
"""

from __future__ import annotations

import argparse
from typing import Any

from core.models.likelihoods import DISPERSIONS, LIKELIHOODS


def add_count_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--likelihood``, ``--batch-key`` and ``--dispersion`` to a train parser."""
    group = parser.add_argument_group("likelihood and batch covariate")
    group.add_argument("--likelihood", choices=LIKELIHOODS, default="gaussian",
                       help="gaussian on processed X (default), or nb / zinb on raw counts "
                            "(layers['counts'], or X when it holds counts)")
    group.add_argument("--batch-key", default=None, metavar="KEY",
                       help="obs column used as batch covariate (one-hot into encoder and "
                            "decoder); adds batch_mixing_entropy to metrics.json")
    group.add_argument("--dispersion", choices=DISPERSIONS, default="gene",
                       help="NB/ZINB inverse dispersion per gene or per gene and batch")
    parser.set_defaults(betavae_model_overrides=lambda args: count_train_kwargs(args)["model"])


def count_train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``{"model": {...likelihood overrides}, "batch_key": ...}`` for ``train_betavae``.

    Merge ``model`` into the other model overrides; count-model defaults
    (:data:`core.training.workflows.COUNT_MODEL_DEFAULTS`) apply to settings not given.
    """
    model: dict[str, Any] = {"likelihood": args.likelihood}
    if args.likelihood != "gaussian":
        model["dispersion"] = args.dispersion
    return {"model": model, "batch_key": args.batch_key or None}


def register() -> None:
    """Add the options to ``python -m core train`` (idempotent)."""
    from core import cli_train

    if add_count_args not in cli_train.EXTRA_TRAIN_ARGS:
        cli_train.EXTRA_TRAIN_ARGS.append(add_count_args)
