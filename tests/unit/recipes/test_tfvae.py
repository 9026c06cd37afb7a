"""The TF-VAE module, masking and the recipe (small, fast settings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.data.preprocess import preprocess
from core.data.simulate import synthetic_grn
from core.errors import DataError
from core.models.tfvae import TFVAE
from core.recipes.tfvae import (
    phases_of,
    prior_masks,
    resolve_prior,
    select_tfs,
    top_fraction_mask,
    train_tfvae,
)
from core.runs import load_run, save_run
from core.training.trainer import TrainConfig, fit

FAST = {"hidden": [32], "epochs_encoder": 3, "epochs_decoder": 3, "epochs_masked": 2,
        "epochs_masked_fine": 1, "epochs_vae": 2, "max_tfs": None,
        "mask_source": "learned"}   # the learned-mask path (the default is the prior's)
CPU = TrainConfig(batch_size=64, device="cpu", val_fraction=0.2)


@pytest.fixture(scope="module")
def small():
    sim = synthetic_grn(n_cells=240, n_tfs=10, n_genes=60, n_cell_types=3, seed=0)
    return sim, preprocess(sim.adata)


def _module(n_genes=20, n_tfs=5, **kw):
    return TFVAE(n_genes, [f"T{i}" for i in range(n_tfs)], list(range(n_tfs)),
                 hidden=[16], **kw)


def test_forward_shapes_and_shared_tf_layer():
    m = _module()
    out = m(torch.randn(8, 20))
    assert out["x_hat"].shape == (8, 20)
    for k in ("z", "z1", "z2", "mu", "logvar"):
        assert out[k].shape == (8, 5)
    # One TF→TF weight matrix, applied twice: z2 == step(step(z)) in eval mode.
    assert sum(1 for n, _ in m.named_parameters() if n.startswith("tf2tf.")) == 2
    m.eval()
    z = torch.randn(4, 5)
    dec = m.decode(z)
    assert torch.allclose(dec["z2"], m.tf_step(m.tf_step(z)))
    # Its gradient collects contributions from both applications.
    m.train()
    m.zero_grad()
    m.decode(z)["z2"].sum().backward()
    assert m.tf2tf.weight.grad is not None


def test_masked_weights_stay_zero_after_training_and_saving(tmp_path):
    rng = np.random.default_rng(0)
    m = _module()
    tt = (rng.random((5, 5)) < 0.5).astype(np.float32)
    tg = (rng.random((20, 5)) < 0.3).astype(np.float32)
    m.set_masks(torch.as_tensor(tt), torch.as_tensor(tg))
    x = rng.normal(size=(64, 20)).astype(np.float32)
    fit(m, {"x": x}, config=TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cpu"),
        loss_kwargs={"stage": "vae"})
    off_tt = m.tf2tf.mask == 0
    off_tg = m.tf2gene.mask == 0
    assert off_tt.any() and off_tg.any()
    assert (m.tf2tf.weight[off_tt] == 0).all() and (m.tf2gene.weight[off_tg] == 0).all()
    assert torch.diagonal(m.tf2tf.mask).sum() == 0  # no self-regulation in the TF→TF layer
    assert (m.tf2gene.mask[torch.arange(5), torch.arange(5)] == 1).all()  # own-gene edges
    save_run(tmp_path, config={"model": "tfvae", "module": m.init_kwargs}, metrics={},
             history=pd.DataFrame(), module=m)
    loaded = load_run(tmp_path).load_module()
    assert torch.equal(loaded.tf2gene.mask, m.tf2gene.mask)
    assert (loaded.tf2gene.weight[off_tg] == 0).all()
    assert loaded.tf_names == m.tf_names


def test_top_fraction_mask_exact_count():
    w = np.random.default_rng(1).normal(size=(30, 7))
    w[0, :] = 5.0  # ties
    cand = np.ones_like(w, dtype=bool)
    cand[:7, :] = np.eye(7, dtype=bool) == 0
    for p in (1, 10, 33.3, 100):
        mask = top_fraction_mask(w, p, cand)
        assert mask.sum() == round(p / 100 * cand.sum())
        assert (mask[~cand] == 0).all()
    mask = top_fraction_mask(w, 10, cand)
    kept = np.abs(w)[mask > 0]
    assert kept.min() >= np.abs(w)[(mask == 0) & cand].max()


def test_select_tfs_and_too_few_message(small):
    _, ad = small
    tfs, label = select_tfs(ad, max_tfs=4)
    assert len(tfs) == 4 and set(tfs) <= set(ad.uns["tf_names"])
    var = ad.layers["log1p"][:, [list(ad.var_names).index(t) for t in tfs]]
    var = np.asarray(var.todense() if hasattr(var, "todense") else var).var(0)
    assert (np.diff(var) <= 1e-9).all()  # most variable first
    with pytest.raises(DataError, match=r"Only 2 of the 60 genes are in"):
        select_tfs(ad, ["TF01", "TF02", "NOT_A_GENE"])


def test_prior_loading_and_masks(small):
    sim, ad = small
    prior, label = resolve_prior(ad, None)
    assert label == "simulated ground truth" and len(prior) == len(sim.network)
    tfs = list(ad.uns["tf_names"])
    genes = list(ad.var_names)
    tt, tg = prior_masks(prior, tfs, genes)
    assert tt.sum() == len(sim.tf2tf) and tg.sum() == len(sim.network)
    dorothea, _ = resolve_prior(ad, "dorothea_human", confidence="A")
    assert {"source", "target", "sign"} <= set(dorothea.columns) and len(dorothea) > 100


def test_recipe_end_to_end_learned(small, tmp_path):
    from core.analysis.tf_decoder import tf_decoder
    from core.training.progress import Progress

    _, ad = small
    progress = Progress()
    run = train_tfvae(ad, dataset="sim", label_key="cell_type", model=FAST, train=CPU,
                      runs_root=tmp_path, progress=progress)
    assert set(run.history["phase"]) == {"encoder", "decoder_dense", "decoder_masked",
                                         "decoder_masked_fine", "vae"}
    assert progress.phases == phases_of("learned")
    edges = run.table("network")
    n_tf = 10
    assert (edges["layer"] == "tf2tf").sum() == round(0.1 * n_tf * (n_tf - 1))
    assert (edges["layer"] == "tf2gene").sum() == round(0.1 * (60 * n_tf - n_tf))
    assert run.latent.shape == (240, n_tf)
    assert np.isfinite(run.metrics["align_median_r"])
    dec = tf_decoder(run.load_module())
    assert dec.tf_names == run.config["tfs"] and dec.gene_names == list(ad.var_names)
    z = dec.encode(ad.X[:5])
    a, b = dec.decode_from_tf(z), dec.decode_from_tf(z)
    assert a["x_hat"].shape == (5, 60) and a["z2"].shape == (5, n_tf)
    assert np.array_equal(a["x_hat"], b["x_hat"])


def test_recipe_prior_and_both_masks(small, tmp_path):
    sim, ad = small
    prior_run = train_tfvae(ad, dataset="sim", model={**FAST, "mask_source": "prior"},
                            train=CPU, runs_root=tmp_path)
    assert "decoder_dense" not in set(prior_run.history["phase"])
    edges = prior_run.table("network")
    # TF genes are genes too: a prior TF→TF edge is also a TF→gene edge.
    assert edges["in_prior"].all()
    assert (edges["layer"] == "tf2tf").sum() == len(sim.tf2tf)
    assert (edges["layer"] == "tf2gene").sum() == len(sim.network)
    both = train_tfvae(ad, dataset="sim", model={**FAST, "mask_source": "both"}, train=CPU,
                       runs_root=tmp_path)
    assert len(both.table("network")) >= len(sim.network)


def test_recovers_simulated_network(tmp_path):
    """Weak version of the benchmark targets: learned edges of both layers beat random ranking,
    and TF→TF recovery comes from the consistency term (off, it falls to about chance)."""
    from core.analysis.network import edge_recovery

    sim = synthetic_grn(n_cells=800, n_tfs=20, n_genes=120, n_cell_types=4, seed=5)
    ad = preprocess(sim.adata)
    tt = {}
    for weight in (1.0, 0.0):
        run = train_tfvae(ad, dataset="sim", train=CPU, run_dir=tmp_path / str(weight),
                          model={**FAST, "hidden": [64], "epochs_encoder": 10,
                                 "epochs_decoder": 25, "epochs_masked": 10, "epochs_vae": 0,
                                 "mask_sparsity": 20, "tf_consistency": weight})
        tfs = run.config["tfs"]
        edges = run.table("network")
        tt[weight] = edge_recovery(edges[edges["layer"] == "tf2tf"], sim.tf2tf, sources=tfs,
                                   targets=tfs)["auprc_over_density"]
        if weight:
            targets = [g for g in ad.var_names if g not in tfs]
            rec = edge_recovery(edges[edges["layer"] == "tf2gene"], sim.tf2gene, sources=tfs,
                                targets=targets)
            assert rec["auprc_over_density"] > 1.5
    assert tt[1.0] > 2.0
    assert tt[1.0] > tt[0.0] + 0.8


def test_tf_consistency_learns_the_regulator():
    """B = A (+ noise), C independent: W t ≈ t links A and B and leaves C alone."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 1))
    t = np.hstack([a, a + 0.1 * rng.normal(size=(500, 1)), rng.normal(size=(500, 1))])
    torch.manual_seed(0)
    m = TFVAE(3, ["A", "B", "C"], [0, 1, 2], hidden=[8])
    opt = torch.optim.Adam(m.tf2tf.parameters(), lr=0.05)
    x = torch.as_tensor(t, dtype=torch.float32)
    for _ in range(300):
        opt.zero_grad()
        m.tf_consistency(x).backward()
        opt.step()
    w = (m.tf2tf.weight * m.tf2tf.mask).detach().numpy()  # row = target, column = source
    assert w[1, 0] > 0.8 and w[0, 1] > 0.8  # A and B predict each other
    assert np.abs(w[:, 2]).max() < 0.1  # C regulates nothing
    assert abs(w[2, 0] + w[2, 1]) < 0.1  # A ≈ B, so only their sum is identified for C
    assert np.allclose(np.diag(w), 0)


