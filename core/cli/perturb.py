"""``python -m core perturb RUN_DIR --set TF=VALUE [...] --out delta.csv``.

Writes one row per gene: ``gene, delta, baseline, perturbed, direct_target`` for all cells
(sorted by |Δ|), or with ``--group-key`` one row per gene and group
(``group, gene, delta, baseline``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.errors import ConfigError


def perturb_table(run, adata, spec, *, group_key: str | None = None,
                  group: str | None = None) -> pd.DataFrame:
    """The Δ table the CLI writes (also what the Perturb page shows for the same spec).

    Parameters
    ----------
    run
        A TF-VAE run.
    adata
        The preprocessed data it was trained on (:func:`core.analysis.perturb.run_data`).
    spec
        TF → ("set" | "shift", value).
    group_key, group
        With ``group_key`` only: one block per group. With ``group`` too: only those cells.
    """
    from core.analysis.perturb import perturber_for_run
    from core.errors import DataError
    from core.recipes.tfvae import load_network

    p = perturber_for_run(run, adata)
    edges = load_network(run)
    if group_key is not None and group_key not in adata.obs:
        raise DataError(f"obs has no column '{group_key}'; columns: {', '.join(adata.obs)}.")
    if group_key is None:
        return p.apply(spec).gene_table(edges)
    labels = adata.obs[group_key].astype(str).to_numpy()
    groups = [group] if group is not None else sorted(set(labels))
    frames = []
    for g in groups:
        cells = np.flatnonzero(labels == g)
        if not len(cells):
            raise DataError(f"No cells have {group_key} = '{g}'.")
        t = p.apply(spec, cells).gene_table(edges)
        frames.append(t.assign(group=g)[["group", *t.columns]])
    return pd.concat(frames, ignore_index=True)


def run(args: argparse.Namespace) -> int:
    from core.runs import load_run, run_data

    if not args.set:
        raise ConfigError("Give at least one --set TF=VALUE (or TF+=SHIFT).")
    run = load_run(args.run_dir)
    if run.model != "tfvae":
        raise ConfigError(f"Run {run.id} is a '{run.model}' run; perturb needs a TF-VAE run.")
    adata = run_data(run, args.data)
    table = perturb_table(run, adata, parse_spec(args.set), group_key=args.group_key,
                          group=args.group)
    if args.out:
        table.to_csv(args.out, index=False)
        print(json.dumps({"out": args.out, "rows": len(table),
                          "top": table.head(5)[["gene", "delta"]].to_dict("records")}))
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``python -m core perturb RUN_DIR --set TF=VALUE [...]``."""
    p = sub.add_parser("perturb", help="in-silico TF perturbation with a TF-VAE run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--set", action="append", metavar="TF=VALUE",
                   help="set a TF unit to VALUE (TF+=D / TF-=D shift it); repeatable")
    p.add_argument("--group-key", default=None, help="obs column: Δ per group")
    p.add_argument("--group", default=None, help="with --group-key: only this group's cells")
    p.add_argument("--data", default=None, metavar="NAME_OR_PATH",
                   help="dataset (default: the one recorded in the run)")
    p.add_argument("--out", default=None, help="CSV path (stdout when omitted)")
    p.set_defaults(func=run)



OPERATORS = (("+=", "shift", 1.0), ("-=", "shift", -1.0), ("=", "set", 1.0))


def parse_spec(items: Sequence[str]) -> dict[str, tuple[str, float]]:
    """Parse ``TF=VALUE`` (set) and ``TF+=D`` / ``TF-=D`` (shift) strings into a spec."""
    spec: dict[str, tuple[str, float]] = {}
    for item in items:
        text = str(item).strip()
        found = [(op, m, sg) for op, m, sg in OPERATORS if op in text]
        if not found:
            raise ConfigError(f"'{item}' is not TF=VALUE (or TF+=SHIFT / TF-=SHIFT).")
        op, mode, sign = found[0]
        tf, value = text.split(op, 1)
        try:
            spec[tf.strip()] = (mode, sign * float(value))
        except ValueError:
            raise ConfigError(f"'{value}' in '{item}' is not a number.") from None
    return spec
