"""Train page on process jobs (issue 20): a new session with the same address reattaches to
its queued or running job, sees the queue with positions, and can resume its unfinished run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.jobs.queue import JobQueue
from core.jobs.spec import load_spec, write_spec
from core.runs import begin_run, new_run_dir
from core.runs.schema import set_owner, write_status
from core.training.progress import FileProgress

ROOT = Path(__file__).resolve().parents[2]
SID = "0123456789ab"
SPEC = {"kind": "betavae", "data": "zeisel_cortex", "label": "β-VAE on zeisel_cortex",
        "model": {"hidden": [16]}, "train": {"epochs": 5, "device": "cpu"},
        "owner": f"session:{SID}"}


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "zeisel_cortex")
    monkeypatch.setenv("SCVAE_JOB_SLOTS", "0")        # no worker: the test plays it
    return tmp_path / "runs"


def _train_page(sid: str = SID) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["sid"] = sid                        # the address after a reload
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_reloaded_page_reattaches_to_its_running_job_and_shows_the_queue(runs):
    queue = JobQueue(runs)
    mine = queue.submit(load_spec(SPEC))
    other = queue.submit(load_spec({**SPEC, "owner": "session:ffffffffffff",
                                    "label": "someone's secret run"}))
    at = _train_page()
    assert any("position 1 of 2" in i.value for i in at.info)       # queued, first in line
    assert at.button(key="cancel_betavae") and at.button(key="bv_start").disabled

    queue.claim(os.getpid())                                        # a worker takes it …
    progress = FileProgress(mine.run_dir, ["data", "train", "metrics"])
    progress.set_phase("train", 5)
    progress.update(2, {"beta": 1.0, "train_loss": 3.5, "train_recon": 3.0, "train_kl": 0.5})
    at = _train_page()                                               # … and the tab reloads
    bar = at.get("progress")[0].proto
    assert "epoch 2/5" in bar.text and bar.value == 40
    [table] = [d.value for d in at.dataframe if "ends in" in d.value]
    assert table["status"].tolist() == ["running", "queued"]
    assert table["job"].tolist() == ["β-VAE on zeisel_cortex", "another session's job"]
    assert table["position"].tolist() == [0, 1]

    at.button(key="cancel_betavae").click().run()
    assert queue.get(mine.id).cancel and not queue.get(other.id).cancel
    assert not any("Queued" in i.value for i in _train_page("aaaaaaaaaaaa").info)


def _unfinished(runs: Path, owner: str) -> Path:
    path = new_run_dir("betavae", "zeisel_cortex", runs)
    spec = load_spec({**SPEC, "owner": owner})
    write_spec(spec, path)
    set_owner(path, owner)
    begin_run("betavae", "zeisel_cortex", run_dir=path, n_epochs=5)
    write_status(path, epoch=2, phase="train", reason="interrupted: the worker process stopped")
    return path


def test_an_unfinished_run_offers_resume_and_delete_to_its_owner_only(runs):
    path = _unfinished(runs, f"session:{SID}")
    at = _train_page("bbbbbbbbbbbb")                                 # someone else
    assert [b.key for b in at.button if b.key and b.key.startswith("resume_run")] == []
    assert any("another session's" in c.value for c in at.caption)

    at = _train_page()
    assert any("checkpoint after epoch 2 of 5" in t.value for t in at.text)
    at.button(key="resume_run_0").click().run()
    assert not at.exception
    [job] = JobQueue(runs).jobs(active=True)
    assert job.resume and job.run_dir == path and job.owner == f"session:{SID}"
    at.run()
    assert [b.key for b in at.button if b.key and b.key.startswith("resume_run")] == []

    other = _unfinished(runs, f"session:{SID}")
    at = _train_page()
    at.button(key="delete_unfinished_0").click().run()
    assert not other.exists() and path.exists()
