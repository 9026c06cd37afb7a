"""``python -m core benchmark`` on a small bundled dataset (PCA + a 2-epoch β-VAE)."""

from __future__ import annotations

import json

from core.cli import main


def test_benchmark_cli_writes_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["benchmark", "--data", "pbmc68k_reduced", "--label-key", "bulk_labels",
                 "--methods", "pca,betavae_gaussian,betavae_nb", "--seeds", "1",
                 "--epochs", "2", "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in printed["table"]] == ["pca", "betavae_gaussian"]
    assert "counts" in printed["skipped"]["betavae_nb"]
    for name in ("table.csv", "per_seed.csv", "table.json", "scib_table.html",
                 "metric_bars.html"):
        assert (out / name).is_file(), name
    assert 0.3 < printed["table"][0]["bio_conservation"] <= 1.0


def test_benchmark_cli_bad_label_is_one_line(tmp_path, capsys):
    code = main(["benchmark", "--data", "pbmc68k_reduced", "--label-key", "nope",
                 "--methods", "pca", "--out", str(tmp_path / "b")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: The label column 'nope' is not in obs") and "\n" not in err
