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

from core.cli import datasets, inspect, network, perturb, predict, train
from core.errors import ScvaeError

EXIT_USER_ERROR = 2

#: Every command module, in the order of ``python -m core --help``.
COMMANDS = (
    datasets,
    inspect,
    train,
    network,
    perturb,
    predict,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="scVAE Studio: single-cell VAEs from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


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
