"""Issue 19, item 4: when scoring after training fails, the trained run is still saved."""

from __future__ import annotations

import anndata as ad
import numpy as np

from core.recipes import betavae
from core.training.trainer import TrainConfig


def test_a_scoring_failure_keeps_the_trained_run(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("n_components=0 must be between 1 and 1")

    monkeypatch.setattr(betavae, "score_latent", broken)
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.normal(size=(40, 6)).astype(np.float32))
    run = betavae.train_betavae(
        adata, dataset="toy", model={"hidden": [8], "n_latent": 2},
        train=TrainConfig(epochs=2, batch_size=16, device="cpu"), run_dir=tmp_path / "r")
    assert (run.path / "model.pt").is_file() and run.latent.shape == (40, 2)
    assert "scoring its latent failed (ValueError: n_components=0" in run.metrics["message"]
    assert run.metrics["n_epochs_run"] == 2
