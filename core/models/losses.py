"""Loss terms, per cell (summed over genes or latent dims); callers average over cells."""

from __future__ import annotations

import torch


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dims, one value per cell."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """KL with a floor of ``free_bits`` nats per latent dim (Kingma et al. 2016).

    The floor applies to the batch-mean KL of each dim, so dims below it get no gradient
    pushing them towards the prior; this counters KL collapse.
    """
    per_dim = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if free_bits <= 0:
        return per_dim.sum(-1)
    mean_per_dim = per_dim.mean(0)
    clamped = torch.clamp(mean_per_dim, min=free_bits)
    # Spread the clamped batch value back over cells so the caller can still average per cell.
    return clamped.sum().expand(per_dim.shape[0])


def weighted_squared_error(x: torch.Tensor, x_hat: torch.Tensor,
                           gene_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_g w_g (x − x̂)², one value per cell (Gaussian reconstruction up to constants)."""
    sq = (x - x_hat).pow(2)
    if gene_weights is not None:
        sq = sq * gene_weights
    return sq.sum(-1)


#: Bandwidths (σ²) of the multi-scale RBF kernel of :func:`batch_mmd`; the latent's prior is
#: N(0, I), so fixed scales from tight to wide cover it for any dataset.
MMD_BANDWIDTHS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _rbf(z: torch.Tensor) -> torch.Tensor:
    d2 = torch.cdist(z, z).pow(2)
    return sum(torch.exp(-d2 / (2 * s)) for s in MMD_BANDWIDTHS) / len(MMD_BANDWIDTHS)


def batch_mmd(z: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Mean over batches of the (biased) squared MMD between one batch's latent codes and
    the other batches' (multi-scale RBF kernel; Gretton et al. 2012, as in trVAE).

    A scalar; 0 when every batch's codes are distributed alike. Batches with fewer than two
    cells in the minibatch are left out (0 when fewer than two batches remain).
    """
    codes = batch.reshape(-1).long()
    kernel = _rbf(z)                  # one cells × cells kernel, sliced per batch
    terms = []
    for b in torch.unique(codes):
        inside = codes == b
        if int(inside.sum()) < 2 or int((~inside).sum()) < 2:
            continue
        terms.append(kernel[inside][:, inside].mean() + kernel[~inside][:, ~inside].mean()
                     - 2 * kernel[inside][:, ~inside].mean())
    return torch.stack(terms).mean() if terms else z.new_zeros(())
