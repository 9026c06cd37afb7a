"""Data-parallel training (core/training/distributed.py): the shard sampler, the device
check, and two gloo CPU processes training the β-VAE and TF-VAE recipes into run folders
shaped exactly like the one-process runs (issue 22)."""

from __future__ import annotations

import json
import multiprocessing.spawn
import os
import sys
import types

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from core.data.preprocess import preprocess
from core.data.simulate import synthetic_grn
from core.errors import ConfigError
from core.recipes.betavae import train_betavae
from core.recipes.tfvae import train_tfvae
from core.training.distributed import ShardSampler, _no_main_script, check_devices
from core.training.progress import Progress
from core.training.trainer import TrainConfig

BETAVAE = {"hidden": [32], "n_latent": 4}
TFVAE = {"hidden": [32], "epochs_encoder": 1, "epochs_decoder": 1, "epochs_masked": 1,
         "epochs_masked_fine": 0, "epochs_vae": 1, "max_tfs": None}


@pytest.fixture(scope="module")
def small():
    sim = synthetic_grn(n_cells=240, n_tfs=8, n_genes=40, n_cell_types=3, seed=0)
    return preprocess(sim.adata)


@pytest.mark.parametrize(("n", "world"), [(100, 2), (101, 2), (50, 3), (7, 4)])
def test_shards_are_torch_distributed_sampler_shares_covering_every_cell(n, world):
    shares = [ShardSampler(n, rank=r, world=world, seed=3).positions(epoch=2)
              for r in range(world)]
    for r, share in enumerate(shares):        # the algorithm of torch's own sampler
        ref = DistributedSampler(range(n), num_replicas=world, rank=r, seed=3)
        ref.set_epoch(2)
        assert share.tolist() == list(ref)
    assert {len(s) for s in shares} == {-(-n // world)}       # same steps on every rank
    cells = torch.cat(shares).tolist()
    assert set(cells) == set(range(n))
    assert len(cells) - n == (-n) % world       # disjoint but for the padding (< world)
    if n % world == 0:
        assert len(set(cells)) == len(cells)
    other = ShardSampler(n, rank=0, world=world, seed=3).positions(epoch=3)
    assert other.tolist() != shares[0].tolist()                # reshuffled every epoch


def test_device_count_is_checked_with_a_one_line_message():
    check_devices("cpu", 1)
    with pytest.raises(ConfigError, match="at least 1"):
        TrainConfig(devices=0, device="cpu").validate()
    with pytest.raises(ConfigError, match="CPU cores"):
        check_devices("cpu", 10 * (os.cpu_count() or 1))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            check_devices("cuda", 2)


def _shape(run) -> dict:
    files = sorted(p.name for p in run.path.iterdir())
    config = json.loads((run.path / "config.json").read_text())
    return {"files": files, "config": sorted(config), "train": sorted(config["train"]),
            "data": config["data"], "metrics": sorted(run.metrics),
            "history": list(run.history.columns), "epochs": len(run.history)}


def test_ranks_do_not_rerun_the_callers_main_script(monkeypatch, tmp_path):
    # Streamlit runs a page as __main__ (and AppTest leaves it there): spawn would re-run
    # the app in every rank. While ranks start, __main__ has no file to re-run.
    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "app.py")
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert "init_main_from_path" in multiprocessing.spawn.get_preparation_data("rank")
    with _no_main_script():
        prepared = multiprocessing.spawn.get_preparation_data("rank")
    assert "init_main_from_path" not in prepared and "init_main_from_name" not in prepared
    assert sys.modules["__main__"] is script


def test_two_gloo_processes_write_the_same_betavae_run_as_one(small, tmp_path, one_thread):
    runs, progress = {}, Progress()
    for devices in (1, 2):
        train = TrainConfig(epochs=2, batch_size=64, device="cpu", devices=devices,
                            patience=None)
        runs[devices] = train_betavae(small, dataset="sim", label_key="cell_type",
                                      model=BETAVAE, train=train, run_dir=tmp_path / f"d{devices}",
                                      progress=progress if devices == 2 else None)
    one, two = runs[1], runs[2]
    assert _shape(one) == _shape(two)
    assert (one.config["train"]["devices"], two.config["train"]["devices"]) == (1, 2)
    assert (one.metrics["devices"], two.metrics["devices"]) == (1, 2)
    assert two.latent.shape == one.latent.shape and np.isfinite(two.latent).all()
    # Same optimisation (batch = cells per step on any device count), other batch order:
    # the losses agree to within what another seed changes.
    for key in ("final_train_loss", "final_val_loss"):
        assert two.metrics[key] == pytest.approx(one.metrics[key], rel=0.1)
    # rank 0's progress reached the caller
    assert [h["epoch"] for h in progress.snapshot()["history"] if h["phase"] == "train"] == [1, 2]


def test_two_gloo_processes_run_every_tfvae_phase(small, tmp_path, one_thread):
    runs = {d: train_tfvae(small, dataset="sim", model=TFVAE, run_dir=tmp_path / f"t{d}",
                           train=TrainConfig(batch_size=64, device="cpu", devices=d))
            for d in (1, 2)}
    assert _shape(runs[1]) == _shape(runs[2])
    assert runs[2].metrics["phase_epochs"] == runs[1].metrics["phase_epochs"]
    assert runs[2].metrics["devices"] == 2
    # the learned masks came back from rank 0: same sparsity as one process
    assert runs[2].metrics["tf2gene_edges"] == runs[1].metrics["tf2gene_edges"]
