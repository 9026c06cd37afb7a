"""The TF-VAE's fixed linear backbone (``backbone="prior"``): decode, interventions, recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis import perturb_baselines as bl
from core.analysis.perturb import Perturber
from core.analysis.tf_decoder import tf_decoder
from core.data.preprocess import preprocess
from core.data.simulate import synthetic_grn
from core.errors import ConfigError
from core.models.tfvae import TFVAE
from core.recipes.tfvae import TFVAESettings, resolve_prior, train_tfvae
from core.training.inputs import model_input
from core.training.trainer import TrainConfig

FAST = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 2, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1, "max_tfs": None}


def _module(backbone: bool = True) -> TFVAE:
    torch.manual_seed(0)
    return TFVAE(6, ["A", "B", "C"], [0, 1, 2], hidden=[4], backbone=backbone,
                 batch_norm=False, tf_dropout=0.0)


def test_backbone_adds_to_the_decoder_and_only_when_asked():
    plain = _module(backbone=False)
    assert "backbone_weight" not in plain.state_dict()
    assert "backbone" not in plain.init_kwargs
    with pytest.raises(ConfigError):
        plain.set_backbone(torch.zeros(6, 3), torch.eye(3))
    m = _module().eval()
    w = torch.arange(18, dtype=torch.float32).reshape(6, 3) / 10
    m.set_backbone(w, torch.full((3, 3), 0.5))
    assert torch.equal(torch.diag(m.tf_cascade), torch.ones(3))   # diagonal forced to 1
    z = torch.tensor([[1.0, -2.0, 0.5]])
    out = m.decode(z)
    expected = m.tf2gene(out["z2"]) + out["z2"] @ w.T
    torch.testing.assert_close(out["x_hat"], expected)
    torch.testing.assert_close(m.tf2gene_weight(), m.tf2gene.weight * m.tf2gene.mask + w)


def test_intervention_moves_downstream_tfs_by_the_cascade():
    m = _module().eval()
    cascade = torch.eye(3)
    cascade[1, 0] = 0.5      # A → B: B moves half as much as A
    cascade[2, 0] = -0.25    # A ⊣ C
    m.set_backbone(torch.zeros(6, 3), cascade)
    x = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    p = Perturber(tf_decoder(m), x)
    dz = p.perturbed_z({"A": ("shift", -2.0)}) - p.z
    np.testing.assert_allclose(dz, np.tile([-2.0, -1.0, 0.5], (20, 1)), atol=1e-6)
    ko = p.perturbed_z({"A": ("set", 0.0), "B": ("set", 3.0)})   # both held at their values
    np.testing.assert_allclose(ko[:, :2], np.tile([0.0, 3.0], (20, 1)), atol=1e-6)
    np.testing.assert_allclose(ko[:, 2] - p.z[:, 2], 0.25 * p.z[:, 0], atol=1e-5)
    res = p.apply({"A": ("shift", -2.0)})
    full = p.decoder.decode_from_tf(p.perturbed_z({"A": ("shift", -2.0)}))["x_hat"]
    np.testing.assert_allclose(res.mean_delta, (full - p.baseline_x).mean(0), atol=1e-5)
    assert np.all(p.apply({"A": ("shift", 0.0)}).mean_delta == 0)


def test_recipe_installs_the_prior_regression_and_reloads_it(tmp_path):
    sim = synthetic_grn(n_cells=150, n_tfs=6, n_genes=40, n_cell_types=3, seed=2)
    adata = preprocess(sim.adata)
    run = train_tfvae(adata, dataset="sim", model={**FAST, "backbone": "prior"},
                      train=TrainConfig(batch_size=64, device="cpu"), run_dir=tmp_path / "r")
    module = run.load_module()
    tfs = list(module.tf_names)
    prior, _ = resolve_prior(adata, None)
    expected = bl.regulator_weights(model_input(adata), list(adata.var_names), tfs, prior)
    np.testing.assert_allclose(module.backbone_weight.numpy(), expected, atol=1e-5)
    assert np.abs(expected).sum() > 0
    cols = [list(adata.var_names).index(t) for t in tfs]
    np.testing.assert_allclose(module.tf_cascade.numpy(),
                               bl.propagation_effects(expected, cols)[cols], atol=1e-5)
    with pytest.raises(ConfigError, match="Gaussian"):
        train_tfvae(adata, dataset="sim", model={**FAST, "backbone": "prior",
                                                 "likelihood": "nb"},
                    train=TrainConfig(batch_size=64, device="cpu"), runs_root=tmp_path)


def test_auto_backbone_is_the_prior_for_gaussian_models_only():
    assert TFVAESettings().uses_backbone
    assert not TFVAESettings(likelihood="nb").uses_backbone
    assert not TFVAESettings(backbone="none").uses_backbone
    with pytest.raises(ConfigError):
        TFVAESettings.from_dict({"backbone": "ridge"})
