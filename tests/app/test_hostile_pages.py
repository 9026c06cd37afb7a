"""Issue 19, items 1 and 9 on the pages: bad run folders never crash a page, are listed as
unreadable and can be deleted; only a run's owner may delete it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runs.schema import set_owner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hostile_runs(tfvae_runs_dir, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(tfvae_runs_dir, root)
    for name, config in (("bad-list", [1, 2]), ("bad-data", {"model": "betavae", "data": "xyz",
                                                             "module": {"n_input": 3}})):
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(root))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "synthetic_grn")
    return root


def _train_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bad_run_folders_are_listed_and_deleted_without_crashing(hostile_runs):
    at = _train_page()
    reasons = [t.value for t in at.text]
    assert "Run bad-data: config['data'] should be an object, not str." in reasons
    assert "Run bad-list: config.json should be an object, not list." in reasons
    at.button(key="delete_unreadable_0").click().run()
    assert not at.exception
    assert not (hostile_runs / "bad-data").exists() and (hostile_runs / "bad-list").exists()


def test_only_the_owner_may_delete_a_run(hostile_runs):
    at = _train_page()
    captions = " ".join(c.value for c in at.caption)
    assert "Read-only: created outside this app" in captions      # no owner recorded
    run_dir = next(p for p in hostile_runs.iterdir() if "tfvae" in p.name)
    set_owner(run_dir, "session:someone-else")
    at.run()
    assert "Read-only: created by another session" in " ".join(c.value for c in at.caption)
    set_owner(run_dir, f"session:{at.session_state['session_id']}")
    at.run()
    assert "Read-only" not in " ".join(c.value for c in at.caption)
    at.button(key="delete_run").click().run()
    assert not run_dir.exists()


def test_a_truncated_latent_is_a_message_on_the_embedding_page(hostile_runs):
    run_dir = next(p for p in hostile_runs.iterdir() if "tfvae" in p.name)
    raw = (run_dir / "latent.npy").read_bytes()
    (run_dir / "latent.npy").write_bytes(raw[: len(raw) // 2])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/embedding.py").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith(f"Run {run_dir.name}: latent.npy is damaged") for e in errors), errors
