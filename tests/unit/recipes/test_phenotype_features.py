"""Gene features from a trained run (issue 17, source c): TF-VAE TF→gene weights, β-VAE
loadings, and a genes-split DeepSet trained on them."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.data.phenotypes import read_phenotypes
from core.errors import ConfigError, DataError
from core.recipes.phenotype import PHENOTYPE_TRAIN_DEFAULTS, PhenotypeSettings, train_phenotype
from core.recipes.phenotype_features import gene_features, run_gene_features
from core.runs import load_run

RUNS = Path(__file__).resolve().parents[2] / "fixtures" / "runs"


def test_tfvae_run_gives_masked_tf_to_gene_weights():
    run = load_run(RUNS / "tfvae_gaussian")
    feats = run_gene_features(RUNS / "tfvae_gaussian")
    genes = run.config["module"]["gene_names"]
    assert feats.genes == genes and feats.source == "run:tfvae_gaussian:tf2gene.weight"
    state = torch.load(RUNS / "tfvae_gaussian" / "model.pt", weights_only=True)
    masked = (state["tf2gene.weight"] * state["tf2gene.mask"]).numpy()
    kept = masked[:, np.abs(masked).sum(0) > 0]
    assert feats.matrix.shape == (len(genes), kept.shape[1])
    for j in range(kept.shape[1]):          # standardised columns of the masked weights
        assert np.corrcoef(feats.matrix[:, j], kept[:, j])[0, 1] == pytest.approx(1.0, abs=1e-5)


def test_betavae_run_without_readable_data_says_what_to_do():
    with pytest.raises(DataError, match="does not record its gene names.*feature table"):
        run_gene_features(RUNS / "betavae_gaussian")
    with pytest.raises(ConfigError, match="not 'learned', a feature table file or a run"):
        gene_features(RUNS / "no_such_run")
    assert gene_features("learned") is None


def test_genes_split_trains_on_tfvae_features(tmp_path, one_thread):
    genes = load_run(RUNS / "tfvae_gaussian").config["module"]["gene_names"]
    rng = np.random.default_rng(0)
    singles = {g: rng.normal() for g in genes}
    rows = [(g, v) for g, v in singles.items()]
    rows += [(f"{a}+{b}", singles[a] + singles[b] + 0.1 * rng.normal())
             for a, b in itertools.combinations(genes, 2)]
    table = read_phenotypes(pd.DataFrame(rows, columns=["genes", "fitness"]))
    run = train_phenotype(table, settings=PhenotypeSettings(
        features=str(RUNS / "tfvae_gaussian"), split="genes", test_fraction=0.2),
        train=replace(PHENOTYPE_TRAIN_DEFAULTS, epochs=3, device="cpu"),
        run_dir=tmp_path / "run")
    held = set(run.metrics["held_out_genes"])
    assert held and run.config["features_source"] == "run:tfvae_gaussian:tf2gene.weight"
    trained = run.table("sets").query("split == 'train'")["genes"]
    assert all(held.isdisjoint(s.split("+")) for s in trained)
    assert run.metrics["genes_without_features"] == []
