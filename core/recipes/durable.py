"""Training into a run folder that survives a kill: shared by the recipes (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import Cancelled, ConfigError
from core.runs import delete_run, run_checkpointer
from core.runs.schema import write_status
from core.training.trainer import TrainResult


def durable_fit(path: Path, train: Any, *, every: int | None, resume: bool,
                created: bool) -> TrainResult:
    """``train(checkpointer)`` into the unfinished run folder ``path``, checkpointed.

    A cancel after at least one epoch keeps the folder (with its checkpoint) to resume and
    raises :class:`~core.errors.Cancelled`; a failure or cancel with nothing to resume removes
    a folder this call ``created``.
    """
    ckpt = run_checkpointer(path, every=every, resume=resume)
    try:
        result = train(ckpt)
    except BaseException:
        if created and not ckpt.path.exists():
            delete_run(path)
        raise
    if result.stopped == "cancelled" or result.n_epochs_run == 0:
        if not ckpt.path.exists():
            if created:
                delete_run(path)
            raise (Cancelled if result.stopped == "cancelled" else ConfigError)(
                result.message or "Training stopped before the first epoch ended.")
        write_status(path, reason=f"cancelled after epoch {result.n_epochs_run}")
        raise Cancelled(f"Cancelled after epoch {result.n_epochs_run}; the run is kept "
                        "unfinished with its checkpoint: resume it or delete it.")
    return result


