"""The saved DeepSet run (tests/fixtures/runs/deepset, schema 2) reloads and predicts its
saved held-out sets (written by tests/fixtures/make_deepset_run.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.models.deepset import DeepSet
from core.recipes.phenotype import PhenotypeSettings, load_module, predict
from core.runs import load_run

RUN = Path(__file__).resolve().parents[2] / "fixtures" / "runs" / "deepset"


def test_saved_deepset_run_reloads_and_predicts_its_heldout_sets():
    run = load_run(RUN)
    assert run.model == "deepset" and run.schema_version == 2
    assert PhenotypeSettings.from_dict(run.config["settings"]).hidden == (8, 8)
    assert isinstance(load_module(run), DeepSet)
    held = run.table("heldout")
    again = predict(run, held["genes"].tolist())
    np.testing.assert_allclose(again["predicted"], held["predicted"], atol=1e-5)
    np.testing.assert_allclose(again["additive"], held["additive"], atol=1e-6)
