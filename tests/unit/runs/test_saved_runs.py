"""Run folders written before the core/ restructure (tests/fixtures/runs) still load and predict.

The fixtures were written by ``tests/fixtures/make_runs.py`` at commit d8c80c6 (no
``schema_version`` in their config.json, i.e. schema version 1). Re-encoding the same toy data
with the reloaded weights must give back the latent saved in the folder.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.analysis.tf_decoder import tf_decoder
from core.runs import list_runs, load_run
from core.training.inputs import inputs_for_run
from core.training.trainer import encode_mean, predict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RUNS = FIXTURES / "runs"


def _toy_data():
    spec = importlib.util.spec_from_file_location("make_runs", FIXTURES / "make_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.toy_data()


@pytest.fixture(scope="module")
def toy():
    return _toy_data()


def test_fixtures_are_small_and_all_listed(tmp_path):
    total = sum(p.stat().st_size for p in RUNS.rglob("*") if p.is_file())
    assert total < 200_000
    shutil.copytree(RUNS, tmp_path / "runs")
    models = sorted(r.model for r in list_runs(tmp_path / "runs"))
    assert models == ["betavae", "betavae", "scgen", "tfvae"]


@pytest.mark.parametrize("name", ["betavae_gaussian", "betavae_nb"])
def test_old_betavae_runs_reencode_their_latent(toy, name):
    run = load_run(RUNS / name)
    module = run.load_module()
    inputs = inputs_for_run(toy, run)
    latent = encode_mean(module, inputs.encoder_input, device="cpu", **inputs.encode_extra)
    assert latent.shape == run.latent.shape == (48, 3)
    np.testing.assert_allclose(latent, run.latent, atol=1e-5)
    assert module.likelihood == run.config["settings"]["likelihood"]
    assert run.metrics["n_epochs_run"] == 2


def test_old_tfvae_run_reencodes_and_decodes(toy):
    run = load_run(RUNS / "tfvae_gaussian")
    dec = tf_decoder(run.load_module())
    assert dec.tf_names == run.config["tfs"]
    x = inputs_for_run(toy, run).encoder_input
    np.testing.assert_allclose(dec.encode(x), run.latent, atol=1e-5)
    out = dec.decode_from_tf(run.latent[:4])
    assert out["x_hat"].shape == (4, 12) and np.isfinite(out["x_hat"]).all()
    assert set(run.table("network")["layer"]) <= {"tf2tf", "tf2gene"}


def test_old_scgen_run_predicts_what_it_saved(toy):
    run = load_run(RUNS / "scgen")
    module = run.load_module()
    ctrl = run.arrays["holdout_ctrl_idx"]
    z = run.latent[ctrl] + run.arrays["delta"]
    decoded = predict(module, {"z": z}, lambda m, b: m.decode(b["z"]), device="cpu")
    np.testing.assert_allclose(np.maximum(decoded, 0), run.arrays["predicted"], atol=1e-5)
    assert run.arrays["predicted"].shape == (len(ctrl), 12)
