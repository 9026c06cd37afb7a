"""``python -m core phenotype train|predict`` (issue 17): round trip and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.cli import EXIT_USER_ERROR, main

NORMAN = Path(__file__).resolve().parents[3] / "assets/datasets/norman_gi.tsv.gz"


def test_cli_round_trip_on_a_small_slice(tmp_path, capsys, one_thread):
    frame = pd.read_csv(NORMAN, sep="\t")
    keep = set(frame.loc[frame["n_genes"] == 1, "genes"].head(14))
    data = tmp_path / "slice.tsv"
    frame[[set(g.split("+")) <= keep for g in frame["genes"]]].to_csv(data, sep="\t",
                                                                     index=False)
    out = tmp_path / "run"
    assert main(["phenotype", "train", "--data", str(data), "--max-epochs", "3",
                 "--device", "cpu", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run_dir"] == str(out) and printed["n_test"] > 0
    held = pd.read_csv(out / "heldout.csv")
    sets = tmp_path / "sets.csv"
    held[["genes"]].to_csv(sets, index=False)
    assert main(["phenotype", "predict", str(out), "--sets", str(sets),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["genes", "predicted", "additive", "interaction"]
    assert pred["predicted"].to_numpy() == pytest.approx(held["predicted"].to_numpy(), abs=1e-5)
    assert pred["additive"].to_numpy() == pytest.approx(held["additive"].to_numpy(), abs=1e-6)
    capsys.readouterr()
    assert main(["phenotype", "interactions", str(out), "--out",
                 str(tmp_path / "gi.csv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    ranked = pd.read_csv(tmp_path / "gi.csv")
    assert printed["n_pairs"] == len(ranked) == 14 * 13 // 2
    assert ranked["interaction"].is_monotonic_decreasing
    assert set(ranked["in_data"]) <= {"train", "val", "test", "new"}
    (tmp_path / "bad.csv").write_text("genes\nNOT_A_GENE+ALSO_NOT\n")
    code = main(["phenotype", "predict", str(out), "--sets", str(tmp_path / "bad.csv"),
                 "--out", str(tmp_path / "x.csv")])
    assert code == EXIT_USER_ERROR
    assert "ALSO_NOT, NOT_A_GENE" in capsys.readouterr().err
    assert main(["phenotype", "train", "--data", str(data), "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
