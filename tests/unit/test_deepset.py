"""DeepSet phenotype model (issue 17): invariance, baselines, leak-free splits, CLI round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.analysis import phenotype as ph
from core.cli import EXIT_USER_ERROR, main
from core.data.phenotypes import (
    read_feature_table,
    read_phenotypes,
    read_run_features,
)
from core.errors import ConfigError, DataError
from core.models.deepset import DeepSet
from core.recipes.phenotype import PhenotypeSettings, predict, train
from core.training.sets import pad_sets

# A hand-made table: singles A, B, C (D never alone), pairs with known interactions.
HAND = pd.DataFrame({
    "genes": ["A", "B", "C", "A+B", "B+A", "A+C", "B+C", "C+D"],
    "fitness": [-0.1, -0.2, 0.05, -0.5, -0.4, -0.05, -0.15, 0.3]})


@pytest.mark.parametrize("pool", ["sum", "mean", "attention"])
@pytest.mark.parametrize("head", [True, False])
def test_shuffled_set_gives_the_same_output(pool, head):
    torch.manual_seed(0)
    module = DeepSet(10, n_features=3, n_learned=4, hidden=[8, 8], pool=pool,
                     interaction_head=head, wild_type_difference=True).eval()
    module.features.normal_()
    module.single_phenotype[:3] = torch.tensor([0.1, -0.2, 0.3])
    genes, mask = pad_sets([(1, 4, 7), (7, 1, 4), (4, 7, 1), (2, 5), (5, 2)])
    with torch.no_grad():
        out = module(genes, mask)["prediction"]
    assert torch.allclose(out[0], out[1], atol=1e-6) and torch.allclose(out[0], out[2], atol=1e-6)
    assert torch.allclose(out[3], out[4], atol=1e-6)
    assert not torch.allclose(out[0], out[3])       # different sets differ: the test can fail


def test_interaction_head_returns_measured_singles_and_adds_them():
    torch.manual_seed(0)
    module = DeepSet(4, n_learned=4, hidden=[8]).eval()
    module.single_phenotype[:2] = torch.tensor([-0.1, -0.2])
    genes, mask = pad_sets([(0,), (1,), (0, 1)])
    with torch.no_grad():
        out = module(genes, mask)
    assert out["prediction"][:2].tolist() == pytest.approx([-0.1, -0.2])
    assert float(out["additive"][2]) == pytest.approx(-0.3)
    assert float(out["prediction"][2]) == pytest.approx(-0.3 + float(out["interaction"][2]))


def test_additive_and_mean_baselines_match_hand_values():
    table = read_phenotypes(HAND)
    assert table.sets[3] == table.sets[4] == ("A", "B")       # order within a set is irrelevant
    rows = np.arange(len(table))
    query = [("A", "B"), ("A", "C"), ("C", "D"), ("A",)]
    add = ph.additive_baseline(table.sets, table.values, rows, query)
    fill = np.mean([-0.1, -0.2, 0.05])                        # D has no single: the mean single
    assert add == pytest.approx([-0.3, -0.05, 0.05 + fill, -0.1])
    exact = ph.additive_expectation(query, table.singles())
    assert exact[:2] == pytest.approx([-0.3, -0.05]) and np.isnan(exact[2])
    mean = ph.mean_baseline(table.sets, table.values, rows, query)
    assert mean == pytest.approx([np.mean([-0.5, -0.4, -0.05, -0.15, 0.3])] * 3
                                 + [np.mean([-0.1, -0.2, 0.05])])


def test_scores_of_interaction_against_hand_values():
    measured = np.array([-0.5, -0.05, -0.2, -0.3])
    additive = np.array([-0.3, -0.05, -0.1, -0.2])
    s = ph.score_predictions(measured, measured.copy(), additive)
    assert s["pearson"] == pytest.approx(1.0) and s["interaction_pearson"] == pytest.approx(1.0)
    s = ph.score_predictions(measured, additive, additive)     # additive: no interaction at all
    assert np.isnan(s["interaction_pearson"])


def _norman_slice(n_genes: int = 14) -> pd.DataFrame:
    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "assets/datasets/norman_gi.tsv.gz",
                        sep="\t")
    keep = set(frame.loc[frame["n_genes"] == 1, "genes"].head(n_genes))
    return frame[[set(g.split("+")) <= keep for g in frame["genes"]]]


@pytest.mark.parametrize("seed", [0, 1])
def test_splits_never_leak(seed):
    table = read_phenotypes(_norman_slice(20))
    sets = table.sets
    pairs = ph.split_sets(sets, "pairs", seed=seed)
    train_sets = {sets[i] for i in pairs.train}
    test_sets = {sets[i] for i in pairs.test}
    val_sets = {sets[i] for i in pairs.val}
    assert not (train_sets & test_sets) and not (val_sets & test_sets)
    assert len(test_sets) > 10 and all(len(s) == 2 for s in test_sets)
    trained_singles = {s[0] for s in train_sets if len(s) == 1}
    assert all(set(s) <= trained_singles for s in test_sets)   # combinations of seen genes
    genes = ph.split_sets(sets, "genes", seed=seed)
    held = set(genes.held_out_genes)
    assert held and all(held.isdisjoint(sets[i]) for i in (*genes.train, *genes.val))
    assert all(held.intersection(sets[i]) for i in genes.test)
    rand = ph.split_sets(sets, "random", seed=seed)
    parts = [set(rand.train), set(rand.val), set(rand.test)]
    assert sum(map(len, parts)) == len(sets) and set().union(*parts) == set(range(len(sets)))


def test_feature_table_names_missing_genes(tmp_path):
    path = tmp_path / "features.csv"
    pd.DataFrame({"gene": ["A", "B"], "f1": [1.0, 2.0], "f2": [0.0, 1.0]}).to_csv(path,
                                                                                  index=False)
    feats = read_feature_table(path)
    assert feats.matrix[:, 0].tolist() == pytest.approx([-1.0, 1.0])   # standardised
    table = read_phenotypes(HAND)
    with pytest.raises(DataError, match="2 of 4 genes have no features.*C, D"):
        train(table, settings=PhenotypeSettings(features=str(path), split="random"),
              out_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="learned embedding knows nothing"):
        train(table, settings=PhenotypeSettings(split="genes"), out_dir=tmp_path / "run")


def test_run_folder_features_from_tfvae_weights(tmp_path):
    run = tmp_path / "tfvae_run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"model": "tfvae", "module": {"gene_names": ["A", "B", "C"]}}))
    torch.save({"tf2gene.weight": torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])},
               run / "model.pt")
    feats = read_run_features(run)
    assert feats.genes == ["A", "B", "C"] and feats.matrix.shape == (3, 2)
    assert np.argmax(feats.matrix[:, 1]) == 2


def test_cli_round_trip_on_a_small_slice(tmp_path, capsys):
    data = tmp_path / "slice.tsv"
    _norman_slice(14).to_csv(data, sep="\t", index=False)
    out = tmp_path / "run"
    assert main(["phenotype", "train", "--data", str(data), "--max-epochs", "3",
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert config["model"] == "deepset" and config["seed"] == 0
    assert config["settings"]["clip_grad_norm"] > 0 and config["settings"]["split"] == "pairs"
    assert set(metrics["scores"]) == {"model", "mean", "additive", "additive_linear", "mf"}
    assert printed["n_test"] == metrics["n_test"] > 0
    assert (out / "model.pt").is_file() and len(pd.read_csv(out / "history.csv")) == 3
    held = pd.read_csv(out / "heldout.csv")
    sets = tmp_path / "sets.csv"
    held[["genes"]].to_csv(sets, index=False)
    assert main(["phenotype", "predict", str(out), "--sets", str(sets),
                 "--out", str(tmp_path / "pred.csv")]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["genes", "predicted", "additive", "interaction"]
    assert pred["predicted"].to_numpy() == pytest.approx(held["predicted"].to_numpy(), abs=1e-5)
    assert pred["additive"].to_numpy() == pytest.approx(held["additive"].to_numpy(), abs=1e-6)
    direct = predict(out, [held["genes"][0]])
    assert direct["predicted"][0] == pytest.approx(held["predicted"][0], abs=1e-5)
    (tmp_path / "bad.csv").write_text("genes\nNOT_A_GENE+ALSO_NOT\n")
    code = main(["phenotype", "predict", str(out), "--sets", str(tmp_path / "bad.csv"),
                 "--out", str(tmp_path / "x.csv")])
    assert code == EXIT_USER_ERROR
    assert "ALSO_NOT, NOT_A_GENE" in capsys.readouterr().err
