"""NB / ZINB log-likelihoods against scipy.stats."""

import numpy as np
import pytest
import torch
from scipy import stats

from core.models.likelihoods import log_nb, log_zinb


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
