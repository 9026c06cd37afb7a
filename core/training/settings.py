"""Settings as frozen dataclasses: defaults in one place, validated when built.

A model's recipe declares its settings as a subclass of :class:`Settings` whose fields carry
their default (with the evidence comment next to it) and, through :func:`between` and
:func:`one_of`, their valid range. ``Cls.from_dict(overrides)`` builds one from a dict of
overrides (a page's form, a CLI's options, an old run's ``config['settings']``): an unknown
key or an out-of-range value raises :class:`~core.errors.ConfigError` with a one-line message
that names the key and the valid keys or range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any, Self

from core.errors import ConfigError


def between(default: Any, low: float | None = None, high: float | None = None, *,
            high_open: bool = False, optional: bool = False) -> Any:
    """A dataclass field with a numeric range ``[low, high]`` (``[low, high)`` if
    ``high_open``); ``None`` bounds are open-ended, ``optional`` also accepts ``None``."""
    return field(default=default, metadata={"range": (low, high, high_open),
                                            "optional": optional})


def one_of(default: Any, choices: Sequence[Any]) -> Any:
    """A dataclass field whose value must be one of ``choices``."""
    return field(default=default, metadata={"choices": tuple(choices)})


def _range_text(low: float | None, high: float | None, high_open: bool) -> str:
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"[{lo}, {hi}{')' if high_open or high is None else ']'}"


def _check_field(f: Field, value: Any) -> None:
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{f.name} must be one of {', '.join(map(str, meta['choices']))}; "
                          f"got {value!r}.")
    if "range" not in meta or (value is None and meta.get("optional")):
        return
    low, high, high_open = meta["range"]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name} must be a number in {_range_text(low, high, high_open)}; "
                          f"got {value!r}.") from None
    bad = (not math.isfinite(number) or (low is not None and number < low)
           or (high is not None and (number >= high if high_open else number > high)))
    if bad:
        raise ConfigError(f"{f.name} must be in {_range_text(low, high, high_open)}; "
                          f"got {value!r}.")


@dataclass(frozen=True)
class Settings:
    """Base of the settings dataclasses (frozen; validated in ``__post_init__``)."""

    #: What the settings are of, for messages (e.g. "the β-VAE").
    TITLE = "this model"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):             # JSON gives lists; frozen wants tuples
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            _check_field(f, value)

    @classmethod
    def keys(cls) -> list[str]:
        """Names of the settings, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, overrides: Mapping[str, Any] | None = None, *,
                  base: Self | None = None) -> Self:
        """``base`` (default: the defaults) with ``overrides``; unknown keys raise."""
        overrides = dict(overrides or {})
        unknown = [k for k in overrides if k not in cls.keys()]
        if unknown:
            raise ConfigError(f"Unknown setting {', '.join(map(repr, unknown))} for "
                              f"{cls.TITLE}; valid settings: {', '.join(cls.keys())}.")
        return replace(base if base is not None else cls(), **overrides)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (tuples as lists), as saved in a run config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
