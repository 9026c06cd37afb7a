"""``python -m core datasets [--json]``: the bundled datasets."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    """Print the bundled datasets as a table (or JSON with ``--json``)."""
    from core.data.registry import list_datasets

    table = list_datasets()
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        print(table.to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` command."""
    p = sub.add_parser("datasets", help="list the bundled datasets")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)
