"""argparse ``type=`` functions and a parser whose errors are one line (issue 19, items 4, 5).

Each function turns the option's text into a value or raises
:class:`argparse.ArgumentTypeError` with a message that says what is allowed, so that
``--epochs 0`` or ``--hidden abc`` is refused instead of replaced by a default or ending in a
traceback. :class:`OneLineParser` prints ``error: argument --x: <message>`` and exits 2.

Ranges live in one place: an option that sets a field of a recipe's Settings dataclass
(``--latent``, ``--dropout``, ``--mask-sparsity``, ...) is only parsed here
(:func:`number`, :func:`whole_number`) and its range is checked by the Settings, with the
Settings' message. The bounds here are those of options with no Settings field (epochs,
batch size, learning rate, genes, seed, the export filters).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

EXIT_USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports a bad command line as one ``error:`` line."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message> (see <prog> --help)`` on stderr and exit with status 2."""
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"'{text}' is not {noun}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def number(text: str) -> float:
    """Any finite number (a Settings field checks its range)."""
    return float(_number(text, float))


def whole_number(text: str) -> int:
    """Any whole number (a Settings field checks its range)."""
    return int(_number(text, int))


def _checked(value, ok: bool, rule: str, text: str):
    """``value`` when ``ok``, else the argparse error "must be RULE, not TEXT"."""
    if not ok:
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (epochs, latent dimensions, batch size, genes)."""
    value = int(_number(text, int))
    return _checked(value, value >= 1, "a whole number of at least 1", text)


def nonneg_int(text: str) -> int:
    """A whole number ≥ 0 (seed, warm-up epochs)."""
    value = int(_number(text, int))
    return _checked(value, value >= 0, "a whole number of at least 0", text)


def positive_int_list(text: str) -> list[int]:
    """Comma-separated whole numbers ≥ 1, e.g. ``1024,512,256`` (layer widths)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated whole numbers of at least 1 (e.g. 1024,512,256), "
            f"not '{text}'")
    return [int(p) for p in parts]


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rate, weights)."""
    value = float(_number(text, float))
    return _checked(value, value > 0, "a number above 0", text)


def nonneg_float(text: str) -> float:
    """A finite number ≥ 0 (β, penalties, thresholds)."""
    value = float(_number(text, float))
    return _checked(value, value >= 0, "a number of at least 0", text)
