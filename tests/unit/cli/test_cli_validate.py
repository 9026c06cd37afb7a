"""``python -m core validate-perturb`` on a small slice of the bundled screen, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main

FAST = {"hidden": [16], "epochs_encoder": 1, "epochs_decoder": 1, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1}
#: cells per target in the slice: STAT3 has too few to be scored
SLICE = {"non-targeting": 300, "STAT1": 60, "STAT2": 60, "STAT3": 15, "IRF1": 80}


@pytest.fixture(scope="module")
def slice_and_run(tmp_path_factory):
    from core.data.registry import load_bundled
    from core.recipes.perturb_validate import preprocess_cells
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    tmp = tmp_path_factory.mktemp("cli_validate")
    screen = load_bundled("papalexi_eccite")
    labels = screen.obs["target_assigned"].astype(str).to_numpy()
    rows = np.concatenate([np.flatnonzero(labels == t)[:n] for t, n in SLICE.items()])
    small = screen[np.sort(rows)].copy()
    del small.obsm["grna_counts"]
    small.write_h5ad(tmp / "slice.h5ad")
    lab = small.obs["target_assigned"].astype(str).to_numpy()
    cells = ~np.isin(lab, ["STAT1", "STAT2"])          # all but the scored targets' cells
    adata = preprocess_cells(small, cells, [str(g) for g in small.var_names])
    run = train_tfvae(adata, dataset="slice", model=FAST, run_dir=tmp / "run",
                      train=TrainConfig(device="cpu", batch_size=256))
    return tmp, run


def _args(tmp, *extra):
    return [ "validate-perturb", str(tmp / "run"), "--data", str(tmp / "slice.h5ad"),
            "--perturbation-key", "target_assigned", "--control", "non-targeting",
            "--out", str(tmp / "out"), *extra]


def test_cli_writes_metrics_and_per_gene(slice_and_run, capsys):
    tmp, run = slice_and_run
    assert main(_args(tmp, "--replicate-key", "bio_rep")) == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    assert set(metrics["per_target"]) == {"STAT1", "STAT2"}
    assert metrics["skipped"] == {"STAT3": "15 cells (fewer than 20)"}
    methods = set(metrics["per_target"]["STAT1"]["methods"])
    assert methods == {"tfvae", "no_change", "correlation", "ridge", "propagation",
                       "perturbation_mean"}
    assert metrics["per_target"]["STAT1"]["n_cells"] == 60
    assert metrics["median"]["no_change"]["pearson_top50"] == 0.0
    assert printed["median"]["ridge"] == metrics["median"]["ridge"]["pearson_top50"]
    genes = pd.read_csv(tmp / "out" / "per_gene.csv")
    assert len(genes) == 2 * 299 and {"observed", "tfvae", "ridge"} <= set(genes.columns)
    # the observed column is the measured fold change: STAT1's own mRNA drops in its knock-out
    own = genes[(genes.target == "STAT1") & (genes.gene == "STAT1")]["observed"].item()
    assert own < -1.0


@pytest.mark.parametrize("extra, message", [
    (["--targets", "IRF1"], "'IRF1' is not a TF unit of this model; targets that can be "
                            "scored: STAT1, STAT2, STAT3"),
    (["--targets", "NOPE"], "No cells have the perturbation 'NOPE'"),
])
def test_cli_target_errors(slice_and_run, capsys, extra, message):
    tmp, _ = slice_and_run
    assert main(_args(tmp, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_no_control_cells(slice_and_run, capsys):
    tmp, _ = slice_and_run
    args = _args(tmp)
    args[args.index("non-targeting")] = "scrambled"
    assert main(args) == 2
    assert "No cells have the control value 'scrambled'" in capsys.readouterr().err


def test_cli_run_trained_on_other_data(slice_and_run, capsys):
    import anndata

    tmp, _ = slice_and_run
    other = anndata.read_h5ad(tmp / "slice.h5ad")[:, :200].copy()
    other.write_h5ad(tmp / "other.h5ad")
    args = _args(tmp)
    args[args.index(str(tmp / "slice.h5ad"))] = str(tmp / "other.h5ad")
    assert main(args) == 2
    assert "was trained on other data" in capsys.readouterr().err


def test_ensemble_is_the_mean_of_its_members(slice_and_run):
    import anndata

    from core.recipes.perturb_validate import validate_run

    tmp, run = slice_and_run
    screen = anndata.read_h5ad(tmp / "slice.h5ad")
    kw = {"perturbation_key": "target_assigned", "control": "non-targeting"}
    one = validate_run(run, screen, **kw)
    two = validate_run(run, screen, ensemble=[run], **kw)
    assert np.allclose(one.per_gene["tfvae"], two.per_gene["tfvae"], atol=1e-6)
    assert not np.allclose(one.per_gene["tfvae"], 0)


def test_perturbation_mean_is_the_other_targets_measured_effect(slice_and_run):
    import anndata

    from core.analysis.perturb_validation import observed_effects
    from core.recipes.perturb_validate import screen_counts, validate_run

    tmp, run = slice_and_run
    screen = anndata.read_h5ad(tmp / "slice.h5ad")
    labels = screen.obs["target_assigned"].astype(str).to_numpy()
    genes = [str(g) for g in screen.var_names]
    res = validate_run(run, screen, perturbation_key="target_assigned", control="non-targeting")
    # STAT3 (15 cells) is too small, STAT1/STAT2 are scored: IRF1 is the only other target
    irf1 = observed_effects(screen_counts(screen), labels, genes, control="non-targeting",
                            targets=["IRF1"]).lfc.loc["IRF1"]
    for target in ("STAT1", "STAT2"):
        rows = res.per_gene[res.per_gene["target"] == target]
        assert np.allclose(rows["perturbation_mean"].to_numpy(), irf1.to_numpy())
    assert any("mean measured effect of 1 other target" in n for n in res.notes)
    ctrl = validate_run(run, screen, perturbation_key="target_assigned",
                        control="non-targeting", train_on="control")
    assert "perturbation_mean" not in set(ctrl.scores["method"])
