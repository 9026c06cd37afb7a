"""The worker process: ``python -m core worker`` takes jobs from the queue and trains them.

Each worker trains one job at a time, in its own process; the number of workers is the
number of jobs that train at once (``--slots`` of the app, one per GPU or a CPU's share).
While a job trains, a watcher thread writes the worker's heartbeat and polls the job's
cancel flag every 0.5 s; the trainer checks the flag before every batch. A worker started by
the app runs in its own session (``start_new_session``), so it keeps training when the
browser tab closes or the Streamlit server stops; the page reattaches from the run folder.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.errors import Cancelled, ScvaeError
from core.jobs.queue import JobQueue, JobRecord
from core.jobs.spec import JobSpec, execute, phases
from core.runs import delete_run
from core.runs.schema import write_status
from core.training.checkpoint import CHECKPOINT_FILE
from core.training.progress import FileProgress

log = logging.getLogger("scvae.worker")
#: Seconds between polls of the queue (a queued job starts within this), and of the cancel
#: flag while training.
POLL_SECONDS = 0.5


def serve(root: str | Path, *, idle_exit: float | None = None, max_jobs: int | None = None,
          poll: float = POLL_SECONDS) -> int:
    """Claim and train jobs of the queue in ``root`` until idle for ``idle_exit`` seconds
    (``None``: forever) or ``max_jobs`` jobs are done; returns the number of jobs run."""
    queue, pid = JobQueue(root), os.getpid()
    queue.heartbeat(pid)
    done, idle_since = 0, time.monotonic()
    try:
        while max_jobs is None or done < max_jobs:
            queue.recover()
            job = queue.claim(pid)
            if job is None:
                queue.heartbeat(pid)
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                time.sleep(poll)
                continue
            run_job(queue, job, pid)
            done, idle_since = done + 1, time.monotonic()
    finally:
        queue.remove_worker(pid)
    return done


def _watch(queue: JobQueue, job: JobRecord, pid: int, cancel: threading.Event,
           stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            queue.heartbeat(pid, job.id)
            if queue.cancel_requested(job.id):
                cancel.set()
        except Exception:  # noqa: BLE001 - a busy database must not kill the job
            log.warning("heartbeat failed", exc_info=True)
        stop.wait(POLL_SECONDS)


def run_job(queue: JobQueue, job: JobRecord, pid: int) -> str:
    """Train one claimed job into its run folder; returns the status recorded."""
    cancel, stop = threading.Event(), threading.Event()
    watcher = threading.Thread(target=_watch, args=(queue, job, pid, cancel, stop),
                               daemon=True, name=f"watch-{job.id}")
    watcher.start()
    status, error = "done", ""
    try:
        spec = JobSpec.from_dict(job.spec)
        progress = FileProgress(job.run_dir, phases(spec))
        execute(spec, job.run_dir, progress=progress, cancel=cancel, resume=job.resume)
    except Cancelled as exc:
        status, error = "cancelled", str(exc)
    except ScvaeError as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the user, logged in full
        log.exception("job %s failed", job.id)
        status = "failed"
        error = f"Training failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]})."
    finally:
        stop.set()
        watcher.join(2)
    data = Path(job.spec.get("data", ""))
    if status == "done" and data.parent == job.run_dir:
        data.unlink(missing_ok=True)            # the app's copy of an uploaded dataset
    elif status != "done":
        if (job.run_dir / CHECKPOINT_FILE).exists():
            write_status(job.run_dir, reason=f"{status}: {error[:200]}")
        else:                                   # nothing trained to resume
            delete_run(job.run_dir)
    queue.finish(job.id, status, error)
    return status


def start_worker(root: str | Path, *, idle_exit: float | None = 900.0,
                 log_dir: Path | None = None) -> subprocess.Popen:
    """Start ``python -m core worker`` for the queue in ``root`` in its own session.

    ``start_new_session`` puts it out of the caller's process group, so stopping the
    Streamlit server (Ctrl-C, SIGTERM to its group) does not stop training. Its output goes
    to ``root/.jobs/worker-<time>-<parent pid>.log``.
    """
    root = Path(root)
    log_dir = log_dir or JobQueue(root).folder
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "core", "worker", "--runs-dir", str(root)]
    if idle_exit is not None:
        cmd += ["--idle-exit", str(idle_exit)]
    out = open(log_dir / f"worker-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log", "ab")
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=Path(__file__).resolve().parents[2])
    finally:
        out.close()
    JobQueue(root).heartbeat(proc.pid)   # counted as live while it imports torch
    return proc
