"""Background training jobs: one thread per job, owned by a browser session (or the CLI).

A job runs ``target(progress, cancel)`` in a daemon thread. At most ``max_running`` jobs train
at once across the server (one GPU, or two CPU cores, is shared); the others wait, shown as
"queued". Sessions see only their own jobs: every lookup takes the owner id.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ScvaeError
from core.training.progress import Progress

log = logging.getLogger(__name__)

JobTarget = Callable[[Progress, threading.Event], Any]


@dataclass
class Job:
    """One background job. ``status``: queued, running, done, failed or cancelled."""

    id: str
    owner: str
    kind: str
    label: str
    progress: Progress
    cancel_event: threading.Event = field(default_factory=threading.Event)
    status: str = "queued"
    result: Any = None
    error: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ("queued", "running")

    def cancel(self) -> None:
        """Ask the job to stop; the trainer checks the flag before every batch."""
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for the CLI and tests); True when it has ended."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.active


class JobRegistry:
    """Thread-safe registry of jobs; one instance per server (``st.cache_resource``)."""

    def __init__(self, max_running: int = 1) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._slots = threading.Semaphore(max_running)

    def submit(self, owner: str, kind: str, target: JobTarget, *, label: str = "",
               phases: list[str] | None = None) -> Job:
        """Start ``target`` in a background thread and return its :class:`Job`."""
        job = Job(id=uuid.uuid4().hex[:10], owner=owner, kind=kind, label=label or kind,
                  progress=Progress(phases))
        job.thread = threading.Thread(target=self._run, args=(job, target), daemon=True,
                                      name=f"job-{job.id}")
        with self._lock:
            self._jobs[job.id] = job
        job.thread.start()
        return job

    def _run(self, job: Job, target: JobTarget) -> None:
        with self._slots:
            if job.cancel_event.is_set():
                job.status, job.finished = "cancelled", time.time()
                return
            job.status = "running"
            try:
                job.result = target(job.progress, job.cancel_event)
                job.status = "cancelled" if job.cancel_event.is_set() else "done"
            except ScvaeError as exc:
                job.status, job.error = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - reported to the user, logged in full
                log.exception("job %s failed", job.id)
                job.status = "failed"
                job.error = f"Training failed unexpectedly ({type(exc).__name__}: {exc})."
            finally:
                job.finished = time.time()

    def get(self, owner: str, job_id: str) -> Job | None:
        """The job ``job_id`` if ``owner`` owns it."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def jobs(self, owner: str, kind: str | None = None) -> list[Job]:
        """Jobs of ``owner`` (optionally of one kind), newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values()
                    if j.owner == owner and (kind is None or j.kind == kind)]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def active(self, owner: str, kind: str | None = None) -> Job | None:
        """The newest queued or running job of ``owner``, if any."""
        return next((j for j in self.jobs(owner, kind) if j.active), None)
