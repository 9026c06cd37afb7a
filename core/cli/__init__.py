"""Headless entry point: ``python -m core COMMAND``.

Every command prints machine-readable output on stdout. A user error (bad file, bad option)
prints one line starting with ``error:`` on stderr and exits with status 2; no traceback.

The commands are the modules in :data:`COMMANDS`, in the order ``--help`` lists them. Each
module has ``register(subparsers)``, which adds its subcommand and sets ``func``. Adding a
command is one module plus one line in the table; nothing registers itself on import.
Command modules import the library lazily (inside their functions) so ``--help`` and
``datasets`` start without torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.cli import (
    benchmark,
    datasets,
    inspect,
    jobs,
    network,
    perturb,
    phenotype,
    predict,
    train,
    validate,
    worker,
)
from core.cli.types import EXIT_USER_ERROR, OneLineParser
from core.errors import ScvaeError

#: Every command module, in the order of ``python -m core --help``.
COMMANDS = (
    datasets,
    inspect,
    train,
    network,
    perturb,
    predict,
    phenotype,
    validate,
    jobs,
    worker,
    benchmark,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    parser = OneLineParser(
        prog="python -m core",
        description="scVAE Studio: single-cell VAEs from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace | int:
    """The parsed command line, or the exit status when argparse stopped (2 for a bad
    option, 0 for ``--help``), so that :func:`main` returns rather than exits."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return EXIT_USER_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    if isinstance(args := parse_args(argv), int):   # a bad option (one error line) or --help
        return args
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