# ---- count likelihoods ---------------------------------------------------------------------------

@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_count_tfvae_decoder_is_a_softmax_and_loss_is_the_count_nll(likelihood):
    from core.models.likelihoods import log_nb, log_zinb

    torch.manual_seed(0)
    m = _module(likelihood=likelihood).eval()
    counts = torch.poisson(torch.full((6, 20), 3.0))
    library = counts.sum(1, keepdim=True)
    batch = {"x": torch.randn(6, 20), "counts": counts, "library": library}
    dec = m.decode(torch.randn(6, 5))
    assert torch.allclose(dec["x_hat"].sum(1), torch.ones(6), atol=1e-5)
    assert torch.allclose(dec["x_hat"], torch.softmax(dec["logits"], 1))
    # The reconstruction is the summed count log-likelihood with mean softmax × library.
    logits = torch.randn(6, 20)
    mu = torch.softmax(logits, 1) * library
    theta = m.log_theta.exp()
    ref = (log_nb(counts, mu, theta) if likelihood == "nb"
           else log_zinb(counts, mu, theta, m.zi_logit.expand_as(mu))).sum(1)
    assert torch.allclose(m.count_nll(batch, torch.softmax(logits, 1)), -ref, rtol=1e-5)
    # The encoder reads the counts (log1p inside), not the scaled x.
    assert m.encoder_input(batch) is counts
    for stage in ("encoder", "decoder", "vae"):
        out = m.train().loss(batch, stage=stage, beta=1.0, l1=10.0, consistency=1.0)
        assert torch.isfinite(out["loss"])
    assert "recon_nll" in m.loss(batch, stage="decoder")
    names = {id(p) for p in m.decoder_parameters()}
    assert id(m.log_theta) in names
    assert (likelihood == "zinb") == hasattr(m, "zi_logit")
    if likelihood == "zinb":
        assert id(m.zi_logit) in names


