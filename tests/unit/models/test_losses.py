"""Loss terms: the KL against its closed form, and the batch MMD on cases with a known answer."""

from __future__ import annotations

import math

import torch

from core.models.losses import MMD_BANDWIDTHS, batch_mmd, kl_normal
from core.models.vae import BetaVAE


def test_kl_normal_closed_form():
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 0.5·(μ²) for dim 1; 0.5·(σ² − 1 − log σ²) = 0.5·(3 − log 4) for dim 2.
    expected = 0.5 + 0.5 * (3 - math.log(4.0))
    assert kl_normal(mu, logvar).item() == torch.tensor(expected).item()


def test_batch_mmd_two_points_by_hand():
    # One code per batch is too few (< 2 cells): no term, zero.
    z = torch.tensor([[0.0], [1.0]])
    assert batch_mmd(z, torch.tensor([0, 1])).item() == 0.0
    # Two codes per batch at distance d apart between batches, 0 within: MMD² = 2 − 2·k(d).
    z = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    k1 = sum(math.exp(-1.0 / (2 * s)) for s in MMD_BANDWIDTHS) / len(MMD_BANDWIDTHS)
    got = batch_mmd(z, torch.tensor([0, 0, 1, 1])).item()
    assert abs(got - (2 - 2 * k1)) < 1e-6


def test_batch_mmd_grows_with_a_batch_shift():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(400, 4, generator=gen)
    batch = torch.arange(400) % 2
    same = batch_mmd(z, batch).item()
    shifted = z + batch[:, None] * 2.0
    assert same < 0.02 and batch_mmd(shifted, batch).item() > 10 * same


def test_vae_loss_adds_the_mmd_term_only_when_asked():
    torch.manual_seed(0)
    model = BetaVAE(n_input=6, n_latent=2, hidden=[8], n_batch=2).eval()
    data = {"x": torch.randn(16, 6), "batch": torch.arange(16) % 2}
    plain = model.loss(data, beta=1.0)
    with_mmd = model.loss(data, beta=1.0, mmd_weight=10.0)
    assert "mmd" not in plain.terms and with_mmd.terms["mmd"].item() >= 0
    expected = plain.loss + 10.0 * with_mmd.terms["mmd"]
    assert torch.isclose(with_mmd.loss, expected)
