"""Phenotype analysis (issue 17): baselines against hand values, scores, leak-free splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.analysis import phenotype as ph
from core.data.phenotypes import read_phenotypes

# A hand-made table: singles A, B, C (D never alone), pairs with known interactions.
HAND = pd.DataFrame({
    "genes": ["A", "B", "C", "A+B", "B+A", "A+C", "B+C", "C+D"],
    "fitness": [-0.1, -0.2, 0.05, -0.5, -0.4, -0.05, -0.15, 0.3]})
NORMAN = Path(__file__).resolve().parents[3] / "assets/datasets/norman_gi.tsv.gz"


def norman_slice(n_genes: int = 14) -> pd.DataFrame:
    """The Norman 2019 rows among its first ``n_genes`` singles."""
    frame = pd.read_csv(NORMAN, sep="\t")
    keep = set(frame.loc[frame["n_genes"] == 1, "genes"].head(n_genes))
    return frame[[set(g.split("+")) <= keep for g in frame["genes"]]]


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


@pytest.mark.parametrize("seed", [0, 1])
def test_splits_never_leak(seed):
    table = read_phenotypes(norman_slice(20))
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


def test_ridge_recovers_additive_and_feature_interactions():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(12)]
    single = dict(zip(genes, rng.normal(size=12)))
    pairs = [(a, b) for i, a in enumerate(genes) for b in genes[i + 1:]]
    sets = [(g,) for g in genes] + pairs
    additive = np.array([sum(single[g] for g in s) for s in sets])
    train = np.arange(len(sets) - 10)
    query = sets[-10:]
    plain = ph.ridge_baseline(sets, additive, train, query, genes=genes)
    assert plain == pytest.approx(additive[-10:], abs=0.05)
    f = rng.normal(size=(12, 2))                      # interaction through feature 0 only
    inter = np.array([f[genes.index(s[0]), 0] * f[genes.index(s[1]), 0] if len(s) == 2 else 0
                      for s in sets])
    values = np.array([sum(f[genes.index(g), 1] for g in s) for s in sets])
    values = values + inter
    fitted = ph.ridge_baseline(sets, values, train, query, genes=genes, features=f)
    assert np.corrcoef(fitted, values[-10:])[0, 1] > 0.99
    blind = ph.ridge_baseline(sets, values, train, query, genes=genes)
    error = np.abs(fitted - values[-10:]).mean()
    assert np.abs(blind - values[-10:]).mean() > 3 * error      # indicators miss the interaction


def test_interaction_ranking_marks_measured_and_new_pairs():
    pairs = pd.DataFrame({"genes": ["A+B", "A+C", "B+C"], "predicted": [-0.5, 0.1, -0.2],
                          "additive": [-0.3, -0.05, np.nan],
                          "interaction": [-0.2, 0.15, np.nan]})
    sets = pd.DataFrame({"genes": ["A", "A+B", "A+B"], "fitness": [-0.1, -0.6, -0.4],
                         "split": ["train", "test", "test"]})
    ranked = ph.rank_interactions(pairs, sets, "fitness")
    assert ranked["genes"].tolist() == ["A+C", "A+B"]          # no interaction: not ranked
    assert ranked["rank"].tolist() == [1, 2]
    assert ranked["effect"].tolist() == ["synergy", "buffering"]
    assert ranked["in_data"].tolist() == ["new", "test"]
    assert ranked["measured_interaction"].iloc[1] == pytest.approx(-0.5 + 0.3)
    assert np.isnan(ranked["measured"].iloc[0])
