"""Shared AppTest fixtures: a small trained TF-VAE run on the simulated dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
#: Epochs per recipe phase small enough for a test, large enough for a non-trivial network.
FAST_TFVAE = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 3, "epochs_masked": 1,
              "epochs_masked_fine": 1, "epochs_vae": 1}


@pytest.fixture(autouse=True)
def _stop_job_workers(monkeypatch):
    """Workers the app starts for a test's runs directory exit soon when idle, and are
    stopped (by pid, from that queue) when the test ends."""
    import os
    import signal

    monkeypatch.setenv("SCVAE_WORKER_IDLE_EXIT", "20")
    yield
    from core.jobs.queue import JobQueue

    root = os.environ.get("SCVAE_RUNS_DIR")
    if root and JobQueue.exists(root):
        for pid in JobQueue(root).live_workers():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def download_labels(at: AppTest) -> list[str]:
    """Labels of every download button on the page."""
    return [b.proto.label for b in at.get("download_button")]


@pytest.fixture(scope="session")
def tfvae_runs_dir(tmp_path_factory) -> Path:
    """A runs directory holding one TF-VAE run trained on ``synthetic_grn`` (CPU, seconds)."""
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    root = tmp_path_factory.mktemp("tfvae_runs")
    ad = preprocess(read("synthetic_grn").adata, PreprocessConfig())
    train_tfvae(ad, dataset="synthetic_grn", model=FAST_TFVAE, runs_root=root,
                train=TrainConfig(device="cpu", batch_size=256))
    return root


@pytest.fixture
def open_on_synthetic(tfvae_runs_dir, monkeypatch):
    """A function ``page -> AppTest``: the app on ``synthetic_grn`` with the TF-VAE run,
    switched to ``page``, checked free of exceptions."""
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tfvae_runs_dir))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "synthetic_grn")

    def _open(page: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open
