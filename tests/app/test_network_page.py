"""The Network page under AppTest, on the simulated dataset with a small trained TF-VAE run."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
FAST = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 3, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.training.tfvae_recipe import train_tfvae
    from core.training.trainer import TrainConfig

    root = tmp_path_factory.mktemp("runs")
    ad = preprocess(read("synthetic_grn").adata, PreprocessConfig())
    train_tfvae(ad, dataset="synthetic_grn", model=FAST, runs_root=root,
                train=TrainConfig(device="cpu", batch_size=256))
    return root


@pytest.fixture
def app(runs_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "synthetic_grn")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/network.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_summary_browse_and_ranking(app):
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["TFs"] == "40"
    assert metrics["TF→TF edges"] == str(round(0.1 * 40 * 39))
    tf = app.selectbox(key="net_tf").value
    assert tf.startswith("TF")
    assert not app.error
    titles = [t.value for t in app.markdown]
    assert any(f"**Targets of {tf}**" in t for t in titles)
    # Filters: only TF→TF edges, top 3 per TF.
    app.multiselect(key="net_layers").set_value(["tf2tf"]).run()
    app.number_input(key="net_topk").set_value(3).run()
    assert not app.exception
    caption = " ".join(c.value for c in app.caption)
    assert f"{40 * 3 if 40 * 3 < 156 else 156:,} of" in caption or "edges pass" in caption


def test_search_jumps_to_a_tf(app):
    app.text_input(key="net_search").set_value("TF07").run()
    assert not app.exception
    assert app.selectbox(key="net_tf").value == "TF07"


def test_too_few_tfs_is_a_clear_error(app):
    app.selectbox(key="tf_list").set_value("mouse_mgi").run()
    app.button(key="tf_start").click().run()
    assert not app.exception
    assert any("genes are in TF list" in e.value for e in app.error)
