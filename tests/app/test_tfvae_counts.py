"""The TF-VAE's count likelihood on the Network page, and its run on the Perturb page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_counts_options import assert_clean, wait_for_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_app(tmp_path, monkeypatch):
    """``dataset -> AppTest`` on the Network page with an empty runs directory."""
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))

    def _open(dataset: str | None) -> AppTest:
        if dataset:
            monkeypatch.setenv("SCVAE_DEFAULT_DATASET", dataset)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/network.py").run()
        assert_clean(at)
        return at

    return _open


def test_count_likelihood_without_counts_is_a_clear_error(open_app):
    at = open_app(None)                                 # kang_pbmc: log-normalised, no counts
    assert at.selectbox(key="tf_likelihood").value == "gaussian"
    at.selectbox(key="tf_likelihood").select("nb").run()
    assert any("keeps no raw counts" in w.value for w in at.warning)
    at.button(key="tf_start").click().run()
    assert_clean(at)
    assert any("raw integer counts" in e.value for e in at.error)


def test_train_nb_tfvae_then_perturb(open_app, tmp_path):
    at = open_app("synthetic_grn")
    at.selectbox(key="tf_likelihood").select("nb").run()
    assert not at.warning
    at.number_input(key="tf_max").set_value(10).run()
    for phase in ("encoder", "decoder", "masked", "masked_fine", "vae"):
        at.number_input(key=f"tf_ep_{phase}").set_value(1).run()
    at.button(key="tf_start").click().run()
    assert_clean(at)
    run_dir = wait_for_run(at, tmp_path / "runs")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["module"]["likelihood"] == "nb" and len(config["tfs"]) == 10
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["heldout_recon_loglik"] < 0
    at.run()
    assert_clean(at)
    assert any("likelihood: NB (counts)" in c.value for c in at.caption)
    at.switch_page("app_pages/perturb.py").run()
    assert_clean(at)
    assert any("log2 normalised expression" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert {"gene", "delta", "baseline", "perturbed"} <= set(table.columns)
    # Baselines are log2 expression per 10k counts: positive for expressed genes.
    assert (table["baseline"] > 0).mean() > 0.9
    # The Train page lists every model's runs and opens a TF-VAE run on the Network page.
    at.switch_page("app_pages/train.py").run()
    assert at.button(key="open_embedding").label == "Open in Network"
    at.button(key="open_embedding").click().run()
    assert_clean(at)
    assert at.title[0].value == "TF network"
    assert at.selectbox(key="net_run").value == run_dir.name
