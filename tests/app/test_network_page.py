"""The Network page under AppTest, on the simulated dataset with a small trained TF-VAE run."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import download_labels


@pytest.fixture
def app(open_on_synthetic) -> AppTest:
    return open_on_synthetic("app_pages/network.py")


def test_summary_browse_and_ranking(app):
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["TFs"] == "40"
    # The default mask comes from the prior (here the simulator's ground truth: 65 TF→TF edges).
    assert metrics["TF→TF edges"] == "65"
    tf = app.selectbox(key="net_tf").value
    assert tf.startswith("TF")
    assert not app.error
    titles = [t.value for t in app.markdown]
    assert any(f"**Targets of {tf}**" in t for t in titles)
    assert {"Model (run folder, .zip)", "TF activities (AnnData .h5ad)"} <= set(
        download_labels(app))
    # Filters: only TF→TF edges, top 3 per TF.
    app.multiselect(key="net_layers").set_value(["tf2tf"]).run()
    app.number_input(key="net_topk").set_value(3).run()
    assert not app.exception
    caption = " ".join(c.value for c in app.caption)
    assert "of 65" in caption or "edges pass" in caption


def test_search_jumps_to_a_tf(app):
    app.text_input(key="net_search").set_value("TF07").run()
    assert not app.exception
    assert app.selectbox(key="net_tf").value == "TF07"


def test_too_few_tfs_is_a_clear_error(app):
    app.selectbox(key="tf_list").set_value("mouse_mgi").run()
    app.button(key="tf_start").click().run()
    assert not app.exception
    assert any("genes are in TF list" in e.value for e in app.error)
