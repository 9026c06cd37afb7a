"""In a real browser: a β-VAE job is a worker process. Reloading the Train page, and killing
and restarting the Streamlit server, find the live job again; a killed worker leaves an
unfinished run that the owner resumes from its checkpoint (issues 19 and 20)."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from conftest import assert_no_exception, open_app_page, save_screenshot, start_server, wait_idle

from core.jobs.queue import JobQueue
from core.jobs.spec import load_spec

LIVE = re.compile(r"β-VAE on zeisel_cortex · phase \d/\d: train · epoch \d+/\d+")


def set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def _live_epoch(page, timeout: float = 60_000) -> tuple[int, float]:
    """Wait for the live progress bar; returns (epoch shown, seconds waited)."""
    t0 = time.perf_counter()
    bar = page.get_by_text(LIVE).first
    bar.wait_for(timeout=timeout)
    return int(re.search(r"epoch (\d+)/", bar.inner_text()).group(1)), time.perf_counter() - t0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_reload_restart_and_resume_find_the_job(browser, tmp_path, artifacts_dir):
    env = {"SCVAE_DEFAULT_DATASET": "zeisel_cortex", "SCVAE_WORKER_IDLE_EXIT": "60"}
    proc, url, _ = start_server(tmp_path, env_extra=env)
    runs = tmp_path / "runs"
    context = browser.new_context(viewport={"width": 1440, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(60_000)
    timings: dict[str, float] = {}
    try:
        open_app_page(page, url, "zeisel_cortex", "Train", "Train")
        set_number(page, "Epochs", "400")
        set_number(page, "Encoder layers", "64")
        set_number(page, "Early-stop patience", "0")
        set_number(page, "Batch size", "64")
        page.get_by_role("button", name="Train β-VAE").click()
        _live_epoch(page, timeout=120_000)
        sid = re.search(r"sid=([0-9a-f]{12})", page.url).group(1)
        queue = JobQueue(runs)
        [job] = queue.jobs(active=True)
        other = queue.submit(load_spec({**job.spec, "owner": "cli:headless",
                                        "label": "queued from the CLI"}))
        wait_idle(page)
        page.get_by_text("Job queue").wait_for()
        save_screenshot(page, artifacts_dir, "jobs_running_with_queue")

        page.reload()                                   # the same tab, reloaded
        before, timings["reload_to_live_job_s"] = _live_epoch(page)
        assert_no_exception(page)

        proc.kill()                                     # the server dies (kill -9) …
        proc.wait(10)
        time.sleep(2)
        assert queue.get(job.id).status == "running"    # … the worker trains on
        proc, url, timings["server_restart_s"] = start_server(tmp_path, env_extra=env)
        t0 = time.perf_counter()
        page.goto(f"{url}/train?sid={sid}")
        after, _ = _live_epoch(page, timeout=120_000)
        timings["restart_page_to_live_job_s"] = time.perf_counter() - t0
        assert after > before and queue.get(job.id).status == "running"

        queue.cancel(other.id, None)
        worker = queue.get(job.id).worker
        _kill(worker)                                   # the worker dies (kill -9)
        page.get_by_text("Unfinished runs (1)").wait_for(timeout=60_000)
        wait_idle(page)
        page.get_by_role("button", name="Resume").wait_for()
        k = json.loads((job.run_dir / "status.json").read_text())["epoch"]
        assert k >= 1 and queue.get(job.id).status == "interrupted"
        assert_no_exception(page)
        save_screenshot(page, artifacts_dir, "jobs_unfinished_resume")

        page.get_by_role("button", name="Resume").click()
        resumed, _ = _live_epoch(page, timeout=120_000)
        assert resumed >= k                             # from the checkpoint, not epoch 0
        [again] = queue.jobs(active=True)
        assert again.resume and again.run_dir == job.run_dir
        save_screenshot(page, artifacts_dir, "jobs_resumed")
        print(json.dumps(timings))
        (artifacts_dir / "jobs_timings.json").write_text(json.dumps(timings))
        assert timings["reload_to_live_job_s"] < 20     # target 2 s: measured, reported
    finally:
        context.close()
        proc.kill()
        if JobQueue.exists(runs):
            for pid in JobQueue(runs).live_workers():
                _kill(pid)
