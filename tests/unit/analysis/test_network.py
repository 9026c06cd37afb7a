"""Network tables: edges, summaries, prior overlap, centralities, GraphML, CLI export."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from core.analysis.network import (
    centralities,
    edge_recovery,
    edges_from_module,
    filter_edges,
    graphml_bytes,
    neighbourhood,
    prior_overlap,
    read_graphml,
    weight_summary,
)
from core.models.tfvae import TFVAE


def _edges() -> pd.DataFrame:
    rows = [("A", "B", 0.9, "tf2tf"), ("B", "C", -0.4, "tf2tf"), ("A", "g1", 0.5, "tf2gene"),
            ("A", "g2", -0.2, "tf2gene"), ("B", "g1", 0.1, "tf2gene"), ("C", "g3", 0.7, "tf2gene")]
    df = pd.DataFrame(rows, columns=["source", "target", "weight", "layer"])
    df["sign"] = np.sign(df["weight"]).astype(int)
    df["in_prior"] = [True, False, True, False, False, False]
    return df


def test_edges_from_module_reads_masks_and_skips_self_edges():
    m = TFVAE(4, ["A", "B"], [0, 1], ["A", "B", "g1", "g2"], hidden=[4])
    tt = torch.tensor([[0, 1], [0, 0]], dtype=torch.float32)  # B → A
    tg = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.float32)
    m.set_masks(tt, tg)
    prior = pd.DataFrame({"source": ["A"], "target": ["g1"]})
    e = edges_from_module(m, prior)
    assert set(zip(e["source"], e["target"], e["layer"])) == {
        ("B", "A", "tf2tf"), ("A", "g1", "tf2gene"), ("B", "g1", "tf2gene")}
    assert e.set_index(["source", "target"]).loc[("A", "g1"), "in_prior"]
    assert (e["sign"] == np.sign(e["weight"])).all()


def test_summary_overlap_and_filters():
    e = _edges()
    s = weight_summary(e)
    assert s.loc["tf2gene", "n_edges"] == 4 and s.loc["tf2gene", "q100"] == 0.7
    assert s.loc["tf2tf", "q0"] == -0.4 and s.loc["tf2tf", "negative"] == 1
    prior = pd.DataFrame({"source": ["A", "A", "C"], "target": ["B", "g1", "g2"]})
    o = prior_overlap(e, prior, tf_names=["A", "B", "C"], gene_names=["g1", "g2", "g3"])
    assert o.loc["tf2tf", "n_in_prior"] == 1 and o.loc["tf2tf", "chance"] == 1 / 6
    assert o.loc["tf2tf", "enrichment"] == 0.5 / (1 / 6)
    assert o.loc["tf2gene", "fraction"] == 0.25 and o.loc["tf2gene", "chance"] == 2 / 9
    top = filter_edges(e, layers=["tf2gene"], top_k_per_tf=1)
    assert set(zip(top["source"], top["target"])) == {("A", "g1"), ("B", "g1"), ("C", "g3")}
    assert len(filter_edges(e, min_abs_weight=0.45)) == 3
    targets, regulators = neighbourhood(e, "B")
    assert list(targets["target"]) == ["C", "g1"] and list(regulators["source"]) == ["A"]


def test_centralities():
    c = centralities(_edges(), ["A", "B", "C"]).set_index("tf")
    assert c.loc["A", "out_degree"] == 3 and c.loc["B", "in_degree"] == 1
    assert c.loc["B", "betweenness"] > 0 and c.loc["A", "betweenness"] == 0  # A→B→C passes B
    assert c["eigenvector"].max() == 1.0


def test_graphml_round_trip(tmp_path):
    e = _edges()
    back = read_graphml(graphml_bytes(e, ["A", "B", "C"]))
    key = ["source", "target"]
    a = e.sort_values(key).reset_index(drop=True)
    b = back.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[b.columns], b, check_dtype=False)


def test_edge_recovery_perfect_and_random():
    truth = pd.DataFrame({"source": ["A", "B"], "target": ["g1", "g2"]})
    perfect = pd.DataFrame({"source": ["A", "B"], "target": ["g1", "g2"], "weight": [1, -1]})
    r = edge_recovery(perfect, truth, sources=["A", "B"], targets=["g1", "g2", "g3"])
    assert r["auprc"] == 1.0 and r["density"] == 2 / 6 and r["auprc_over_density"] == 3.0


def test_cli_network_export(tmp_path, capsys):
    from core.cli import main
    from core.data.preprocess import preprocess
    from core.data.simulate import synthetic_grn
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    ad = preprocess(synthetic_grn(n_cells=120, n_tfs=6, n_genes=30, n_cell_types=2).adata)
    run = train_tfvae(ad, dataset="sim", train=TrainConfig(batch_size=32, device="cpu"),
                      run_dir=tmp_path / "run",
                      model={"hidden": [8], "epochs_encoder": 1, "epochs_decoder": 1,
                             "epochs_masked": 1, "epochs_masked_fine": 1, "epochs_vae": 1})
    out = tmp_path / "edges.csv"
    assert main(["network", str(run.path), "--out", str(out)]) == 0
    edges = pd.read_csv(out)
    assert list(edges.columns) == ["source", "target", "weight", "sign", "layer", "in_prior"]
    assert set(edges["layer"]) == {"tf2tf", "tf2gene"}
    info = json.loads(capsys.readouterr().out)
    assert info["edges"] == len(edges)
    assert main(["network", str(run.path), "--out", str(tmp_path / "n.graphml"),
                 "--layer", "tf2tf"]) == 0
    assert set(read_graphml(tmp_path / "n.graphml")["layer"]) == {"tf2tf"}
    assert main(["network", str(tmp_path)]) == 2  # not a run folder: clear error


def test_cli_train_tfvae_args():
    import argparse

    from core.cli.train_tfvae import add_arguments as add_tfvae_train_args
    from core.cli.train_tfvae import tfvae_settings

    p = argparse.ArgumentParser()
    add_tfvae_train_args(p)
    args = p.parse_args(["--mask-sparsity", "5", "--mask-source", "both", "--prior",
                         "trrust_human", "--epochs-masked-fine", "3"])
    s = tfvae_settings(args)
    assert s["mask_sparsity"] == 5 and s["mask_source"] == "both"
    assert s["prior"] == "trrust_human" and s["epochs_masked_fine"] == 3


def test_cli_train_model_tfvae(tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "run"
    code = main(["train", "--data", "synthetic_grn", "--model", "tfvae", "--hidden", "16",
                 "--max-tfs", "8", "--mask-source", "learned", "--mask-sparsity", "5",
                 "--epochs-encoder", "1",
                 "--epochs-decoder", "1", "--epochs-masked", "1", "--epochs-masked-fine", "1",
                 "--epochs-vae", "1", "--device", "cpu", "--out", str(out)])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_tfs"] == 8 and (out / "network.csv").is_file()
    assert info["tf2tf_edges"] == round(0.05 * 8 * 7)
    assert json.loads((out / "config.json").read_text())["module"]["likelihood"] == "gaussian"


def test_cli_train_tfvae_count_likelihood(tmp_path, capsys):
    from core.cli import main

    fast = ["--hidden", "16", "--max-tfs", "6", "--epochs-encoder", "1", "--epochs-decoder", "1",
            "--epochs-masked", "1", "--epochs-masked-fine", "1", "--epochs-vae", "1",
            "--device", "cpu"]
    out = tmp_path / "zinb"
    assert main(["train", "--data", "synthetic_grn", "--model", "tfvae", "--likelihood",
                 "zinb", *fast, "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["heldout_recon_loglik"] < 0 and "val_recon_mse" not in info
    assert json.loads((out / "config.json").read_text())["module"]["likelihood"] == "zinb"
    # A batch covariate is a β-VAE option only: a clear error, no run folder.
    assert main(["train", "--data", "synthetic_grn", "--model", "tfvae", "--batch-key",
                 "cell_type", *fast, "--out", str(tmp_path / "b")]) == 2
    assert "not available for the TF-VAE" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    # No raw counts (kang_pbmc is log-normalised): the message names the layer to use.
    assert main(["train", "--data", "kang_pbmc", "--model", "tfvae", "--likelihood", "nb",
                 *fast, "--out", str(tmp_path / "k")]) == 2
    assert "raw integer counts" in capsys.readouterr().err


def test_ranking_counts_degrees_before_the_top_k_cut():
    """Issue 21: after a top-k cut every TF has out-degree 2k; degrees come from the network
    before the cut, and out-strength breaks ties."""
    e = _edges()
    cut = filter_edges(e, top_k_per_tf=1)
    ranked = centralities(cut, ["A", "B", "C"], degree_edges=e).set_index("tf")
    assert ranked.loc["A", "out_degree"] == (e["source"] == "A").sum() == 3
    strength_a = e.loc[e["source"] == "A", "weight"].abs().sum()
    assert abs(ranked.loc["A", "out_strength"] - strength_a) < 1e-12
