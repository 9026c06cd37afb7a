"""Likelihood and batch options on the Train page; batch metrics and DE on the Embedding page."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert_clean(at)
    return at


def upload_counts(at: AppTest) -> None:
    """A small simulated count dataset (160 cells × 60 genes, groups A/B, lanes L1/L2)."""
    import tempfile

    import anndata
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    from tests.unit.count_simulation import simulate_nb

    counts, group, batch = simulate_nb(n_per_group=80, seed=4)
    obs = pd.DataFrame({"group": np.where(group == 0, "A", "B"),
                        "lane": np.where(batch == 0, "L1", "L2")},
                       index=[f"c{i}" for i in range(len(group))])
    ad = anndata.AnnData(X=sp.csr_matrix(counts), obs=obs)
    ad.var_names = [f"g{i}" for i in range(ad.n_vars)]
    with tempfile.TemporaryDirectory() as tmp:
        ad.write_h5ad(Path(tmp) / "sim.h5ad")
        data = (Path(tmp) / "sim.h5ad").read_bytes()
    at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="upload_file").set_value(("sim.h5ad", data,
                                                   "application/octet-stream")).run()
    at.button(key="load_upload").click().run()
    at.selectbox(key="label_key").select("group").run()
    assert_clean(at)


def wait_for_run(at: AppTest, runs: Path, timeout: float = 240) -> Path:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        done = [p for p in runs.glob("*") if (p / "metrics.json").is_file()]
        if done:
            time.sleep(0.5)
            return done[0]
        time.sleep(0.5)
    raise AssertionError("training did not finish in time")


def test_count_likelihood_needs_counts_on_kang(app):
    app.switch_page("app_pages/train.py").run()
    assert_clean(app)
    assert app.selectbox(key="bv_likelihood").value == "gaussian"
    assert app.selectbox(key="bv_dispersion").disabled
    assert "condition" in app.selectbox(key="bv_batch_key").options
    app.selectbox(key="bv_likelihood").select("nb").run()
    assert any("keeps no raw counts" in w.value for w in app.warning)
    assert app.text_input(key="bv_hidden").value == "128"
    assert app.number_input(key="bv_beta_max").value == 1.5
    assert app.number_input(key="bv_input_dropout").value == 0.0
    app.selectbox(key="bv_likelihood").select("gaussian").run()
    assert app.text_input(key="bv_hidden").value == "1024,512,256"
    assert app.number_input(key="bv_input_dropout").value == 0.1
    assert not app.warning


def test_switching_likelihood_keeps_edited_values_and_says_what_changed(app):
    """Issue 21, item 4: NB must not silently replace the user's encoder, dropouts or β."""
    app.switch_page("app_pages/train.py").run()
    app.text_input(key="bv_hidden").set_value("256,64").run()
    app.number_input(key="bv_dropout").set_value(0.3).run()
    app.selectbox(key="bv_likelihood").select("nb").run()
    assert_clean(app)
    assert app.text_input(key="bv_hidden").value == "256,64"
    assert app.number_input(key="bv_dropout").value == 0.3
    assert app.number_input(key="bv_input_dropout").value == 0.0     # untouched: NB default
    note = " ".join(i.value for i in app.info)
    assert "input dropout 0.1 → 0.0" in note and "β max 5.0 → 1.5" in note
    assert "Kept your values: encoder 256,64; dropout 0.3" in note


def test_train_nb_with_batch_then_de(app, tmp_path):
    upload_counts(app)
    app.switch_page("app_pages/train.py").run()
    app.selectbox(key="bv_likelihood").select("nb").run()
    assert not app.warning
    assert not app.selectbox(key="bv_dispersion").disabled
    app.selectbox(key="bv_batch_key").select("lane").run()
    app.number_input(key="bv_epochs").set_value(2).run()
    app.button(key="bv_start").click().run()
    assert_clean(app)
    run_dir = wait_for_run(app, tmp_path / "runs")
    app.run()
    assert_clean(app)
    import json

    config = json.loads((run_dir / "config.json").read_text())
    assert config["module"]["likelihood"] == "nb" and config["module"]["hidden"] == [128]
    assert config["data"]["batch_key"] == "lane"
    app.switch_page("app_pages/embedding.py").run()
    assert_clean(app)
    labels = [m.label for m in app.metric]
    assert "Batch mixing entropy (latent)" in labels and "Held-out ELBO per cell" in labels
    app.selectbox(key="de_group1").select("B").run()
    app.select_slider(key="de_samples").set_value(500).run()
    app.button(key="de_run").click().run()
    assert_clean(app)
    assert not app.error
    table = app.dataframe[-1].value
    assert len(table) == 60 and {"lfc_mean", "bayes_factor", "proba_de"} <= set(table.columns)
