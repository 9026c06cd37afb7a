"""Thread-safe training progress: written by the worker, read by the page (or the CLI)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

#: File the worker process writes a job's progress to, in the run folder.
PROGRESS_FILE = "progress.json"


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


class FileProgress(Progress):
    """A :class:`Progress` that also writes itself to ``folder/progress.json`` on every change.

    The worker process trains with it; the page reads the file (:func:`read_progress`), so it
    sees the job after a reload, in a new tab or after a server restart. A write is a few kB
    (the history so far), atomic (write, then rename).
    """

    def __init__(self, folder: str | Path, phases: list[str] | None = None) -> None:
        super().__init__(phases)
        self.folder = Path(folder)
        self._wall_started = time.time()
        self._wall_phase = time.time()
        self._write()

    def set_phase(self, phase: str, n_epochs: int, message: str = "") -> None:
        """As :meth:`Progress.set_phase`, then write the file."""
        super().set_phase(phase, n_epochs, message)
        self._wall_phase = time.time()
        self._write()

    def update(self, epoch: int, terms: dict[str, float]) -> None:
        """As :meth:`Progress.update`, then write the file."""
        super().update(epoch, terms)
        self._write()

    def note(self, message: str) -> None:
        """As :meth:`Progress.note`, then write the file."""
        super().note(message)
        self._write()

    def _write(self) -> None:
        with self._lock:
            state = {"phases": self.phases, "phase": self.phase, "epoch": self.epoch,
                     "n_epochs": self.n_epochs, "terms": self.terms, "history": self.history,
                     "message": self.message, "started": self._wall_started,
                     "phase_started": self._wall_phase, "updated": time.time()}
        tmp = self.folder / f".{PROGRESS_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(state, default=float), encoding="utf-8")
            os.replace(tmp, self.folder / PROGRESS_FILE)
        except OSError:        # the run folder was deleted under the job: nothing to show
            pass


def read_progress(folder: str | Path) -> dict[str, Any]:
    """The snapshot (:meth:`Progress.snapshot` keys) a :class:`FileProgress` last wrote.

    A missing or half-read file gives an empty snapshot (phase "starting", epoch 0).
    """
    try:
        state = json.loads((Path(folder) / PROGRESS_FILE).read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError
    except (OSError, ValueError):
        state = {}
    now = time.time()
    epoch, n_epochs = int(state.get("epoch", 0)), int(state.get("n_epochs", 0))
    frac = epoch / n_epochs if n_epochs else 0.0
    elapsed = now - float(state.get("phase_started", now))
    phases = list(state.get("phases") or ["starting"])
    phase = str(state.get("phase", phases[0]))
    return {"phase": phase, "phases": phases,
            "phase_index": phases.index(phase) if phase in phases else 0,
            "epoch": epoch, "n_epochs": n_epochs, "fraction": frac,
            "terms": dict(state.get("terms") or {}),
            "eta_seconds": elapsed / frac * (1 - frac) if frac > 0 else math.nan,
            "message": str(state.get("message", "")),
            "elapsed_seconds": now - float(state.get("started", now)),
            "history": list(state.get("history") or [])}
