"""``python -m core jobs submit|list|cancel``: the job queue of a runs directory.

``submit SPEC.json`` queues a job spec (:class:`core.jobs.spec.JobSpec`: data, preprocessing,
model and training settings, seed, owner) for the workers (``python -m core worker``);
``submit --resume RUN_DIR`` queues an unfinished run to continue from its checkpoint. ``list``
prints the queue as JSON, with each active job's position, epoch and ETA.
"""

from __future__ import annotations

import argparse
import json
import math


def _queue(args: argparse.Namespace):
    from core.jobs.queue import JobQueue
    from core.runs import default_runs_root

    return JobQueue(args.runs_dir or default_runs_root())


def submit(args: argparse.Namespace) -> int:
    """Queue a spec file, or an unfinished run to resume."""
    from pathlib import Path

    from core.errors import ConfigError
    from core.jobs.spec import load_spec

    if bool(args.spec) == bool(args.resume):
        raise ConfigError("give a SPEC.json to queue, or --resume RUN_DIR (not both).")
    queue = _queue(args)
    if args.resume:
        job = queue.submit(load_spec(args.resume), run_dir=Path(args.resume), resume=True)
    else:
        job = queue.submit(load_spec(args.spec))
    print(json.dumps({"job": job.id, "run_dir": str(job.run_dir), "status": job.status}))
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    """Print the jobs (active first) as JSON lines."""
    from core.jobs.queue import waiting_times

    queue = _queue(args)
    line = queue.line()
    ends = waiting_times(line)
    position = {j.id: i for i, j in enumerate(line)}
    shown = line + [j for j in queue.jobs(limit=args.limit) if not j.active]
    for job in shown:
        snap = job.progress() if job.active else {}
        eta = ends.get(job.id, math.nan)
        print(json.dumps({
            "job": job.id, "status": job.status, "label": job.label, "owner": job.owner,
            "position": position.get(job.id), "epoch": snap.get("epoch"),
            "n_epochs": snap.get("n_epochs"), "phase": snap.get("phase"),
            "eta_seconds": round(eta, 1) if math.isfinite(eta) else None,
            "run_dir": str(job.run_dir), "error": job.error or None}))
    return 0


def cancel(args: argparse.Namespace) -> int:
    """Ask a job to stop (it keeps a checkpoint to resume when one was written)."""
    from core.errors import ConfigError

    if not _queue(args).cancel(args.job, None):
        raise ConfigError(f"No queued or running job '{args.job}'; see python -m core jobs list.")
    print(json.dumps({"job": args.job, "cancel": True}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``jobs`` command and its subcommands."""
    from core.cli.types import positive_int

    p = sub.add_parser("jobs", help="queue training jobs for the workers; list or cancel them")
    p.add_argument("--runs-dir", default=None, help="default $SCVAE_RUNS_DIR or ./runs")
    jobs = p.add_subparsers(dest="jobs_command", required=True, metavar="SUBCOMMAND")
    s = jobs.add_parser("submit", help="queue a job spec (JSON) or --resume RUN_DIR")
    s.add_argument("spec", nargs="?", default=None, metavar="SPEC.json")
    s.add_argument("--resume", default=None, metavar="RUN_DIR")
    s.set_defaults(func=submit)
    s = jobs.add_parser("list", help="the queue and recent jobs, one JSON object per line")
    s.add_argument("--limit", type=positive_int, default=20, help="finished jobs shown")
    s.set_defaults(func=list_jobs)
    s = jobs.add_parser("cancel", help="stop a queued or running job")
    s.add_argument("job", help="job id (from jobs list)")
    s.set_defaults(func=cancel)
