"""The bundled datasets load by name with the shapes, labels and X kinds the registry lists."""

from __future__ import annotations

import pytest

from core.data.preprocess import summarize
from core.data.registry import DATASETS, DEFAULT_DATASET, get_info, list_datasets, load_bundled
from core.errors import DataError

EXPECTED = {
    "kang_pbmc": (1975, 6998, "log-normalized", "cell_type", 7),
    "zeisel_cortex": (3005, 200, "counts", "level1class", 7),
    "pbmc68k_reduced": (700, 765, "log-normalized", "bulk_labels", 10),
    "papalexi_eccite": (20729, 299, "counts", "target_assigned", 27),
    "symphony_pbmc": (1200, 1767, "log-normalized", "cell_type", 9),
    "synthetic_grn": (2000, 500, "counts", "cell_type", 5),
}


def test_registry_lists_the_bundled_datasets():
    assert DEFAULT_DATASET == "kang_pbmc"
    table = list_datasets()
    assert list(table["name"]) == list(EXPECTED)
    for name, (n_obs, n_vars, kind, label, _) in EXPECTED.items():
        row = table.set_index("name").loc[name]
        assert (row["cells"], row["genes"], row["x"], row["label_key"]) == (
            n_obs, n_vars, kind, label)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bundled_dataset_matches_its_entry(name):
    n_obs, n_vars, kind, label, n_labels = EXPECTED[name]
    adata = load_bundled(name)
    info = DATASETS[name]
    assert adata.shape == (info.n_obs, info.n_vars) == (n_obs, n_vars)
    assert adata.uns["dataset_name"] == name
    assert summarize(adata)["x_kind"] == info.x_kind == kind
    assert adata.obs[label].dtype == "category"
    assert adata.obs[label].nunique() == n_labels
    if info.condition_key:
        values = set(adata.obs[info.condition_key].unique())
        assert values == {info.control, info.stimulated}


def test_kang_conditions():
    obs = load_bundled("kang_pbmc").obs
    assert obs["condition"].value_counts().to_dict() == {"stimulated": 1039, "control": 936}


def test_unknown_name():
    with pytest.raises(DataError, match="No bundled dataset named 'pbmc3k'. Bundled datasets: "
                                        "kang_pbmc, zeisel_cortex, pbmc68k_reduced."):
        get_info("pbmc3k")
