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


def log_nb_sum(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor,
               weights: torch.Tensor | None = None, eps: float = EPS,
               sparse: bool | None = None) -> torch.Tensor:
    """Σ_g w_g · log NB(x_g; μ_g, θ_g), one value per cell: the training path of :func:`log_nb`.

    Written as θ log θ − (θ + x) log(θ + μ) + [x log μ + log Γ(x + θ) − log Γ(θ) − log Γ(x + 1)],
    where the bracket is 0 wherever x = 0. On the CPU the bracket is evaluated at the non-zero
    counts only (the log-gamma terms and their digamma gradients dominated an NB training step);
    on other devices densely, which needs no host synchronisation to find the non-zeros.

    Parameters
    ----------
    x
        Observed counts, ``(cells, genes)``.
    mu
        Means, ``(cells, genes)``.
    theta
        Inverse dispersions, ``(genes,)``, ``(1, genes)`` or ``(cells, genes)``.
    weights
        Optional per-gene weights ``(genes,)``; 1 for every gene when ``None``.
    eps
        Numerical floor inside logarithms, as in :func:`log_nb`.
    sparse
        Evaluate the count terms at the non-zeros only; ``None`` chooses by device (CPU: yes).

    Returns
    -------
    torch.Tensor
        ``(cells,)`` weighted sums of the log-probabilities.
    """
    n_genes = x.shape[-1]
    w = torch.ones(n_genes, dtype=mu.dtype, device=mu.device) if weights is None else weights
    theta_2d = theta.reshape(-1, n_genes)
    per_cell_theta = theta_2d.shape[0] != 1
    log_theta_mu = torch.log((theta_2d + eps) + mu)
    total = ((theta_2d * torch.log(theta_2d + eps)) @ w) - ((theta_2d + x) * log_theta_mu) @ w
    if not (x.device.type == "cpu" if sparse is None else sparse):
        bracket = (x * torch.log(mu + eps) + torch.lgamma(x + theta_2d)
                   - torch.lgamma(theta_2d) - torch.lgamma(x + 1))
        return total + bracket @ w
    rows, cols = torch.nonzero(x, as_tuple=True)
    xv = x[rows, cols]
    th = theta_2d[rows, cols] if per_cell_theta else theta_2d[0, cols]
    bracket = (xv * torch.log(mu[rows, cols] + eps) + torch.lgamma(xv + th)
               - torch.lgamma(th) - torch.lgamma(xv + 1)) * w[cols]
    return total + torch.zeros_like(total).index_add(0, rows, bracket)


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
