"""The example runs shipped in assets/example_runs (issue 21, item 2): small, listed for
every runs directory, valid, matching the default dataset, read-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from core.runs import (
    delete_run,
    example_runs_root,
    is_example_run,
    list_runs,
    run_data,
    run_matches,
)
from core.training.inputs import inputs_for_run
from core.training.trainer import encode_mean


@pytest.fixture(scope="module")
def examples():
    return {r.model: r for r in list_runs(example_runs_root())}


def test_small_and_listed_beside_any_runs_directory(examples, tmp_path):
    total = sum(p.stat().st_size for p in example_runs_root().rglob("*") if p.is_file())
    assert total < 3.2 * 1024 ** 2
    assert set(examples) == {"tfvae", "betavae"}
    assert list_runs(tmp_path / "none") == []
    listed = list_runs(tmp_path / "none", examples=True, model="tfvae")
    assert [r.id for r in listed] == ["example-tfvae-kang_pbmc"]
    assert all(r.read_only and is_example_run(r.path) for r in listed)


def test_trained_on_the_default_dataset_and_reencode(examples):
    run = examples["betavae"]
    adata = run_data(run)                  # kang_pbmc, default preprocessing, fingerprint checked
    assert run_matches(examples["tfvae"], adata)
    inputs = inputs_for_run(adata, run)
    latent = encode_mean(run.load_module(), inputs.encoder_input, device="cpu",
                         **inputs.encode_extra)
    # float16 weights on disk: the reloaded model gives the saved latent back closely
    np.testing.assert_allclose(latent, run.latent, atol=2e-2)
    assert {"umap_tf"} <= set(examples["tfvae"].arrays)


def test_read_only(examples):
    run = examples["tfvae"]
    before = sorted(p.name for p in Path(run.path).iterdir())
    run.save_array("umap_test", np.zeros((3, 2)))
    assert run.arrays["umap_test"].shape == (3, 2)
    assert sorted(p.name for p in Path(run.path).iterdir()) == before
    with pytest.raises(DataError, match="example run shipped with the app"):
        delete_run(run.path)
