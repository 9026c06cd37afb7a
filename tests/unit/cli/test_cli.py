"""``python -m core``: JSON on stdout; a user error is one ``error:`` line and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import EXIT_USER_ERROR, main

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_datasets_json():
    proc = run_cli("datasets", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert list(rows) == ["kang_pbmc", "zeisel_cortex", "pbmc68k_reduced", "papalexi_eccite",
                          "symphony_pbmc", "synthetic_grn"]
    assert (rows["kang_pbmc"]["cells"], rows["kang_pbmc"]["genes"]) == (1975, 6998)
    assert rows["kang_pbmc"]["x"] == "log-normalized"
    assert rows["kang_pbmc"]["condition_key"] == "condition"
    assert (rows["zeisel_cortex"]["cells"], rows["zeisel_cortex"]["genes"]) == (3005, 200)
    assert rows["zeisel_cortex"]["species"] == "mouse"
    assert rows["zeisel_cortex"]["label_key"] == "level1class"
    assert rows["pbmc68k_reduced"]["label_key"] == "bulk_labels"


def test_datasets_table(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "title", "species", "cells", "genes"]
    assert [ln.split()[0] for ln in lines[1:]] == ["kang_pbmc", "zeisel_cortex",
                                                   "pbmc68k_reduced", "papalexi_eccite",
                                                   "symphony_pbmc", "synthetic_grn"]


def test_inspect_bundled():
    proc = run_cli("inspect", "zeisel_cortex")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert set(summary) == {"name", "n_obs", "n_vars", "x_kind", "x_is_counts", "x_sparse",
                            "layers", "obs_columns", "notices"}
    assert (summary["name"], summary["n_obs"], summary["n_vars"]) == ("zeisel_cortex", 3005, 200)
    assert summary["x_kind"] == "counts" and summary["x_is_counts"] is True
    assert summary["obs_columns"]["level1class"] == {"type": "categorical", "n_categories": 7}
    assert summary["notices"] == []


def test_inspect_csv_file_transposed(tmp_path, capsys):
    path = tmp_path / "genes_by_cells.tsv"
    path.write_text("gene\tc1\tc2\tc3\nCD3E\t1\t0\t2\nMS4A1\t0\t5\t1\n")
    assert main(["inspect", str(path), "--transpose"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["n_obs"], summary["n_vars"], summary["x_is_counts"]) == (3, 2, True)


def test_inspect_truncated_h5ad_exits_2_with_one_error_line(tmp_path):
    src = (ROOT / "assets/datasets/zeisel_cortex.h5ad").read_bytes()
    path = tmp_path / "truncated.h5ad"
    path.write_bytes(src[: len(src) // 2])
    proc = run_cli("inspect", str(path))
    assert proc.returncode == EXIT_USER_ERROR == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: Could not read 'truncated.h5ad' as .h5ad: the file is "
                               "truncated, corrupt")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content,expected", [
    (b"cell,A\nc1,x\n", "error: 'bad.csv' has a non-numeric value 'x' at cell 'c1', gene 'A'."),
    (b"", "error: 'bad.csv' is an empty file (0 bytes)."),
])
def test_inspect_bad_csv(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1


def test_inspect_unknown_name(capsys):
    assert main(["inspect", "no_such_dataset"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: 'no_such_dataset' is neither a bundled dataset (kang_pbmc, "
                   "zeisel_cortex, pbmc68k_reduced, papalexi_eccite, symphony_pbmc, "
                   "synthetic_grn) nor an existing file.\n")


def test_core_does_not_import_streamlit():
    code = ("import sys, core.cli, core.data.io, core.data.preprocess, core.data.tfs, "
            "core.pl.figures, core.device; core.cli.build_parser(); "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py")
                 if "import streamlit" in p.read_text() or "from streamlit" in p.read_text()]
    assert offenders == []
