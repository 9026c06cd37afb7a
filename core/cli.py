"""Headless entry point: ``python -m core COMMAND``.

Every command prints machine-readable output on stdout. A user error (bad file, bad option)
prints one line starting with ``error:`` on stderr and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from core.cli_types import OneLineParser
from core.errors import ScvaeError

EXIT_USER_ERROR = 2


def _cmd_datasets(args: argparse.Namespace) -> int:
    from core.data.registry import list_datasets

    table = list_datasets()
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        print(table.to_string(index=False))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from core.data.io import read
    from core.data.preprocess import summarize

    result = read(args.source, transpose=args.transpose)
    summary = summarize(result.adata)
    summary["notices"] = result.notices
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = OneLineParser(
        prog="python -m core",
        description="scVAE Studio: single-cell VAEs from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list the bundled datasets")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("inspect", help="summarise a dataset (bundled name or file) as JSON")
    p.add_argument("source", metavar="PATH_OR_NAME")
    p.add_argument("--transpose", action="store_true",
                   help="CSV/TSV has genes as rows and cells as columns")
    p.set_defaults(func=_cmd_inspect)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


#: Functions ``f(subparsers)`` that add further commands (train, network, perturb, predict).
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ScvaeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _register_builtin_commands() -> None:
    from core import cli_train

    EXTRA_COMMANDS.insert(0, cli_train.register)
    from core import cli_counts

    cli_counts.register()


_register_builtin_commands()
import core.cli_perturb  # noqa: E402,F401  (perturb command)
import core.cli_scgen  # noqa: E402,F401  (registers "predict")
import core.cli_tfvae  # noqa: E402,F401  (network command, train --model tfvae)
