"""``python -m core train --likelihood ... --batch-key ...``."""

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from count_simulation import simulate_nb

from core.cli import EXIT_USER_ERROR, main


@pytest.fixture
def counts_h5ad(tmp_path):
    counts, group, batch = simulate_nb(n_per_group=60, seed=2)
    obs = pd.DataFrame({"group": np.where(group == 0, "A", "B"),
                        "lane": np.where(batch == 0, "L1", "L2")},
                       index=[f"c{i}" for i in range(len(group))])
    path = tmp_path / "sim.h5ad"
    anndata.AnnData(X=sp.csr_matrix(counts), obs=obs).write_h5ad(path)
    return path


pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_zinb_with_batch_key(counts_h5ad, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(counts_h5ad), "--likelihood", "zinb", "--batch-key",
                 "lane", "--label-key", "group", "--epochs", "2", "--hidden", "16",
                 "--latent", "3", "--dropout", "0.2", "--input-dropout", "0.3",
                 "--out", str(out), "--device", "cpu"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= saved["batch_mixing_entropy"] <= np.log(2) + 1e-9
    assert printed["batch_mixing_entropy"] == saved["batch_mixing_entropy"]
    config = json.loads((out / "config.json").read_text())
    assert config["module"]["likelihood"] == "zinb" and config["module"]["n_batch"] == 2
    assert config["module"]["dropout"] == 0.2 and config["module"]["input_dropout"] == 0.3
    assert config["data"]["batch_key"] == "lane"


def test_nb_on_log_data_is_a_user_error(counts_h5ad, tmp_path, capsys):
    ad = anndata.read_h5ad(counts_h5ad)
    ad.X = sp.csr_matrix(np.log1p(ad.X.toarray()))
    path = tmp_path / "logged.h5ad"
    ad.write_h5ad(path)
    code = main(["train", "--data", str(path), "--likelihood", "nb", "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error:") and "layers['counts']" in err


def test_input_dropout_out_of_range_is_a_user_error(counts_h5ad, tmp_path, capsys):
    code = main(["train", "--data", str(counts_h5ad), "--input-dropout", "1.5", "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    assert code == EXIT_USER_ERROR
    assert "input_dropout must be in [0, 1)" in capsys.readouterr().err


def test_unknown_batch_key_is_a_user_error(counts_h5ad, tmp_path, capsys):
    code = main(["train", "--data", str(counts_h5ad), "--batch-key", "nope", "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    assert code == EXIT_USER_ERROR
    assert "Batch column 'nope'" in capsys.readouterr().err


def test_batch_mmd_is_recorded_and_logged(counts_h5ad, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(counts_h5ad), "--likelihood", "nb", "--batch-key",
                 "lane", "--batch-mmd", "50", "--epochs", "2", "--hidden", "16", "--latent", "3",
                 "--out", str(out), "--device", "cpu"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["mmd_weight"] == 50.0
    history = pd.read_csv(out / "history.csv")
    assert "train_mmd" in history.columns and (history["train_mmd"] >= 0).all()


def test_decoder_only_batch_is_recorded(counts_h5ad, tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--data", str(counts_h5ad), "--likelihood", "nb", "--batch-key",
                 "lane", "--decoder-only-batch", "--epochs", "2", "--hidden", "16", "--latent",
                 "3", "--out", str(out), "--device", "cpu"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["encode_batch"] is False
    assert config["module"]["encode_batch"] is False
