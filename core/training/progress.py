"""Thread-safe training progress: written by the worker, read by the page (or the CLI)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any


class Progress:
    """Progress of one job: phase, epoch, loss terms, β, ETA and the history so far.

    The worker calls :meth:`set_phase` and :meth:`update`; readers call :meth:`snapshot`,
    which returns plain Python data and never blocks for long.
    """

    def __init__(self, phases: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.phases = list(phases or ["train"])
        self.phase = self.phases[0]
        self.epoch = 0
        self.n_epochs = 0
        self.terms: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.message = ""
        self._phase_started = time.monotonic()
        self.started = time.monotonic()

    def set_phase(self, phase: str, n_epochs: int, message: str = "") -> None:
        """Start a phase of ``n_epochs`` epochs."""
        with self._lock:
            if phase not in self.phases:
                self.phases.append(phase)
            self.phase, self.n_epochs, self.epoch = phase, int(n_epochs), 0
            self.message = message
            self._phase_started = time.monotonic()

    def update(self, epoch: int, terms: dict[str, float]) -> None:
        """Record that ``epoch`` (1-based count of finished epochs) ended with ``terms``."""
        with self._lock:
            self.epoch = int(epoch)
            self.terms = {k: float(v) for k, v in terms.items()}
            self.history.append({"phase": self.phase, "epoch": int(epoch), **self.terms})

    def note(self, message: str) -> None:
        """Set a free-text status line (e.g. 'computing metrics')."""
        with self._lock:
            self.message = message

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy: phase, epoch, n_epochs, fraction, terms, eta_seconds, history."""
        with self._lock:
            elapsed = time.monotonic() - self._phase_started
            frac = self.epoch / self.n_epochs if self.n_epochs else 0.0
            eta = elapsed / frac * (1 - frac) if frac > 0 else math.nan
            phase_index = self.phases.index(self.phase) if self.phase in self.phases else 0
            return {
                "phase": self.phase, "phases": list(self.phases), "phase_index": phase_index,
                "epoch": self.epoch, "n_epochs": self.n_epochs, "fraction": frac,
                "terms": dict(self.terms), "eta_seconds": eta, "message": self.message,
                "elapsed_seconds": time.monotonic() - self.started,
                "history": list(self.history),
            }
