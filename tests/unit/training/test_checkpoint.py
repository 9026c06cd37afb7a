"""Checkpoint and resume of :func:`core.training.trainer.fit`: a run stopped after epoch k and
resumed ends exactly like one that was never interrupted."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.errors import DataError
from core.models.vae import BetaVAE
from core.training.checkpoint import CHECKPOINT_FILE, Checkpointer, load_checkpoint
from core.training.progress import Progress
from core.training.schedules import LinearWarmup
from core.training.trainer import TrainConfig, fit, seed_everything

CONFIG = TrainConfig(epochs=6, batch_size=32, lr=1e-3, patience=None, device="cpu", seed=3)


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(120, 20)).astype(np.float32)}


def _module() -> BetaVAE:
    seed_everything(CONFIG.seed)
    return BetaVAE(20, 4, [16], dropout=0.2, input_dropout=0.1)


class _CancelAfter(Progress):
    """Sets the cancel flag once ``k`` epochs have finished (as a user pressing Cancel)."""

    def __init__(self, k: int, flag: threading.Event) -> None:
        super().__init__()
        self.k, self.flag = k, flag

    def update(self, epoch: int, terms: dict[str, float]) -> None:
        super().update(epoch, terms)
        if epoch >= self.k:
            self.flag.set()


def _uninterrupted():
    module = _module()
    result = fit(module, _data(), config=CONFIG, schedule=LinearWarmup(2.0, 4))
    return module, result


@pytest.mark.parametrize("every", [1, 2])
def test_resume_after_cancel_equals_an_uninterrupted_run(tmp_path, every):
    ref_module, ref = _uninterrupted()
    flag = threading.Event()
    first = fit(_module(), _data(), config=CONFIG, schedule=LinearWarmup(2.0, 4),
                progress=_CancelAfter(3, flag), cancel=flag,
                checkpoint=Checkpointer(tmp_path, every=every))
    assert first.stopped == "cancelled" and first.n_epochs_run == 3
    assert int(load_checkpoint(tmp_path)["fit"]["rows"][-1]["epoch"]) == 3   # written at cancel
    module = _module()
    progress = Progress()
    resumed = fit(module, _data(), config=CONFIG, schedule=LinearWarmup(2.0, 4),
                  progress=progress, checkpoint=Checkpointer(tmp_path, every=every, resume=True))
    assert resumed.n_epochs_run == ref.n_epochs_run == CONFIG.epochs
    cols = [c for c in ref.history.columns if c.startswith(("train_", "val_", "beta"))]
    np.testing.assert_allclose(resumed.history[cols].to_numpy(), ref.history[cols].to_numpy(),
                               rtol=1e-6)
    for k, v in ref_module.state_dict().items():
        torch.testing.assert_close(module.state_dict()[k], v, rtol=1e-6, atol=1e-7)
    assert [r["epoch"] for r in progress.snapshot()["history"]] == [1, 2, 3, 4, 5, 6]


def test_periodic_checkpoint_is_what_a_kill_leaves(tmp_path):
    """Without a cancel (a kill -9), the last checkpoint written every 2 epochs is at epoch 4."""
    flag = threading.Event()
    fit(_module(), _data(), config=CONFIG, progress=_CancelAfter(5, flag), cancel=flag,
        checkpoint=Checkpointer(tmp_path, every=2))
    state = load_checkpoint(tmp_path)
    assert state["phase"] == "train" and len(state["fit"]["rows"]) == 5   # flushed at cancel
    ckpt = Checkpointer(tmp_path / "other", every=2)
    (tmp_path / "other").mkdir()
    fit(_module(), _data(), config=TrainConfig(**{**CONFIG.to_dict(), "epochs": 5}),
        checkpoint=ckpt)
    assert len(load_checkpoint(tmp_path / "other")["fit"]["rows"]) == 4   # not 5: every 2


def test_missing_checkpoint_starts_afresh_and_damaged_is_a_clear_error(tmp_path):
    assert Checkpointer(tmp_path, resume=True).state_for("train") is None
    with pytest.raises(DataError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="damaged"):
        Checkpointer(tmp_path, resume=True)
