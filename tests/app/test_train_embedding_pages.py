"""Train and Embedding pages under AppTest: a real (short) background training job."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import download_labels

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def zeisel_app(tmp_path, monkeypatch) -> AppTest:
    """The app on zeisel_cortex (200 genes: fast) with an empty runs directory."""
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "zeisel_cortex")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception
    return at


def trace_values(spec: str, axis: str) -> np.ndarray:
    """Values of the first trace's x or y from a plotly JSON spec (plain or base64-packed)."""
    values = json.loads(spec)["data"][0][axis]
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def wait_for_job(at: AppTest, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(1.0)
        at.run()
        if at.success or at.error or at.warning:
            return
    raise AssertionError("training job did not finish in time")


def test_schedule_plot_follows_settings(zeisel_app):
    at = zeisel_app
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    at.selectbox(key="bv_schedule").set_value("reference").run()
    at.number_input(key="bv_epochs").set_value(30).run()
    betas = trace_values(at.get("plotly_chart")[0].proto.spec, "y")
    assert len(betas) == 30
    assert betas[0] == pytest.approx(1e-7) and betas[-1] == pytest.approx(2e-6)
    at.text_input(key="bv_hidden").set_value("12,abc").run()
    at.button(key="bv_start").click().run()
    assert any("comma-separated integers" in e.value for e in at.error)
    assert at.session_state["dataset"].name == "zeisel_cortex"  # data survives bad input


def test_train_then_embedding(zeisel_app, tmp_path):
    at = zeisel_app
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="bv_epochs").set_value(3).run()
    at.text_input(key="bv_hidden").set_value("64,32").run()
    at.number_input(key="bv_input_dropout").set_value(0.2).run()
    at.button(key="bv_start").click().run()
    wait_for_job(at)
    assert not at.error and not at.exception
    assert "finished" in at.success[0].value
    runs = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1                               # (.jobs holds the job queue)
    for name in ("config.json", "metrics.json", "history.csv", "model.pt", "latent.npy"):
        assert (runs[0] / name).is_file(), name
    module = json.loads((runs[0] / "config.json").read_text())["module"]
    assert module["hidden"] == [64, 32] and module["input_dropout"] == 0.2
    table = at.dataframe[0].value
    assert table["epochs"].tolist() == [3] and 0 <= table["ARI (latent)"][0] <= 1

    at.switch_page("app_pages/embedding.py").run()
    assert not at.exception and not at.error
    metrics = at.dataframe[0].value
    assert list(metrics["metric"])[:2] == ["ari_kmeans", "nmi_kmeans"]
    # PCA KMeans ARI on zeisel level1class, 10 components (issue 3 quotes 0.504)
    shown = metrics.set_index("metric")         # formatted text: 3 decimals, "–" where missing
    assert float(shown.loc["ari_kmeans", "PCA"]) == pytest.approx(0.504, abs=0.02)
    assert shown.loc["silhouette", "PCA sd"] == "–"
    # 15-NN label accuracy of PCA(10) on zeisel level1class, 5 shuffled folds: 0.865
    assert float(shown.loc["knn_accuracy", "PCA"]) == pytest.approx(0.865, abs=0.02)
    assert len(at.get("plotly_chart")) >= 3  # two UMAPs, metric bars, history
    # UMAPs are saved with the run: a revisit (or a restart) does not recompute them
    assert any(p.name.startswith("umap_vae_nn15") for p in runs[0].iterdir())
    assert {"AnnData (.h5ad)", "Model (run folder, .zip)"} <= set(download_labels(at))


def test_add_a_run_from_a_zip(zeisel_app, tmp_path):
    """A downloaded run folder (.zip) added on the Train page is listed with its dataset."""
    import pandas as pd

    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.models.vae import BetaVAE
    from core.runs import data_fingerprint, run_archive, save_run

    at = zeisel_app
    at.switch_page("app_pages/train.py").run()
    fp = data_fingerprint(preprocess(read("zeisel_cortex").adata))
    m = BetaVAE(200, 4, [8])
    made = {}
    for name, fingerprint in (("20260101-000000-betavae-zeisel-aaaaaa", fp),
                              ("20260101-000000-betavae-other-bbbbbb", "another")):
        path = save_run(tmp_path / "elsewhere" / name, module=m, history=pd.DataFrame(),
                        config={"model": "betavae", "module": m.init_kwargs,
                                "data": {"name": "zeisel_cortex", "fingerprint": fingerprint}},
                        metrics={"n_epochs_run": 7})
        made[name] = run_archive(path)
    for name, data in made.items():
        at.file_uploader(key="run_zip").set_value((f"{name}.zip", data, "application/zip")).run()
        at.button(key="run_zip_add").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
    assert (tmp_path / "runs" / "20260101-000000-betavae-zeisel-aaaaaa" / "model.pt").is_file()
    assert any("listed when that data is loaded" in i.value for i in at.info)
    # Only the run trained on these cells is listed with them.
    assert at.dataframe[0].value["run"].tolist() == ["20260101-000000-betavae-zeisel-aaaaaa"]
    # The same run again, or a file that is not a run: a message, no traceback.
    at.button(key="run_zip_add").click().run()
    assert not at.exception and any("already in the runs folder" in e.value for e in at.error)
    at.file_uploader(key="run_zip").set_value(("x.zip", b"not a zip", "application/zip")).run()
    at.button(key="run_zip_add").click().run()
    assert not at.exception and any("not a .zip archive" in e.value for e in at.error)
