"""``python -m core validate-perturb RUN_DIR --data NAME_OR_PATH --perturbation-key KEY
--control VALUE [--targets A,B] --out DIR``.

Scores the run's in-silico knock-outs against the measured ones of a screen, beside the
baselines (:func:`core.recipes.perturb_validate.validate_run`), and writes ``metrics.json``
(per target and method, medians per method) and ``per_gene.csv`` (target, gene, observed and
one column per method) into ``DIR``; prints the medians of the headline score as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    """Score the run against the screen and write metrics.json and per_gene.csv."""
    from core.analysis.perturb_validation import HEADLINE
    from core.data.io import read
    from core.recipes.perturb_validate import validate_run
    from core.runs import load_run

    run = load_run(args.run_dir)
    prior_run = load_run(args.prior_run) if args.prior_run else None
    screen = read(args.data).adata
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    result = validate_run(run, screen, perturbation_key=args.perturbation_key,
                          control=args.control, targets=targets, train_on=args.train_on,
                          prior_run=prior_run, replicate_key=args.replicate_key,
                          drop=tuple(args.drop.split(",")) if args.drop else ())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result.to_json(), indent=2))
    result.per_gene.to_csv(out / "per_gene.csv", index=False)
    winners = result.scores.loc[result.scores["winner"], ["target", "method"]]
    print(json.dumps({"out": str(out), "headline": HEADLINE,
                      "median": {m: s[HEADLINE] for m, s in result.summary.items()},
                      "winner": winners.groupby("target")["method"].agg(list).to_dict(),
                      "notes": result.notes}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``python -m core validate-perturb RUN_DIR ...``."""
    p = sub.add_parser("validate-perturb",
                       help="score a TF-VAE's knock-outs against a measured screen")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="the screen: bundled name or file with raw counts")
    p.add_argument("--perturbation-key", required=True, metavar="KEY",
                   help="obs column naming the knocked-out gene of each cell")
    p.add_argument("--control", required=True, metavar="VALUE",
                   help="value of KEY for control cells (e.g. non-targeting)")
    p.add_argument("--targets", default=None, metavar="A,B",
                   help="targets to score (default: every one that is a TF unit of the run)")
    p.add_argument("--train-on", default="all-but-scored", choices=("all-but-scored", "control"),
                   help="cells the baselines learn from (as the run did)")
    p.add_argument("--prior-run", default=None, metavar="DIR",
                   help="a prior-only-mask TF-VAE run, scored as 'tfvae_prior'")
    p.add_argument("--replicate-key", default=None, help="obs column of replicates")
    p.add_argument("--drop", default="unassigned",
                   help="comma-separated perturbation values to leave out ('' keeps all)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the two files")
    p.set_defaults(func=run)

