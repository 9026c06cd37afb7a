"""β-VAE options of ``python -m core train --model betavae`` (the default model).

Also the likelihood and batch options (DESIGN §2), which the TF-VAE reads too:
``--likelihood`` (gaussian, nb, zinb), ``--batch-key`` and ``--dispersion``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from core.cli.types import nonneg_float, nonneg_int, number, whole_number
from core.models.likelihoods import DISPERSIONS, LIKELIHOODS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the β-VAE options and the likelihood/batch group to a train parser."""
    p = parser.add_argument_group("β-VAE (--model betavae)")
    p.add_argument("--latent", type=whole_number, default=None, help="latent dimensions")
    p.add_argument("--hvg-weight", type=number, default=None,
                   help="reconstruction weight of highly variable genes")
    p.add_argument("--dropout", type=number, default=None,
                   help="betavae: dropout in every hidden layer")
    p.add_argument("--input-dropout", type=number, default=None,
                   help="betavae: fraction of input values zeroed while training (denoising)")
    p.add_argument("--beta-schedule", choices=["constant", "linear", "reference", "cyclical"],
                   default=None)
    p.add_argument("--beta", type=nonneg_float, default=None, help="β (constant) or β max")
    p.add_argument("--warmup", type=nonneg_int, default=None, help="warm-up epochs (linear)")
    add_count_args(parser)


def add_count_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--likelihood``, ``--batch-key`` and ``--dispersion`` to a train parser."""
    group = parser.add_argument_group("likelihood and batch covariate")
    group.add_argument("--likelihood", choices=LIKELIHOODS, default="gaussian",
                       help="gaussian on processed X (default), or nb / zinb on raw counts "
                            "(layers['counts'], or X when it holds counts)")
    group.add_argument("--batch-key", default=None, metavar="KEY",
                       help="obs column used as batch covariate (one-hot into encoder and "
                            "decoder); adds batch_mixing_entropy to metrics.json")
    group.add_argument("--batch-mmd", type=nonneg_float, default=None, metavar="W",
                       help="with --batch-key: weight of an MMD penalty aligning the batches' "
                            "latent codes (trVAE-style; 0 = off, the default; it can erase "
                            "biology that differs between batches, e.g. a stimulation)")
    group.add_argument("--decoder-only-batch", action="store_true",
                       help="with --batch-key: the batch one-hot goes to the decoder only "
                            "(scVI's encode_covariates=False), so the encoder needs no batch")
    group.add_argument("--dispersion", choices=DISPERSIONS, default="gene",
                       help="NB/ZINB inverse dispersion per gene or per gene and batch")


def count_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The likelihood overrides of the model settings (count-model defaults,
    :data:`core.recipes.betavae.COUNT_MODEL_DEFAULTS`, apply to settings not given)."""
    model: dict[str, Any] = {"likelihood": args.likelihood}
    if args.likelihood != "gaussian":
        model["dispersion"] = args.dispersion
    return model


def train_config(args: argparse.Namespace):
    """TrainConfig from the common CLI options (model defaults where an option is not given)."""
    from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS

    base = BETAVAE_TRAIN_DEFAULTS
    return replace(base, epochs=args.epochs or base.epochs, seed=args.seed, device=args.device,
                   batch_size=args.batch_size or base.batch_size, lr=args.lr or base.lr,
                   bf16=args.bf16, devices=getattr(args, "devices", 1))


def schedule_from_args(args: argparse.Namespace, epochs: int):
    """The β schedule named by ``--beta-schedule`` with ``--beta``/``--warmup`` options."""
    from core.recipes.betavae import model_defaults
    from core.training.schedules import make_schedule

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


def job_parts(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model, train)`` of the job spec (:class:`core.jobs.spec.JobSpec`) the β-VAE options
    describe; the β schedule is in ``model['schedule']``."""
    from core.training.schedules import to_dict

    train = train_config(args)
    model: dict[str, Any] = {}
    if args.latent is not None:        # 0 is an error of the Settings, not the default
        model["n_latent"] = args.latent
    if args.hidden:
        model["hidden"] = list(args.hidden)
    if args.hvg_weight is not None:
        model["hvg_weight"] = args.hvg_weight
    for key in ("dropout", "input_dropout"):
        if getattr(args, key) is not None:
            model[key] = getattr(args, key)
    if getattr(args, "batch_mmd", None) is not None:
        model["mmd_weight"] = args.batch_mmd
    if getattr(args, "decoder_only_batch", False):
        model["encode_batch"] = False
    model.update(count_settings(args))
    model["schedule"] = to_dict(schedule_from_args(args, train.epochs))
    return model, {k: v for k, v in train.to_dict().items() if k != "seed"}
