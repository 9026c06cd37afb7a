"""Issue 19, items 4 and 5: bad options give one-line errors, never a default or a traceback."""

from __future__ import annotations

import argparse
import json

import pytest

from core.cli import main
from core.cli import types as cli_types


@pytest.mark.parametrize("option, message", [
    (["--hidden", "abc"], "--hidden: must be comma-separated whole numbers"),
    (["--hidden", "512,0"], "--hidden: must be comma-separated whole numbers"),
    (["--epochs", "0"], "--epochs: must be a whole number of at least 1, not 0"),
    (["--lr", "0"], "--lr: must be a number above 0, not 0"),
    (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--batch-size", "0"], "--batch-size: must be a whole number of at least 1"),
    (["--n-top-genes", "-5"], "--n-top-genes: must be a whole number of at least 1, not -5"),
    (["--epochs", "ten"], "--epochs: 'ten' is not a whole number"),
    (["--latent", "x"], "--latent: 'x' is not a whole number"),
    (["--dropout", "inf"], "--dropout: 'inf' is not a finite number"),
    (["--seed", "-3"], "--seed: must be a whole number of at least 0"),
])
def test_unparsable_or_out_of_range_options_are_refused_before_reading(capsys, option, message):
    assert main(["train", "--data", "no_such_dataset", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("option, message", [
    (["--latent", "-1"], "n_latent must be in [1, 4096]; got -1."),
    (["--latent", "0"], "n_latent must be in [1, 4096]; got 0."),
    (["--dropout", "1.5"], "dropout must be in [0, 1); got 1.5."),
    (["--hvg-weight", "-2"], "hvg_weight must be in [0, inf); got -2.0."),
    (["--model", "tfvae", "--max-tfs", "0"], "max_tfs must be in [1, inf); got 0."),
    (["--model", "tfvae", "--mask-sparsity", "101"], "mask_sparsity must be in [0, 100]"),
    (["--model", "tfvae", "--epochs-vae", "-1"], "epochs_vae must be in [0, inf); got -1."),
])
def test_settings_ranges_are_checked_by_the_settings(tmp_path, capsys, option, message):
    code = main(["train", "--data", "synthetic_grn", "--epochs", "1", *option,
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_predict_and_network_options_are_checked(capsys):
    for argv in (["predict", "--data", "x", "--out", "o", "--epochs", "0"],
                 ["network", "run", "--top-k", "0"], ["network", "run", "--min-weight", "-1"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith("error: argument ")


def test_help_still_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "python -m core" in capsys.readouterr().out


def test_type_functions_return_values():
    assert cli_types.positive_int_list("1024, 512,256") == [1024, 512, 256]
    assert cli_types.number("-1.5") == -1.5 and cli_types.whole_number("-3") == -3
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
