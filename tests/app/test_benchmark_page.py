"""AppTest for the Benchmark page: the settings, a saved benchmark's table with the best per
column marked, the downloads, and one PCA-only benchmark run as a background job."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from core.analysis.benchmark import summarize
from core.recipes.benchmark import BenchmarkResult, save_benchmark

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _saved(root: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [{"method": m, "seed": s, "leiden_nmi": base + 0.01 * s, "bio_conservation": base,
             "total": base + rng.normal() * 0.01}
            for m, base in (("pca", 0.6), ("betavae_nb", 0.7)) for s in range(2)]
    per_seed = pd.DataFrame(rows)
    result = BenchmarkResult(per_seed=per_seed, table=summarize(per_seed), skipped={
        "scvi": "scvi-tools is not installed"}, info={"dataset": "zeisel_cortex", "n_obs": 3005,
                                                    "label_key": "level1class",
                                                    "batch_key": None})
    save_benchmark(result, root / ".benchmarks" / "20260101-000000-zeisel_cortex")


def _table(at: AppTest) -> pd.DataFrame | None:
    """The benchmark table (the one dataframe with a Bio conservation column)."""
    found = [d.value for d in at.dataframe if "Bio conservation" in d.value.columns]
    return found[0] if found else None


def _open(monkeypatch, runs: Path) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(runs))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "zeisel_cortex")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/benchmark.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_saved_benchmark_shows_table_best_and_downloads(monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    _saved(runs)
    at = _open(monkeypatch, runs)
    # zeisel holds raw counts: the page recommends NB and says why
    assert any("β-VAE NB" in i.value and "raw counts" in i.value for i in at.info)
    assert at.selectbox(key="bench_label").value == "level1class"
    assert at.selectbox(key="bench_batch").value == "(none)"
    # Harmony needs a batch column: off by default without one, on once one is picked
    assert not {"harmony", "betavae_harmony"} & set(at.multiselect(key="bench_methods").value)
    table = _table(at)
    assert list(table.index) == ["PCA", "β-VAE NB"]
    assert table.loc["β-VAE NB", "Bio conservation"] == 0.7
    assert any("Bio conservation: β-VAE NB" in c.value for c in at.caption)
    assert any("Not run: scvi-tools SCVI" in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Table (CSV)", "Per seed (CSV)", "Table (JSON)", "HTML"} <= set(labels)


def test_pca_benchmark_runs_as_a_job(monkeypatch, tmp_path):
    at = _open(monkeypatch, tmp_path / "runs")
    assert any("No benchmark yet" in i.value for i in at.info)
    at.multiselect(key="bench_methods").set_value(["pca"])
    at.number_input(key="bench_seeds").set_value(1).run()
    at.button(key="bench_run").click().run()
    deadline = time.time() + 150
    while time.time() < deadline and _table(at) is None:
        time.sleep(2)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = _table(at)
    assert list(table.index) == ["PCA"]
    assert 0.3 < table.loc["PCA", "Bio conservation"] <= 1.0
