"""``python -m core inspect PATH_OR_NAME``: a JSON summary of a dataset."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    """Print ``summarize`` of the dataset (and the reader's notices) as JSON."""
    from core.data.io import read
    from core.data.preprocess import summarize

    result = read(args.source, transpose=args.transpose)
    summary = summarize(result.adata)
    summary["notices"] = result.notices
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` command."""
    p = sub.add_parser("inspect", help="summarise a dataset (bundled name or file) as JSON")
    p.add_argument("source", metavar="PATH_OR_NAME")
    p.add_argument("--transpose", action="store_true",
                   help="CSV/TSV has genes as rows and cells as columns")
    p.set_defaults(func=run)