def test_gaussian_tfvae_is_unchanged_by_the_count_option():
    torch.manual_seed(0)
    a = _module()
    torch.manual_seed(0)
    b = _module(likelihood="gaussian")
    assert not a.is_count_model and not hasattr(a, "log_theta")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_recipe_with_nb_likelihood(small, tmp_path):
    from core.training.inputs import inputs_for_run

    _, ad = small
    run = train_tfvae(ad, dataset="sim", label_key="cell_type",
                      model={**FAST, "likelihood": "nb"}, train=CPU, run_dir=tmp_path / "nb")
    m = run.metrics
    assert run.config["settings"]["likelihood"] == "nb"
    assert np.isfinite(m["heldout_recon_loglik"]) and m["heldout_recon_loglik"] < 0
    assert m["heldout_elbo"] < m["heldout_recon_loglik"]       # ELBO = log-lik − KL
    assert "val_recon_mse" not in m
    module = run.load_module()
    assert module.likelihood == "nb" and module.is_count_model
    assert "train_recon_nll" in run.history
    # The latent was encoded from the counts, as a reload encodes them.
    x = inputs_for_run(ad, run).encoder_input
    from core.analysis.tf_decoder import tf_decoder
    np.testing.assert_allclose(tf_decoder(module).encode(x), run.latent, atol=1e-5)


def test_recipe_count_likelihood_needs_counts(small, tmp_path):
    _, ad = small
    no_counts = ad.copy()
    del no_counts.layers["counts"]
    with pytest.raises(DataError, match="raw integer counts"):
        train_tfvae(no_counts, dataset="sim", model={**FAST, "likelihood": "zinb"}, train=CPU,
                    run_dir=tmp_path / "none")


def test_annotated_anndata_of_a_tfvae_run(small, tmp_path):
    import anndata

    from core.tl.annotate import annotate_adata

    _, ad = small
    run = train_tfvae(ad, dataset="sim", label_key="cell_type", model=FAST, train=CPU,
                      run_dir=tmp_path / "run")
    out = annotate_adata(ad, run, key="tfvae")
    out.write_h5ad(tmp_path / "tf.h5ad")
    back = anndata.read_h5ad(tmp_path / "tf.h5ad")
    np.testing.assert_allclose(back.obsm["X_tfvae"], run.latent)
    assert list(back.uns["tfvae"]["tf_names"]) == run.config["tfs"]
    assert back.uns["tfvae"]["params"]["settings"]["mask_source"] == "learned"
    assert "tfvae_kmeans" in back.obs
