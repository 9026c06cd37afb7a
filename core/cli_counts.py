"""Count-likelihood and batch options of ``python -m core train`` (DESIGN §2).

The train command calls :func:`add_count_args` on its parser and passes
:func:`count_train_kwargs` of the parsed arguments to
:func:`core.training.workflows.train_betavae`.
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


def count_train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``{"model": {...likelihood overrides}, "batch_key": ...}`` for ``train_betavae``.

    Merge ``model`` into the other model overrides; count-model defaults
    (:data:`core.training.workflows.COUNT_MODEL_DEFAULTS`) apply to settings not given.
    """
    model: dict[str, Any] = {"likelihood": args.likelihood}
    if args.likelihood != "gaussian":
        model["dispersion"] = args.dispersion
    return {"model": model, "batch_key": args.batch_key or None}
