"""DeepSet phenotype recipe (issue 17): settings, feature errors, a tiny run that reloads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.phenotypes import read_phenotypes
from core.errors import ConfigError, DataError
from core.recipes.phenotype import (
    PHENOTYPE_TRAIN_DEFAULTS,
    PhenotypeSettings,
    load_module,
    predict,
    train_phenotype,
)
from core.runs import load_run

HAND = pd.DataFrame({
    "genes": ["A", "B", "C", "A+B", "B+A", "A+C", "B+C", "C+D"],
    "fitness": [-0.1, -0.2, 0.05, -0.5, -0.4, -0.05, -0.15, 0.3]})
NORMAN = Path(__file__).resolve().parents[3] / "assets/datasets/norman_gi.tsv.gz"
QUICK = replace(PHENOTYPE_TRAIN_DEFAULTS, epochs=3, device="cpu")


def norman_slice(n_genes: int = 14) -> pd.DataFrame:
    frame = pd.read_csv(NORMAN, sep="\t")
    keep = set(frame.loc[frame["n_genes"] == 1, "genes"].head(n_genes))
    return frame[[set(g.split("+")) <= keep for g in frame["genes"]]]


def test_settings_reject_unknown_keys_and_out_of_range_values():
    with pytest.raises(ConfigError, match="Unknown setting 'pooling'.*valid settings: features"):
        PhenotypeSettings.from_dict({"pooling": "sum"})
    with pytest.raises(ConfigError, match="pool must be one of sum, mean, attention"):
        PhenotypeSettings.from_dict({"pool": "max"})
    with pytest.raises(ConfigError, match="dropout must be in"):
        PhenotypeSettings.from_dict({"dropout": 1.0})
    with pytest.raises(ConfigError, match="hidden must be"):
        PhenotypeSettings.from_dict({"hidden": [32, 0]})
    assert PhenotypeSettings.from_dict({"hidden": [16]}).hidden == (16,)


def test_missing_features_are_named_before_any_training(tmp_path):
    path = tmp_path / "features.csv"
    pd.DataFrame({"gene": ["A", "B"], "f1": [1.0, 2.0]}).to_csv(path, index=False)
    table = read_phenotypes(HAND)
    with pytest.raises(DataError, match="2 of 4 genes have no features.*C, D"):
        train_phenotype(table, settings=PhenotypeSettings(features=str(path), split="random"),
                        train=QUICK, run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="learned embedding knows nothing"):
        train_phenotype(table, settings=PhenotypeSettings(split="genes"), train=QUICK,
                        run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_tiny_run_saves_scores_and_reloads(tmp_path, one_thread):
    table = read_phenotypes(norman_slice(14))
    run = train_phenotype(table, train=QUICK, run_dir=tmp_path / "run")
    config, metrics = run.config, run.metrics
    assert config["model"] == "deepset" and config["schema_version"] == 2
    assert config["train"]["grad_clip"] == 1.0 and config["settings"]["split"] == "pairs"
    assert config["data"]["fingerprint"] == table.fingerprint()
    assert set(metrics["scores"]) == {"model", "mean", "additive", "additive_linear", "ridge", "mf"}
    assert metrics["n_epochs_run"] == 3 and len(run.history) == 3
    sets = run.table("sets")
    assert (sets["split"] == "test").sum() == metrics["n_test"] > 0
    held = run.table("heldout")
    again = predict(load_run(run.path), held["genes"].tolist())
    assert again["predicted"].to_numpy() == pytest.approx(held["predicted"].to_numpy(), abs=1e-5)
    assert np.isfinite(again["interaction"]).all()
    module = load_module(run)
    singles = {g: v for g, v in zip(config["genes"], module.single_phenotype.tolist())
               if v == v}
    assert len(singles) == 14                       # every single trains on the pairs split
