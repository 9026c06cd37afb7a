"""The persistent job queue: one SQLite file under the runs directory.

SQLite (standard library) gives one file that several processes — the app, ``python -m core
worker`` processes, the CLI — read and write safely; claiming a job is one ``BEGIN IMMEDIATE``
transaction, so two workers never take the same job. A job's run folder is created when it is
queued (with its ``job.json``, ``owner.txt`` and ``status.json``: unfinished), so progress,
checkpoints and the finished run all live where the app lists runs.

Job states: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``, or
``interrupted`` when its worker died (killed, machine restarted): the run folder is left
unfinished with its checkpoint, to resume or delete.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.jobs.spec import JobSpec, write_spec
from core.runs import begin_run, delete_run, new_run_dir
from core.runs.schema import set_owner, write_status
from core.training.checkpoint import CHECKPOINT_FILE
from core.training.progress import read_progress

#: The queue's folder in the runs directory (hidden: ``list_runs`` skips dot-names): the
#: SQLite file, the workers' lock and their logs.
JOBS_DIR = ".jobs"
DB_FILE = "queue.sqlite"
ACTIVE = ("queued", "running")
#: A worker that has not written a heartbeat for this long is taken as dead (it writes one
#: every 0.5 s while training and every poll while idle).
STALE_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT, kind TEXT, label TEXT, spec TEXT, status TEXT,
    run_dir TEXT, created REAL, started REAL, finished REAL, error TEXT DEFAULT '',
    worker INTEGER, host TEXT, cancel INTEGER DEFAULT 0, resume INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS workers (
    pid INTEGER, host TEXT, started REAL, heartbeat REAL, job TEXT, PRIMARY KEY (pid, host));
"""


@dataclass(frozen=True)
class JobRecord:
    """One row of the queue."""

    id: str
    owner: str
    kind: str
    label: str
    spec: dict[str, Any]
    status: str
    run_dir: Path
    created: float
    started: float | None
    finished: float | None
    error: str
    worker: int | None
    host: str | None
    cancel: bool
    resume: bool

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    def progress(self) -> dict[str, Any]:
        """The run folder's progress snapshot (``read_progress``)."""
        return read_progress(self.run_dir)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class JobQueue:
    """The queue of the runs directory ``root``."""

    @staticmethod
    def exists(root: str | Path) -> bool:
        """Whether ``root`` has a queue (without creating one)."""
        return (Path(root) / JOBS_DIR / DB_FILE).is_file()

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.folder = self.root / JOBS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname()
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.folder / DB_FILE, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 30000")
        return _Closing(db)

    # ---- jobs ---------------------------------------------------------------------------
    def submit(self, spec: JobSpec, *, run_dir: Path | None = None,
               resume: bool = False) -> JobRecord:
        """Queue ``spec``; its run folder is created (or, to resume, reused) now."""
        name = spec.dataset or Path(spec.data).stem
        path = Path(run_dir) if run_dir else new_run_dir(spec.kind, name, self.root)
        if not resume:
            write_spec(spec, path)
            if spec.owner:
                set_owner(path, spec.owner)
        begin_run(spec.kind, name, run_dir=path, n_epochs=spec.n_epochs, resume=resume)
        write_status(path, reason=None)
        job_id = uuid.uuid4().hex[:10]
        with self._db() as db:
            db.execute("INSERT INTO jobs (id, owner, kind, label, spec, status, run_dir, "
                       "created, resume) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                       (job_id, spec.owner, spec.kind, spec.title, json.dumps(spec.to_dict()),
                        str(path), time.time(), int(resume)))
        return self.get(job_id)

    def claim(self, worker: int) -> JobRecord | None:
        """Take the oldest queued job for ``worker`` (atomic across processes)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created "
                             "LIMIT 1").fetchone()
            if row is not None:
                db.execute("UPDATE jobs SET status = 'running', worker = ?, host = ?, "
                           "started = ? WHERE id = ?", (worker, self.host, time.time(),
                                                       row["id"]))
            db.execute("COMMIT")
        return self.get(row["id"]) if row is not None else None

    def finish(self, job_id: str, status: str, error: str = "") -> None:
        """Record how a job ended."""
        with self._db() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?",
                       (status, error[:2000], time.time(), job_id))

    def cancel(self, job_id: str, owner: str | None) -> bool:
        """Ask a job to stop (``owner`` must own it; ``None``: any, for the CLI on the server).

        A queued job ends at once (its folder removed unless it holds a checkpoint to
        resume); a running one stops within a batch (the worker polls the flag).
        """
        job = self.get(job_id)
        if job is None or not job.active or (owner is not None and job.owner != owner):
            return False
        with self._db() as db:
            db.execute("UPDATE jobs SET cancel = 1 WHERE id = ?", (job_id,))
            cur = db.execute("UPDATE jobs SET status = 'cancelled', finished = ? "
                             "WHERE id = ? AND status = 'queued'", (time.time(), job_id))
        if cur.rowcount and not (job.run_dir / CHECKPOINT_FILE).exists():
            delete_run(job.run_dir)
        return True

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked job ``job_id`` to stop."""
        with self._db() as db:
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def get(self, job_id: str) -> JobRecord | None:
        """The job ``job_id``."""
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _record(row) if row is not None else None

    def jobs(self, owner: str | None = None, *, kind: str | None = None,
             active: bool = False, limit: int = 200) -> list[JobRecord]:
        """Jobs, newest first; optionally one owner's, one kind, only queued/running."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if owner is not None:
            sql, args = sql + " AND owner = ?", [*args, owner]
        if kind is not None:
            sql, args = sql + " AND kind = ?", [*args, kind]
        if active:
            sql += " AND status IN ('queued', 'running')"
        with self._db() as db:
            rows = db.execute(sql + " ORDER BY created DESC LIMIT ?", [*args, limit]).fetchall()
        return [_record(r) for r in rows]

    def line(self) -> list[JobRecord]:
        """Running jobs, then queued ones in the order they will start."""
        active = self.jobs(active=True)
        return sorted(active, key=lambda j: (j.status != "running", j.created))

    def job_for_run(self, run_dir: Path) -> JobRecord | None:
        """The newest job training into ``run_dir``."""
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE run_dir = ? ORDER BY created DESC "
                             "LIMIT 1", (str(run_dir),)).fetchone()
        return _record(row) if row is not None else None

    # ---- workers ------------------------------------------------------------------------
    def heartbeat(self, pid: int, job_id: str | None = None) -> None:
        """Record that worker ``pid`` is alive (and what it trains)."""
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO workers (pid, host, started, heartbeat, job) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pid, host) DO UPDATE SET "
                       "heartbeat = excluded.heartbeat, job = excluded.job",
                       (pid, self.host, now, now, job_id))

    def remove_worker(self, pid: int) -> None:
        """Forget worker ``pid`` (it exited)."""
        with self._db() as db:
            db.execute("DELETE FROM workers WHERE pid = ? AND host = ?", (pid, self.host))

    def live_workers(self) -> list[int]:
        """Pids of this machine's workers that are alive (dead ones are forgotten)."""
        with self._db() as db:
            rows = db.execute("SELECT pid, heartbeat FROM workers WHERE host = ?",
                              (self.host,)).fetchall()
        alive = []
        for r in rows:
            if pid_alive(r["pid"]) and time.time() - r["heartbeat"] < STALE_SECONDS:
                alive.append(int(r["pid"]))
            else:
                self.remove_worker(int(r["pid"]))
        return alive

    def recover(self) -> list[str]:
        """Mark running jobs of dead workers of this machine ``interrupted``; their run
        folders stay unfinished (resumable from the last checkpoint). Returns their ids."""
        alive = set(self.live_workers())
        lost = [j for j in self.jobs(active=True) if j.status == "running"
                and j.host == self.host and j.worker not in alive
                and not pid_alive(j.worker or 0)]
        for job in lost:
            self.finish(job.id, "interrupted", "The worker process stopped (killed or the "
                        "machine restarted); resume the run from its last checkpoint.")
            write_status(job.run_dir, reason="interrupted: the worker process stopped")
        return [j.id for j in lost]


