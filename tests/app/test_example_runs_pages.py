"""Issue 21 on a fresh server (default kang_pbmc, empty runs directory): the shipped example
runs open Network and Perturb at once, read-only, linked from Start here; the Perturb page
opens on a knock-out with its biological reading; the Network page stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TFVAE, BETAVAE = "example-tfvae-kang_pbmc", "example-betavae-kang_pbmc"


def frame_with(at: AppTest, column: str):
    """The first dataframe of the page that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SCVAE_DEFAULT_DATASET", raising=False)

    def _open(page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open


def test_start_here_links_the_example_runs(fresh):
    at = fresh()
    text = " ".join(m.value for m in at.markdown)
    assert "Try it now, no training" in text
    links = [el.proto.label for el in at.get("page_link")]
    assert "Example TF-VAE: knock out a TF" in links and "Example β-VAE: its embedding" in links


def test_perturb_opens_on_a_knockout_of_the_tf_with_most_targets(fresh):
    at = fresh("app_pages/perturb.py")
    assert at.selectbox(key="pert_run").value == TFVAE
    tfs = at.multiselect(key="pert_tfs").value
    assert len(tfs) == 1
    info = " ".join(i.value for i in at.info)
    assert f"knock-out of **{tfs[0]}**, the TF with the most learned targets" in info
    captions = " ".join(c.value for c in at.caption)
    assert f"{tfs[0]} = " in captions and ("lowest cell" in captions or "below every" in captions)
    assert "counts per 10k" in captions
    assert frame_with(at, "delta")["delta"].abs().max() > 0   # not Δ = 0
    at.button(key=f"pert_reset_{tfs[0]}").click().run()
    assert not at.exception
    assert any("move a slider" in i.value for i in at.info)
    assert not at.get("plotly_chart")            # no empty charts while nothing is perturbed


def test_network_example_is_read_only_and_ranking_separates_tfs(fresh):
    at = fresh("app_pages/network.py")
    assert at.selectbox(key="net_run").value == TFVAE
    assert at.number_input(key="net_topk").value == 10
    ranking = frame_with(at, "out_strength")
    assert ranking["out_degree"].nunique() > 3              # not 2·k for every TF
    captions = " ".join(c.value for c in at.caption)
    assert "at most 10 TF targets and 10 gene targets" in captions


def test_train_page_lists_examples_with_both_times_and_no_delete(fresh):
    at = fresh("app_pages/train.py")
    table = frame_with(at, "run")
    assert {TFVAE, BETAVAE} <= set(table["run"])
    assert {"training (s)", "total (s)"} <= set(table.columns)
    assert any("example run shipped with the app" in c.value for c in at.caption)
