"""In-silico TF perturbations (core.analysis.perturb) and the ``perturb`` CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis.perturb import Perturber, outgoing_edges
from core.analysis.tf_decoder import tf_decoder
from core.cli import main
from core.cli.perturb import parse_spec
from core.data.preprocess import preprocess
from core.data.simulate import synthetic_grn
from core.errors import ConfigError
from core.recipes.tfvae import train_tfvae
from core.runs import run_data
from core.training.inputs import model_input
from core.training.trainer import TrainConfig

FAST = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 2, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1, "max_tfs": None,
        # the plain decoder (tests/unit/recipes/test_tfvae_backbone.py covers the backbone)
        "backbone": "none"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("perturb")
    sim = synthetic_grn(n_cells=200, n_tfs=8, n_genes=50, n_cell_types=3, seed=1)
    raw = root / "sim.h5ad"
    sim.adata.write_h5ad(raw)
    adata = preprocess(sim.adata)
    run = train_tfvae(adata, dataset=str(raw), label_key="cell_type", model=FAST,
                      train=TrainConfig(batch_size=64, device="cpu"), run_dir=root / "run")
    return run, adata, raw


@pytest.fixture(scope="module")
def perturber(trained):
    run, adata, _ = trained
    return Perturber(tf_decoder(run.load_module()), model_input(adata))


def test_noop_is_exactly_zero(perturber):
    tf = perturber.tf_names[0]
    res = perturber.apply({tf: ("shift", 0.0)})
    assert np.all(res.mean_delta == 0) and np.all(res.per_cell() == 0)
    assert np.all(res.dz1 == 0) and np.all(res.dz2 == 0)
    res = perturber.apply({})
    assert np.all(res.mean_delta == 0)
    # Setting a cell's unit to its own μ is a no-op too.
    own = float(perturber.z[0, 0])
    assert np.all(perturber.apply({tf: ("set", own)}, cells=[0]).mean_delta == 0)


def test_mean_delta_matches_full_decode(perturber):
    tf = perturber.tf_names[2]
    spec = {tf: ("set", perturber.presets(tf)["over-express"]), perturber.tf_names[0]:
            ("shift", -1.0)}
    res = perturber.apply(spec)
    dec = perturber.decoder
    full = dec.decode_from_tf(perturber.perturbed_z(spec))["x_hat"] - perturber.baseline_x
    np.testing.assert_allclose(res.mean_delta, full.mean(0), atol=1e-4)
    np.testing.assert_allclose(res.per_cell(), full, atol=1e-4)
    np.testing.assert_allclose(res.baseline, perturber.baseline_x.mean(0), atol=1e-4)


def test_knockout_without_outgoing_edges_moves_only_its_own_gene(trained):
    run, adata, _ = trained
    module = run.load_module()
    k = 3
    tt = module.tf2tf.mask.clone()
    tg = module.tf2gene.mask.clone()
    tt[:, k] = 0
    tg[:, k] = 0
    module.set_masks(tt, tg)                      # TF k now has no outgoing edges
    out = outgoing_edges(module)
    assert out.loc[k, "out_tf2tf"] == 0 and out.loc[k, "out_tf2gene"] == 0
    p = Perturber(tf_decoder(module), model_input(adata))
    tf = p.tf_names[k]
    res = p.apply({tf: ("set", p.presets(tf)["knock-out"])})
    dz = res.dz0[:, k]
    # The cascade: only k's own unit moves, by exactly the applied Δ (identity path).
    others = np.delete(np.arange(len(p.tf_names)), k)
    assert np.all(res.dz1[:, others] == 0) and np.all(res.dz2[:, others] == 0)
    np.testing.assert_allclose(res.dz2[:, k], dz, atol=1e-6)
    # Genes: only the TF's own gene, by Δ × the self-edge weight.
    own = int(module.tf_gene_index[k])
    delta = res.mean_delta
    assert np.count_nonzero(delta) == 1 and delta[own] != 0
    w_self = float(module.tf2gene.weight[own, k].detach())
    np.testing.assert_allclose(delta[own], w_self * dz.mean(), rtol=1e-5)
    assert res.gene_table().iloc[0]["gene"] == p.gene_names[own]


def test_groups_presets_dose_and_determinism(trained, perturber):
    _, adata, _ = trained
    tf = perturber.tf_names[1]
    pre = perturber.presets(tf)
    lo, hi = perturber.tf_range(tf)
    assert pre["knock-out"] == pytest.approx(lo) and lo <= pre["over-express"] <= hi
    assert perturber.presets(tf, knockout="zero")["knock-out"] == 0.0
    s_lo, s_hi = perturber.slider_range(tf)
    assert s_lo < lo and s_hi > hi
    spec = {tf: ("set", pre["knock-out"])}
    res = perturber.apply(spec)
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    groups = res.by_group(labels)
    assert list(groups.index) == sorted(set(labels))
    # Each group's row equals perturbing only that group's cells.
    g = groups.index[0]
    only = perturber.apply(spec, cells=labels == g)
    np.testing.assert_allclose(groups.loc[g].to_numpy(), only.mean_delta, atol=1e-6)
    # Cell-weighted mean of the groups is the overall mean.
    counts = pd.Series(labels).value_counts().reindex(groups.index).to_numpy()
    np.testing.assert_allclose((groups.to_numpy() * counts[:, None]).sum(0) / counts.sum(),
                               res.mean_delta, atol=1e-5)
    again = Perturber(perturber.decoder, model_input(adata)).apply(spec)
    assert np.array_equal(again.mean_delta, res.mean_delta)
    casc = res.cascade()
    assert set(casc.columns) >= {"tf", "dz", "dz1", "dz2"} and casc["perturbed"].sum() == 1
    gene = perturber.gene_names[10]
    dose = perturber.dose_response(tf, gene, np.linspace(s_lo, s_hi, 5))
    assert len(dose) == 5 and np.isfinite(dose["expression"]).all()
    with pytest.raises(ConfigError):
        perturber.apply({"NOT_A_TF": ("set", 1.0)})


def test_parse_spec():
    assert parse_spec(["A=1.5", "B+=2", "C-=0.5", "D=-1"]) == {
        "A": ("set", 1.5), "B": ("shift", 2.0), "C": ("shift", -0.5), "D": ("set", -1.0)}
    with pytest.raises(ConfigError):
        parse_spec(["A:1"])


def test_cli_matches_library(trained, perturber, tmp_path, capsys):
    run, adata, raw = trained
    tf = perturber.tf_names[0]
    value = perturber.presets(tf)["knock-out"]
    out = tmp_path / "delta.csv"
    assert main(["perturb", str(run.path), "--set", f"{tf}={value!r}", "--out", str(out)]) == 0
    cli = pd.read_csv(out)
    lib = perturber.apply({tf: ("set", value)}).gene_table()
    merged = lib.merge(cli, on="gene", suffixes=("", "_cli"))
    assert len(merged) == len(lib) == len(cli)
    np.testing.assert_allclose(merged["delta_cli"], merged["delta"], atol=1e-6)
    assert "direct_target" in cli
    grouped = tmp_path / "groups.csv"
    assert main(["perturb", str(run.path), "--set", f"{tf}={value!r}", "--group-key",
                 "cell_type", "--out", str(grouped)]) == 0
    assert pd.read_csv(grouped)["group"].nunique() == adata.obs["cell_type"].nunique()
    assert main(["perturb", str(run.path), "--set", "NOPE=1", "--out", str(out)]) == 2
    assert "not a TF" in capsys.readouterr().err
    assert run_data(run).n_obs == adata.n_obs


# ---- count models: log2 fold changes of the normalised expression --------------------------------

@pytest.fixture(scope="module")
def count_trained(trained, tmp_path_factory):
    _, adata, raw = trained
    run = train_tfvae(adata, dataset=str(raw), label_key="cell_type",
                      model={**FAST, "likelihood": "nb"},
                      train=TrainConfig(batch_size=64, device="cpu"),
                      run_dir=tmp_path_factory.mktemp("perturb_nb") / "run")
    return run, adata, raw


def test_count_model_results_are_exact_log2_fold_changes(count_trained):
    from core.analysis.perturb import perturber_for_run

    run, adata, _ = count_trained
    p = perturber_for_run(run, adata)
    assert p.counts and p.units.startswith("log2")
    dec = p.decoder
    # Baseline: log2 of 10⁴ × the decoded softmax, cell by cell.
    scale = dec.decode_from_tf(p.z)["x_hat"]
    np.testing.assert_allclose(p.baseline_x, np.log2(1e4 * scale), atol=1e-4)
    tf, other = p.tf_names[2], p.tf_names[0]
    spec = {tf: ("set", p.presets(tf)["over-express"]), other: ("shift", -1.0)}
    cells = np.arange(0, adata.n_obs, 2)
    res = p.apply(spec, cells)
    full = (np.log2(1e4 * dec.decode_from_tf(p.perturbed_z(spec, cells))["x_hat"])
            - p.baseline_x[cells])
    assert np.abs(full).max() > 0.05                       # the perturbation does something
    np.testing.assert_allclose(res.per_cell(), full, atol=1e-4)
    np.testing.assert_allclose(res.mean_delta, full.mean(0), atol=1e-4)
    np.testing.assert_allclose(res.baseline, p.baseline_x[cells].mean(0), atol=1e-4)
    table = res.gene_table()
    np.testing.assert_allclose(table["perturbed"], table["baseline"] + table["delta"],
                               atol=1e-5)
    labels = adata.obs["cell_type"].astype(str).to_numpy()[cells]
    groups = res.by_group(labels)
    for g in groups.index:
        np.testing.assert_allclose(groups.loc[g].to_numpy(), full[labels == g].mean(0),
                                   atol=1e-4)
    # Dose–response values are the mean perturbed log2 expression at each dose.
    gene = p.gene_names[7]
    dose = p.dose_response(tf, gene, [-1.0, 1.0], cells=cells)
    for v, expr in zip((-1.0, 1.0), dose["expression"]):
        direct = np.log2(1e4 * dec.decode_from_tf(p.perturbed_z({tf: ("set", v)}, cells))[
            "x_hat"][:, 7]).mean()
        assert expr == pytest.approx(direct, abs=1e-4)
    noop = p.apply({})
    assert np.all(noop.mean_delta == 0) and np.all(noop.per_cell() == 0)


def test_count_model_cli_reads_the_counts(count_trained, tmp_path):
    from core.analysis.perturb import perturber_for_run

    run, adata, _ = count_trained
    p = perturber_for_run(run, adata)
    tf = p.tf_names[1]
    out = tmp_path / "nb_delta.csv"
    assert main(["perturb", str(run.path), "--set", f"{tf}=0", "--out", str(out)]) == 0
    cli = pd.read_csv(out)
    lib = p.apply({tf: ("set", 0.0)}).gene_table()
    merged = lib.merge(cli, on="gene", suffixes=("", "_cli"))
    np.testing.assert_allclose(merged["delta_cli"], merged["delta"], atol=1e-6)
