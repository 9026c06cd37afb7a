"""AppTest for the Predict page: defaults from the registry, bad choices, saved runs shown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.scgen import METHODS, ScgenSpec
from core.data.io import read
from core.data.preprocess import PreprocessConfig, preprocess
from core.recipes.scgen import _config, train_scgen
from core.runs import save_run
from core.training.trainer import TrainConfig
from tests.app.conftest import download_labels
from ui.jobs import SELECTED_RUN_KEY

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SPEC = ScgenSpec("condition", "control", "stimulated", "cell_type", "NK")


@pytest.fixture(scope="module")
def kang():
    return preprocess(read("kang_pbmc").adata, PreprocessConfig())


def _open(monkeypatch, runs) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/predict.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_defaults_come_from_the_dataset_registry(monkeypatch, tmp_path):
    at = _open(monkeypatch, tmp_path / "runs")
    assert at.selectbox(key="scgen_condition_key").value == "condition"
    assert at.selectbox(key="scgen_control").value == "control"
    assert at.selectbox(key="scgen_stimulated").value == "stimulated"
    assert at.selectbox(key="scgen_cell_type_key").value == "cell_type"
    assert at.selectbox(key="scgen_holdout").value == "CD4T"
    assert any("No scGen run" in i.value for i in at.info)


def test_same_control_and_stimulated_is_a_clear_error(monkeypatch, tmp_path):
    at = _open(monkeypatch, tmp_path / "runs")
    at.selectbox(key="scgen_stimulated").set_value("control").run()
    at.button(key="scgen_train").click().run()
    assert not at.exception
    assert any("must differ" in e.value for e in at.error)


def test_saved_runs_are_shown_with_scores_and_figures(monkeypatch, tmp_path, kang):
    runs = tmp_path / "runs"
    train = TrainConfig(epochs=1, batch_size=64, patience=None, device="cpu")
    run = train_scgen(kang, SPEC, dataset="kang_pbmc", model={"n_latent": 4, "hidden": [16]},
                      train=train, runs_root=runs)
    at = _open(monkeypatch, runs)
    assert at.selectbox(key="scgen_run").value == run.id
    scores = at.dataframe[0].value
    assert len(scores) == len(METHODS)
    # The default predictor heads the table, beside its baselines and the distribution scores.
    assert scores["method"].iloc[0] == "scGen: control + decoded change (default)"
    assert {"energy ↓", "MMD² ↓", "kNN mixing", "R² var", "R² means top-100"} <= set(
        scores.columns)
    assert scores["energy ↓"].notna().all()
    assert at.multiselect(key="scgen_genes").value  # top DEGs preselected for the violins
    assert at.button(key="scgen_umap")
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["R² means, top-100 DEGs", "R² means, all genes"]
    assert "energy distance" in labels
    top100 = next(m for m in at.metric if m.label == "R² means, top-100 DEGs")
    assert float(top100.value) == pytest.approx(run.metrics["r2_top100"], abs=1e-3)
    assert run.metrics["method"] == "scgen_residual"
    assert "Model (run folder, .zip)" in download_labels(at)

    per_type = pd.DataFrame([{"holdout": t, "method": m, "r2_all": 0.9, "r2_top100": 0.8,
                              "r2_var": 0.5, "r2_var_top100": 0.4, "energy": 1.0,
                              "mmd": 0.1, "knn_mixing": 0.7}
                             for t in ("B", "NK") for m in METHODS])
    config = _config(kang, {}, None, SPEC, train, "kang_pbmc", "every_type")
    save_run(runs / "zzzz-every", config=config, metrics={"types": ["B", "NK"],
             "complete": True}, history=pd.DataFrame(), tables={"per_type": per_type})
    at.session_state[SELECTED_RUN_KEY] = "zzzz-every"  # as when a job has just finished
    at.run()
    assert at.selectbox(key="scgen_run").value == "zzzz-every"
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.index) == ["B", "NK", "mean"]
    at.radio(key="scgen_bar_metric").set_value("energy").run()
    assert not at.exception
    n_buttons = len(at.get("download_button"))
    # A run that kept every type's predictions also offers them as one .h5ad.
    arrays = {k: run.arrays[k] for k in ("predicted", "holdout_ctrl_idx", "holdout_stim_idx")}
    save_run(runs / "zzzz-every2", config=config, metrics={"types": ["B", "NK"],
             "complete": True}, history=pd.DataFrame(), tables={"per_type": per_type},
             arrays=arrays)
    at.session_state[SELECTED_RUN_KEY] = "zzzz-every2"
    at.run()
    assert not at.exception
    assert len(at.get("download_button")) == n_buttons + 1
    assert "Models (run folder, .zip)" in download_labels(at)
