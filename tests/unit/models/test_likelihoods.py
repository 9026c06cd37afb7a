"""NB / ZINB log-likelihoods against scipy.stats."""

import numpy as np
import pytest
import torch
from scipy import stats

from core.models.likelihoods import log_nb, log_nb_sum, log_zinb, log_zinb_sum


def _random_params(seed: int = 0, n: int = 500):
    rng = np.random.default_rng(seed)
    mu = rng.gamma(0.5, 20.0, n) + 1e-3
    theta = rng.gamma(1.0, 3.0, n) + 1e-2
    x = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    x[:20] = 0.0
    x[20:25] = [1e3, 5e3, 2.0, 1.0, 7.0]
    return x, mu, theta


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


def test_log_nb_matches_scipy():
    x, mu, theta = _random_params()
    ours = log_nb(_t(x), _t(mu), _t(theta), eps=0.0).numpy()
    ref = stats.nbinom.logpmf(x, theta, theta / (theta + mu))
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("logit", [-4.0, 0.0, 2.5])
def test_log_zinb_matches_scipy(logit):
    x, mu, theta = _random_params(seed=1)
    logits = np.full_like(mu, logit) + np.random.default_rng(2).normal(0, 1, len(mu))
    pi = 1 / (1 + np.exp(-logits))
    log_nb_ref = stats.nbinom.logpmf(x, theta, theta / (theta + mu))
    ref = np.where(x == 0, np.log(pi + (1 - pi) * np.exp(log_nb_ref)),
                   np.log1p(-pi) + log_nb_ref)
    ours = log_zinb(_t(x), _t(mu), _t(theta), _t(logits), eps=0.0).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_extreme_values_stay_finite():
    x = torch.tensor([0.0, 1.0, 1e5, 0.0])
    mu = torch.tensor([1e-12, 1e6, 1e-3, 1e4])
    theta = torch.tensor([1e-6, 1e4, 1e-4, 1e5])
    logits = torch.tensor([-50.0, 50.0, 0.0, 30.0])
    assert torch.isfinite(log_nb(x, mu, theta)).all()
    assert torch.isfinite(log_zinb(x, mu, theta, logits)).all()


def test_zinb_with_no_dropout_is_nb():
    x, mu, theta = _random_params(seed=3)
    nb = log_nb(_t(x), _t(mu), _t(theta))
    zinb = log_zinb(_t(x), _t(mu), _t(theta), _t(np.full_like(mu, -40.0)))
    np.testing.assert_allclose(zinb.numpy(), nb.numpy(), atol=1e-8)


@pytest.mark.parametrize("theta_shape", ["gene", "row", "cell"])
def test_log_nb_sum_matches_scipy_and_the_per_entry_gradients(theta_shape):
    """The training path (count terms at the non-zeros only) sums scipy's log-pmf per cell with
    gene weights, and has the same gradients as Σ w · log_nb, for every θ layout."""
    rng = np.random.default_rng(4)
    n_cells, n_genes = 6, 40
    mu = rng.gamma(0.5, 20.0, (n_cells, n_genes)) + 1e-3
    theta = rng.gamma(1.0, 3.0, (n_cells if theta_shape == "cell" else 1, n_genes)) + 1e-2
    x = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    x[:, :10] = 0.0  # whole zero columns, besides the zeros the NB draws
    w = rng.uniform(0.5, 3.0, n_genes)
    ref = (stats.nbinom.logpmf(x, theta, theta / (theta + mu)) * w).sum(-1)
    th = theta[0] if theta_shape == "gene" else theta
    log_mu = _t(np.log(mu)).requires_grad_()
    log_th = _t(np.log(th)).requires_grad_()

    def value_and_grads(fast: bool):
        m, t = log_mu.exp(), log_th.exp()
        v = (log_nb_sum(_t(x), m, t, _t(w), eps=0.0) if fast
             else (log_nb(_t(x), m, t, eps=0.0) * _t(w)).sum(-1))
        return v.detach().numpy(), torch.autograd.grad(v.sum(), [log_mu, log_th])

    fast, fast_grads = value_and_grads(True)
    np.testing.assert_allclose(fast, ref, rtol=1e-8)
    slow, slow_grads = value_and_grads(False)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-8, atol=1e-10)
    # The dense branch (the default on GPUs) gives the same values.
    dense = log_nb_sum(_t(x), _t(mu), _t(th), _t(w), eps=0.0, sparse=False).numpy()
    np.testing.assert_allclose(dense, ref, rtol=1e-8)
    unweighted = log_nb_sum(_t(x), _t(mu), _t(th), eps=0.0).numpy()
    np.testing.assert_allclose(unweighted, stats.nbinom.logpmf(
        x, theta, theta / (theta + mu)).sum(-1), rtol=1e-8)


@pytest.mark.parametrize("sparse", [True, False])
def test_log_zinb_sum_matches_scipy_and_the_per_entry_gradients(sparse):
    rng = np.random.default_rng(5)
    n_cells, n_genes = 5, 30
    mu = rng.gamma(0.5, 20.0, (n_cells, n_genes)) + 1e-3
    theta = rng.gamma(1.0, 3.0, (1, n_genes)) + 1e-2
    logits = rng.normal(-1.0, 2.0, (n_cells, n_genes))
    x = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    x[:, :8] = 0.0
    w = rng.uniform(0.5, 3.0, n_genes)
    pi = 1 / (1 + np.exp(-logits))
    log_nb_ref = stats.nbinom.logpmf(x, theta, theta / (theta + mu))
    ref = (np.where(x == 0, np.log(pi + (1 - pi) * np.exp(log_nb_ref)),
                    np.log1p(-pi) + log_nb_ref) * w).sum(-1)
    params = [_t(np.log(mu)).requires_grad_(), _t(np.log(theta[0])).requires_grad_(),
              _t(logits).requires_grad_()]

    def value_and_grads(fast: bool):
        m, t, lg = params[0].exp(), params[1].exp(), params[2]
        v = (log_zinb_sum(_t(x), m, t, lg, _t(w), eps=0.0, sparse=sparse) if fast
             else (log_zinb(_t(x), m, t, lg, eps=0.0) * _t(w)).sum(-1))
        return v.detach().numpy(), torch.autograd.grad(v.sum(), params)

    fast, fast_grads = value_and_grads(True)
    np.testing.assert_allclose(fast, ref, rtol=1e-8)
    _, slow_grads = value_and_grads(False)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-7, atol=1e-10)
