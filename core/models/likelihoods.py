"""Count likelihoods in scVI's parameterisation (mean μ, inverse dispersion θ, dropout logit).

Both functions return the log-likelihood of every entry (same shape as ``x``); callers sum over
genes. Written with ``lgamma`` and ``softplus`` so that large counts, tiny means and extreme
dropout logits stay finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Added inside logarithms so that μ → 0 or θ → 0 cannot give log(0).
EPS = 1e-8


def log_nb(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor,
           eps: float = EPS) -> torch.Tensor:
    """Negative binomial log-likelihood log NB(x; μ, θ).

    Parameters
    ----------
    x
        Observed counts (non-negative).
    mu
        Mean (> 0), broadcastable to ``x``.
    theta
        Inverse dispersion (> 0); variance = μ + μ²/θ.
    eps
        Numerical floor inside logarithms.

    Returns
    -------
    torch.Tensor
        Log-probability of each entry.
    """
    log_theta_mu = torch.log(theta + mu + eps)
    return (theta * (torch.log(theta + eps) - log_theta_mu)
            + x * (torch.log(mu + eps) - log_theta_mu)
            + torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1))


def log_zinb(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, zi_logits: torch.Tensor,
             eps: float = EPS) -> torch.Tensor:
    """Zero-inflated negative binomial log-likelihood.

    p(x) = π·[x = 0] + (1 − π)·NB(x; μ, θ) with π = sigmoid(``zi_logits``).

    Parameters
    ----------
    x, mu, theta, eps
        As for :func:`log_nb`.
    zi_logits
        Logit of the dropout probability π.

    Returns
    -------
    torch.Tensor
        Log-probability of each entry.
    """
    # log(1 - π) = -softplus(logit); the zero case is log(π + (1 - π)·NB(0)) in log-space.
    softplus_neg = F.softplus(-zi_logits)
    log_theta_mu = torch.log(theta + mu + eps)
    nb_zero = theta * (torch.log(theta + eps) - log_theta_mu)
    case_zero = F.softplus(-zi_logits + nb_zero) - softplus_neg
    case_nonzero = (-softplus_neg - zi_logits + nb_zero
                    + x * (torch.log(mu + eps) - log_theta_mu)
                    + torch.lgamma(x + theta) - torch.lgamma(theta) - torch.lgamma(x + 1))
    is_zero = x < 0.5  # counts are integers; independent of eps
    return torch.where(is_zero, case_zero, case_nonzero)


LIKELIHOODS = ("gaussian", "nb", "zinb")
DISPERSIONS = ("gene", "gene-batch")
