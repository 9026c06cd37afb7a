"""Issue 19, items 4, 5 and 8: bad options and tiny inputs give one-line errors, not defaults."""

from __future__ import annotations

import argparse
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from core import cli_types
from core.cli import main
from core.data.io import read_path
from core.errors import DataError


@pytest.mark.parametrize("option, message", [
    (["--hidden", "abc"], "--hidden: must be comma-separated whole numbers"),
    (["--hidden", "512,0"], "--hidden: must be comma-separated whole numbers"),
    (["--latent", "-1"], "--latent: must be a whole number of at least 1, not -1"),
    (["--dropout", "1.5"], "--dropout: must be a fraction from 0 up to (not including) 1"),
    (["--input-dropout", "1"], "--input-dropout: must be a fraction"),
    (["--epochs", "0"], "--epochs: must be a whole number of at least 1, not 0"),
    (["--lr", "0"], "--lr: must be a number above 0, not 0"),
    (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--batch-size", "0"], "--batch-size: must be a whole number of at least 1"),
    (["--n-top-genes", "-5"], "--n-top-genes: must be a whole number of at least 1, not -5"),
    (["--epochs", "ten"], "--epochs: 'ten' is not a whole number"),
    (["--model", "tfvae", "--mask-sparsity", "0"], "--mask-sparsity: must be a percentage"),
    (["--seed", "-3"], "--seed: must be a whole number of at least 0"),
])
def test_out_of_range_train_options_are_refused_in_one_line(capsys, option, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "kang_pbmc", *option])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: argument ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_predict_and_network_options_are_checked(capsys):
    for argv in (["predict", "--data", "x", "--out", "o", "--epochs", "0"],
                 ["network", "run", "--top-k", "0"], ["network", "run", "--min-weight", "-1"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert capsys.readouterr().err.startswith("error: argument ")


def test_type_functions_return_values():
    assert cli_types.positive_int_list("1024, 512,256") == [1024, 512, 256]
    assert cli_types.fraction("0") == 0.0 and cli_types.percent("100") == 100.0
    assert cli_types.nonneg_float("0") == 0.0 and cli_types.positive_float("1e-3") == 1e-3
    with pytest.raises(argparse.ArgumentTypeError, match="not -0.5"):
        cli_types.nonneg_float("-0.5")


def test_perturb_on_a_run_whose_config_is_a_list_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps([1, 2]))
    assert main(["perturb", str(run), "--set", "STAT1=0"]) == 2
    err = capsys.readouterr().err
    assert err == "error: Run run: config.json should be an object, not list.\n"


@pytest.mark.parametrize("shape, message", [
    ((60, 1), "60 cell(s) × 1 gene(s)"), ((1, 20), "1 cell(s) × 20 gene(s)"),
])
def test_too_small_matrices_say_so(tmp_path, shape, message):
    path = tmp_path / "small.h5ad"
    ad.AnnData(np.ones(shape, dtype=np.float32)).write_h5ad(path)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_path(path)


def test_h5ad_without_x_says_x_is_missing(tmp_path):
    path = tmp_path / "nox.h5ad"
    ad.AnnData(obs=pd.DataFrame(index=["a", "b", "c"]),
               var=pd.DataFrame(index=["g1", "g2"])).write_h5ad(path)
    with pytest.raises(DataError, match="X is missing"):
        read_path(path)


def test_a_scoring_failure_keeps_the_trained_run(tmp_path, monkeypatch):
    from core.training import workflows
    from core.training.trainer import TrainConfig

    def broken(*args, **kwargs):
        raise ValueError("n_components=0 must be between 1 and 1")

    monkeypatch.setattr(workflows, "score_latent", broken)
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.normal(size=(40, 6)).astype(np.float32))
    run = workflows.train_betavae(
        adata, dataset="toy", model={"hidden": [8], "n_latent": 2},
        train=TrainConfig(epochs=2, batch_size=16, device="cpu"), run_dir=tmp_path / "r")
    assert (run.path / "model.pt").is_file() and run.latent.shape == (40, 2)
    assert "scoring its latent failed (ValueError: n_components=0" in run.metrics["message"]
    assert run.metrics["n_epochs_run"] == 2
