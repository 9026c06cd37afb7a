"""KL-weight (β) schedules: small objects with a ``beta(epoch)`` method.

Each schedule serialises to a dict (``to_dict``/``from_dict``) so a run folder records it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from core.errors import ConfigError


@dataclass(frozen=True)
class Constant:
    """β fixed for every epoch."""

    beta_value: float = 1.0
    name: ClassVar[str] = "constant"

    def beta(self, epoch: int) -> float:
        """β at 0-based ``epoch``."""
        return float(self.beta_value)


@dataclass(frozen=True)
class LinearWarmup:
    """β rises linearly from ``beta_min`` to ``beta_max`` over ``warmup_epochs``, then stays."""

    beta_max: float = 1.0
    warmup_epochs: int = 10
    beta_min: float = 0.0
    name: ClassVar[str] = "linear"

    def beta(self, epoch: int) -> float:
        """β at 0-based ``epoch``."""
        if self.warmup_epochs <= 0:
            return float(self.beta_max)
        frac = min(1.0, (epoch + 1) / self.warmup_epochs)
        return float(self.beta_min + frac * (self.beta_max - self.beta_min))


@dataclass(frozen=True)
class ReferenceSchedule:
    """The reference report's recipe: β = scale · min(epoch + 1, cap) (1e-7 · min(e+1, 20))."""

    scale: float = 1e-7
    cap: int = 20
    name: ClassVar[str] = "reference"

    def beta(self, epoch: int) -> float:
        """β at 0-based ``epoch``."""
        return float(self.scale * min(epoch + 1, self.cap))


@dataclass(frozen=True)
class CyclicalSchedule:
    """Cyclical annealing (Fu et al. 2019).

    The run is split into ``n_cycles`` cycles; within each, β rises linearly from 0 to
    ``beta_max`` over the first ``ratio`` of the cycle and then stays at ``beta_max``.
    """

    beta_max: float = 1.0
    n_cycles: int = 4
    ratio: float = 0.5
    total_epochs: int = 100
    name: ClassVar[str] = "cyclical"

    def beta(self, epoch: int) -> float:
        """β at 0-based ``epoch``."""
        period = max(1.0, self.total_epochs / max(1, self.n_cycles))
        pos = (epoch % period) / period
        rise = max(1e-9, self.ratio)
        return float(self.beta_max * min(1.0, pos / rise))


SCHEDULES: dict[str, type] = {
    "constant": Constant, "linear": LinearWarmup, "reference": ReferenceSchedule,
    "cyclical": CyclicalSchedule,
}
Schedule = Constant | LinearWarmup | ReferenceSchedule | CyclicalSchedule


def make_schedule(name: str, **params: Any) -> Schedule:
    """Build a schedule by name (``constant``, ``linear``, ``reference``, ``cyclical``).

    Unknown parameters for that schedule are ignored so a UI can pass everything it has.
    """
    cls = SCHEDULES.get(name)
    if cls is None:
        raise ConfigError(f"Unknown β schedule '{name}'; choose one of {', '.join(SCHEDULES)}.")
    fields = cls.__dataclass_fields__
    kwargs = {k: v for k, v in params.items() if k in fields and v is not None}
    schedule = cls(**kwargs)
    for key, value in asdict(schedule).items():
        if isinstance(value, float) and (math.isnan(value) or value < 0):
            raise ConfigError(f"β schedule parameter {key} must be ≥ 0 (got {value}).")
    return schedule


def schedule_curve(schedule: Schedule, n_epochs: int) -> list[float]:
    """β for epochs 0 … n_epochs−1 (what the Train page draws before training)."""
    return [schedule.beta(e) for e in range(int(n_epochs))]


def to_dict(schedule: Schedule) -> dict[str, Any]:
    """JSON-safe description, e.g. ``{"name": "linear", "beta_max": 1.0, ...}``."""
    return {"name": schedule.name, **asdict(schedule)}


def from_dict(spec: dict[str, Any]) -> Schedule:
    """Inverse of :func:`to_dict`."""
    spec = dict(spec)
    return make_schedule(spec.pop("name"), **spec)
