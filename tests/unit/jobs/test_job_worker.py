"""Jobs as processes: a worker killed with kill -9 after epoch k leaves a resumable run that
finishes with the same total number of epochs; a worker outlives the process that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.jobs.queue import JobQueue, pid_alive
from core.jobs.spec import load_spec
from core.jobs.worker import serve, start_worker
from core.runs import list_runs, load_run
from core.runs.schema import incomplete_runs
from core.training.progress import read_progress

EPOCHS = 8
SPEC = {"kind": "betavae", "data": "zeisel_cortex", "label_key": "level1class",
        "model": {"hidden": [16], "n_latent": 4},
        "train": {"epochs": EPOCHS, "batch_size": 64, "device": "cpu", "patience": None},
        "seed": 1, "owner": "session:test", "checkpoint_every": 1}


def _wait(cond, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_kill_9_after_epoch_k_then_resume_finishes_all_epochs(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    queue = JobQueue(tmp_path)
    job = queue.submit(load_spec(SPEC))
    assert [i.id for i in incomplete_runs(tmp_path)] == [job.run_dir.name]   # queued: unfinished
    proc = start_worker(tmp_path, idle_exit=30)
    try:
        _wait(lambda: read_progress(job.run_dir)["epoch"] >= 2
              and (job.run_dir / "checkpoint.pt").exists(), 180, "epoch 2")
    finally:
        _kill(proc.pid)
        proc.wait(10)
    k = json.loads((job.run_dir / "status.json").read_text())["epoch"]
    assert 1 <= k < EPOCHS
    assert queue.recover() == [job.id] and queue.get(job.id).status == "interrupted"
    [left] = incomplete_runs(tmp_path)
    assert left.status["epoch"] == k and "interrupted" in left.status["reason"]
    assert list_runs(tmp_path) == []                # not listed as a finished run
    with pytest.raises(Exception, match="not finished"):
        load_run(job.run_dir)

    resumed = queue.submit(load_spec(job.run_dir), run_dir=job.run_dir, resume=True)
    assert serve(tmp_path, max_jobs=1) == 1
    assert queue.get(resumed.id).status == "done", queue.get(resumed.id).error
    run = load_run(job.run_dir)
    assert run.metrics["n_epochs_run"] == EPOCHS
    assert run.history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert run.latent.shape[1] == 4 and run.load_module() is not None
    assert not (job.run_dir / "checkpoint.pt").exists() and incomplete_runs(tmp_path) == []


def test_worker_outlives_the_process_that_started_it(tmp_path):
    """The app's server process starts the worker; killing the server (-9) leaves it running."""
    code = ("import sys; from core.jobs.worker import start_worker; "
            f"p = start_worker({str(tmp_path)!r}, idle_exit=60); print(p.pid, flush=True)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[3])
    worker = int(parent.stdout.readline())
    try:
        parent.kill()
        parent.wait(10)
        time.sleep(1.0)
        assert pid_alive(worker)
        queue = JobQueue(tmp_path)
        _wait(lambda: worker in queue.live_workers(), 60, "the worker's heartbeat")
    finally:
        _kill(worker)
