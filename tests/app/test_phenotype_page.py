"""AppTest for the Phenotype page: bundled table, bad columns, a saved run's results and the
prediction box."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.phenotypes import read_phenotypes
from core.recipes.phenotype import PHENOTYPE_TRAIN_DEFAULTS, train_phenotype

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def phenotype_runs(tmp_path_factory) -> Path:
    """A runs folder with one short DeepSet run on the bundled table."""
    root = tmp_path_factory.mktemp("pheno_runs")
    table = read_phenotypes("norman_gi")
    train_phenotype(table, train=replace(PHENOTYPE_TRAIN_DEFAULTS, epochs=3, device="cpu"),
                    run_dir=root / "20260101-deepset-x")
    return root


def download_labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def _ranking_table(at: AppTest):
    """The genetic-interaction ranking: the one table with an ``in_data`` column."""
    tables = [d.value for d in at.dataframe if "in_data" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


def _open(monkeypatch, runs: Path) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(runs))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "synthetic_grn")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/phenotype.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_empty_runs_folder_shows_the_table_and_how_to_start(monkeypatch, tmp_path):
    at = _open(monkeypatch, tmp_path / "runs")
    assert at.selectbox(key="pheno_genes_col").value == "genes"
    assert at.selectbox(key="pheno_value_col").value == "fitness"
    assert any("5,085 sets · 112 genes · 112 singles · 4,973 combinations" in c.value
               for c in at.caption)
    assert any("No phenotype run yet" in i.value for i in at.info)
    at.selectbox(key="pheno_split").set_value("genes").run()
    assert any("learned embedding knows nothing" in e.value for e in at.error)
    assert at.button(key="pheno_train").disabled
    at.selectbox(key="pheno_value_col").set_value("n_genes").run()
    assert not at.exception


def test_saved_run_shows_scores_figures_and_predicts_a_typed_pair(monkeypatch, phenotype_runs):
    at = _open(monkeypatch, phenotype_runs)
    labels = [m.label for m in at.metric]
    assert "Interaction r (held out)" in labels
    methods = at.dataframe[0].value["method"].tolist()
    assert methods[0] == "DeepSet" and "additive + MF interaction" in methods
    assert len(at.get("plotly_chart")) >= 4       # held-out, interaction, bars, heatmap
    assert {"Held-out predictions (CSV)", "Every pair predicted, ranked (CSV)",
            "Model (run folder, .zip)"} <= set(download_labels(at))
    ranking = _ranking_table(at)
    assert ranking["rank"].tolist()[:3] == [1, 2, 3] and len(ranking) == 112 * 111 // 2
    assert ranking["interaction"].is_monotonic_decreasing
    at.radio(key="pheno_rank_filter").set_value("not in the data").run()
    assert set(_ranking_table(at)["in_data"]) == {"new"}
    at.text_input(key="pheno_query").set_value("KLF1+CEBPA").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    additive = float(shown["Additive expectation"])
    singles = read_phenotypes("norman_gi").singles()
    assert additive == pytest.approx(singles["KLF1"] + singles["CEBPA"], abs=1e-3)
    at.text_input(key="pheno_query").set_value("KLF1+NOT_A_GENE").run()
    assert any("NOT_A_GENE" in e.value for e in at.error)
