"""``python -m core worker``: train the queued jobs of a runs directory, one at a time.

Start one per job that may train at once (one per GPU); the app starts its own when it needs
them. A headless GPU server runs workers and ``python -m core jobs submit``; the app opened
on the same runs directory shows the jobs and their runs.
"""

from __future__ import annotations

import argparse

from core.cli.types import nonneg_float, positive_int


def run(args: argparse.Namespace) -> int:
    """Serve the queue until idle for ``--idle-exit`` seconds (default: forever)."""
    import json
    import logging

    from core.jobs.worker import serve
    from core.runs import default_runs_root

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    done = serve(args.runs_dir or default_runs_root(), idle_exit=args.idle_exit,
                 max_jobs=args.max_jobs)
    print(json.dumps({"jobs_run": done}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command."""
    p = sub.add_parser("worker", help="train queued jobs (one at a time) until stopped")
    p.add_argument("--runs-dir", default=None, help="runs directory whose queue to serve "
                   "(default $SCVAE_RUNS_DIR or ./runs)")
    p.add_argument("--idle-exit", type=nonneg_float, default=None, metavar="SECONDS",
                   help="exit after this long with nothing queued (default: never)")
    p.add_argument("--max-jobs", type=positive_int, default=None,
                   help="exit after this many jobs")
    p.set_defaults(func=run)
