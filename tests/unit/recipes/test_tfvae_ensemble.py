"""K TF-VAEs with different seeds in one call; they are found again as one ensemble."""

from __future__ import annotations

import numpy as np

from core.analysis.perturb import perturber_for_run
from core.analysis.perturb_trust import ensemble_table
from core.data.preprocess import preprocess
from core.data.simulate import synthetic_grn
from core.recipes.tfvae_ensemble import default_ensemble_size, train_tfvae_ensemble
from core.runs import list_runs
from core.runs.ensemble import ensemble_members
from core.training.trainer import TrainConfig

FAST = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 2, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1, "max_tfs": None}


def test_ensemble_of_seeds(tmp_path):
    assert (default_ensemble_size("cuda:0"), default_ensemble_size("cpu")) == (5, 3)
    ad = preprocess(synthetic_grn(n_cells=150, n_tfs=6, n_genes=30, n_cell_types=2,
                                  seed=1).adata)
    runs = train_tfvae_ensemble(ad, n_models=2, dataset="sim", model=FAST, runs_root=tmp_path,
                                train=TrainConfig(batch_size=64, device="cpu", seed=7))
    assert [r.config["seed"] for r in runs] == [7, 8]
    members = ensemble_members(runs[0], list_runs(tmp_path, model="tfvae"))
    assert sorted(r.config["seed"] for r in members) == [7, 8]
    tf = runs[0].config["tfs"][0]
    deltas = []
    for r in members:
        p = perturber_for_run(r, ad)
        deltas.append(p.apply({tf: ("set", p.presets(tf)["knock-out"])}).mean_delta)
    table = ensemble_table(np.array(deltas), members[0].config["module"]["gene_names"])
    assert (table["high"] - table["low"]).max() > 0      # the seeds give different models
    assert ((table["low"] <= table["delta"]) & (table["delta"] <= table["high"])).all()