class _Closing:
    """``with`` for an sqlite3 connection that closes it (sqlite3's own only commits)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: Any) -> None:
        self.db.close()


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"], owner=row["owner"] or "", kind=row["kind"], label=row["label"] or "",
        spec=json.loads(row["spec"]), status=row["status"], run_dir=Path(row["run_dir"]),
        created=row["created"], started=row["started"], finished=row["finished"],
        error=row["error"] or "", worker=row["worker"], host=row["host"],
        cancel=bool(row["cancel"]), resume=bool(row["resume"]))


def waiting_times(line: list[JobRecord], slots: int = 1) -> dict[str, float]:
    """Seconds until each job of :meth:`JobQueue.line` ends (NaN when unknown).

    A running job's is its progress ETA; a queued job's adds its epochs × the seconds per
    epoch of the running job of the same kind, spread over ``slots`` workers.
    """
    import math

    ends: dict[str, float] = {}
    per_epoch: dict[str, float] = {}
    free = []                                   # when each slot frees, in seconds from now
    for job in line:
        if job.status == "running":
            snap = job.progress()
            if snap["epoch"]:
                per_epoch.setdefault(job.kind, (snap["elapsed_seconds"]) / snap["epoch"])
            ends[job.id] = snap["eta_seconds"]
            free.append(snap["eta_seconds"])
    free = sorted(free)[:slots] + [0.0] * max(0, slots - len(free))
    for job in line:
        if job.status != "queued":
            continue
        spec_epochs = int(job.spec.get("train", {}).get("epochs", 0) or 0)
        slot = min(range(len(free)), key=lambda i: free[i] if math.isfinite(free[i]) else 1e18)
        length = spec_epochs * per_epoch.get(job.kind, math.nan) if spec_epochs else math.nan
        ends[job.id] = free[slot] + length
        free[slot] = ends[job.id]
    return ends
