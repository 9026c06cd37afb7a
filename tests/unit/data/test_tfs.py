"""TF lists and prior TF→target networks from assets/, with confidence filtering."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data.tfs import (
    DEFAULT_PRIOR,
    DEFAULT_TF_LIST,
    PRIORS,
    TF_LISTS,
    guess_species,
    load_prior,
    load_tf_list,
)
from core.errors import DataError


@pytest.mark.parametrize("name,n,first", [("human_lambert2018", 1639, "TFAP2A"),
                                          ("human_hgnc", 1839, "HOXA9"),
                                          ("human_hgnc_curated", 1390, "TEAD4"),
                                          ("mouse_mgi", 1721, "Hoxa9")])
def test_bundled_tf_lists(name, n, first):
    tfs = load_tf_list(name)
    assert len(tfs) == n == len(set(tfs))
    assert tfs[0] == first


def test_defaults_exist():
    assert set(DEFAULT_TF_LIST.values()) <= set(TF_LISTS)
    assert set(DEFAULT_PRIOR.values()) <= set(PRIORS)
    assert "STAT1" in load_tf_list(DEFAULT_TF_LIST["human"])
    assert "Stat1" in load_tf_list(DEFAULT_TF_LIST["mouse"])


def test_tf_list_from_file(tmp_path):
    path = tmp_path / "my_tfs.csv"
    path.write_text("# my list\nSTAT1,extra\n\nIRF7\nSTAT1\n  SPI1  \n")
    assert load_tf_list(path) == ["STAT1", "IRF7", "SPI1"]
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(DataError, match="The TF list 'empty.txt' is empty"):
        load_tf_list(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="No TF list 'nope'. Bundled lists: human_lambert2018"):
        load_tf_list("nope")


def test_dorothea_confidence_filter():
    a = load_prior("dorothea_human", confidence="A")
    abc = load_prior("dorothea_human")  # default A–C
    assert len(a) == 5_434 and a["source"].nunique() == 96
    assert len(abc) == 5_434 + 974 + 6_815
    assert set(a["confidence"]) == {"A"} and set(abc["confidence"]) == {"A", "B", "C"}
    assert set(map(tuple, a[["source", "target"]].to_numpy())) <= set(
        map(tuple, abc[["source", "target"]].to_numpy()))
    assert set(abc["sign"]) == {-1, 1}
    assert list(abc.columns) == ["source", "target", "sign", "confidence"]
    assert len(load_prior("dorothea_mouse", confidence="a")) == 5_569  # case-insensitive


def test_priors_without_levels_ignore_confidence():
    collectri = load_prior("collectri_human", confidence="A")
    assert len(collectri) == 43_178
    assert collectri["sign"].value_counts().to_dict() == {1: 37_326, -1: 5_852}
    assert set(collectri["confidence"]) == {"-"}


def test_trrust_merges_pairs_listed_per_mode():
    trrust = load_prior("trrust_human")
    assert not trrust.duplicated(["source", "target"]).any()
    assert len(trrust) == 8_427  # 9,396 rows; some pairs listed once per mode
    sign = trrust.set_index(["source", "target"])["sign"]
    assert sign["ABL1", "JUN"] == 0  # listed as Activation and as Repression
    assert sign["ABL1", "CSF1"] == 1  # Activation and Unknown
    assert sign["ABL1", "BCL2"] == -1
    assert len(load_prior("trrust_mouse")) == 6_490


def test_user_prior(tmp_path):
    path = tmp_path / "prior.tsv"
    pd.DataFrame({"Source": ["STAT1", "STAT1", "IRF7"], "Target": ["IRF7", "IRF7", "ISG15"],
                  "Sign": [1, 1, -1]}).to_csv(path, sep="\t", index=False)
    prior = load_prior(path)
    assert prior.to_dict("list") == {"source": ["STAT1", "IRF7"], "target": ["IRF7", "ISG15"],
                                     "sign": [1, -1], "confidence": ["-", "-"]}
    bad = tmp_path / "bad.csv"
    bad.write_text("tf,gene\nSTAT1,IRF7\n")
    with pytest.raises(DataError, match="needs columns 'source' and 'target'.*it has tf, gene"):
        load_prior(bad)
    with pytest.raises(DataError, match="No prior network"):
        load_prior(tmp_path / "missing.csv")


def test_guess_species():
    assert guess_species(["Cd4", "Actb", "Gapdh", "Xist"]) == "mouse"
    assert guess_species(["CD4", "ACTB", "GAPDH", "MT-CO1"]) == "human"
    assert guess_species([]) == "human"
    from core.data.io import read

    assert guess_species(read("zeisel_cortex").adata.var_names) == "mouse"
    assert guess_species(read("kang_pbmc").adata.var_names) == "human"
