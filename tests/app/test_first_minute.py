"""Issue 21, the first minute: start-here journeys, the sidebar's device and job lines, words
instead of ✓/✗ for the applied preprocessing."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from ui import sidebar

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "zeisel_cortex")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_start_here_links_the_three_journeys(app):
    panel = app.expander[0]
    assert panel.label.startswith("Start here")
    text = " ".join(m.value for m in panel.markdown)
    for title in ("1 · Embed cells", "2 · Learn a TF network", "3 · Predict stimulation"):
        assert title in text
    assert panel.proto.expanded
    app.run()  # later views keep it out of the way
    assert not app.expander[0].proto.expanded


def test_applied_preprocessing_in_words(app):
    applied = [m.value for m in app.markdown if "Applied: normalise" in m.value]
    assert applied and "normalise **on**, log1p **on**, scale **on**" in applied[0]
    assert "✗" not in applied[0] and "✓" not in applied[0]


def test_device_name_arrives_after_the_first_view(app):
    deadline = time.time() + 60
    while sidebar.device_label(detect=True) is None and time.time() < deadline:
        time.sleep(0.2)
    app.run()
    text = " ".join(m.value for m in app.sidebar.markdown)
    assert "**Device:** CPU (" in text or "**Device:** CUDA GPU" in text


def _fake_job(status: str, phase: str, epoch: int, n_epochs: int) -> SimpleNamespace:
    snap = {"phase": phase, "epoch": epoch, "n_epochs": n_epochs}
    return SimpleNamespace(status=status, label="β-VAE", progress=SimpleNamespace(
        snapshot=lambda: snap))


def test_job_line_follows_the_job(monkeypatch):
    import ui.jobs

    monkeypatch.setitem(sys.modules, "ui.jobs", ui.jobs)
    job = _fake_job("running", "train", 3, 8)
    monkeypatch.setattr(ui.jobs, "active_job", lambda kind=None: job)
    assert sidebar.job_line() == "Training: β-VAE · train · epoch 3/8"
    job = _fake_job("running", "", 0, 0)
    assert sidebar.job_line() == "Training: β-VAE · starting"
    job = _fake_job("queued", "", 0, 0)
    assert sidebar.job_line() == "Training: β-VAE · queued"
    monkeypatch.setattr(ui.jobs, "active_job", lambda kind=None: None)
    assert sidebar.job_line() is None
