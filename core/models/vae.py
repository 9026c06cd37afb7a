"""The β-VAE module (DESIGN §1): MLP encoder → (μ, log σ²), mirrored decoder, MSE + β·KL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from core.models.layers import mlp
from core.models.losses import free_bits_kl, kl_normal, weighted_squared_error


class BetaVAE(nn.Module):
    """β-VAE on processed expression (Gaussian reconstruction).

    Parameters
    ----------
    n_input
        Number of genes.
    n_latent
        Latent dimensions (10 by default, like scVI).
    hidden
        Encoder widths; the decoder mirrors them.
    batch_norm, dropout
        Applied in every hidden block of encoder and decoder.
    gene_weights
        Optional per-gene reconstruction weights (e.g. highly variable genes up-weighted);
        saved as a buffer with the state dict.

    Notes
    -----
    The module holds layers, ``forward`` and ``loss`` only; training lives in
    :mod:`core.training.trainer`. ``loss`` takes a batch dict with key ``"x"``.
    """

    def __init__(
        self,
        n_input: int,
        n_latent: int = 10,
        hidden: Sequence[int] = (1024, 512, 256),
        *,
        batch_norm: bool = True,
        dropout: float = 0.0,
        gene_weights: Sequence[float] | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden]
        self._init_kwargs: dict[str, Any] = {
            "n_input": int(n_input), "n_latent": int(n_latent), "hidden": hidden,
            "batch_norm": bool(batch_norm), "dropout": float(dropout),
        }
        self.n_input = int(n_input)
        self.n_latent = int(n_latent)
        self.encoder = mlp([n_input, *hidden], batch_norm=batch_norm, dropout=dropout)
        last = hidden[-1] if hidden else n_input
        self.mu = nn.Linear(last, n_latent)
        self.logvar = nn.Linear(last, n_latent)
        rev = list(reversed(hidden))
        self.decoder = mlp([n_latent, *rev], batch_norm=batch_norm, dropout=dropout)
        self.out = nn.Linear(rev[-1] if rev else n_latent, n_input)
        weights = torch.ones(n_input) if gene_weights is None else torch.as_tensor(
            gene_weights, dtype=torch.float32)
        self.register_buffer("gene_weights", weights.reshape(n_input))

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe) needed to rebuild this module from a run folder."""
        return dict(self._init_kwargs)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (μ, log σ²) of q(z | x); log σ² is clamped to [-10, 10] for stability."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction x̂ (same space as the input)."""
        return self.out(self.decoder(z))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode, sample with the reparameterisation trick (mean in eval mode), decode."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return {"mu": mu, "logvar": logvar, "z": z, "x_hat": self.decode(z)}

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
             free_bits: float = 0.0) -> dict[str, torch.Tensor]:
        """Reconstruction (Σ genes, mean over cells) + β · KL (Σ dims, mean over cells).

        Returns
        -------
        dict
            ``loss`` (to minimise), ``recon``, ``kl`` (the KL without free-bits floor).
        """
        x = batch["x"]
        out = self(x)
        recon = weighted_squared_error(x, out["x_hat"].float(), self.gene_weights).mean()
        kl = kl_normal(out["mu"].float(), out["logvar"].float()).mean()
        kl_opt = (free_bits_kl(out["mu"].float(), out["logvar"].float(), free_bits).mean()
                  if free_bits > 0 else kl)
        return {"loss": recon + beta * kl_opt, "recon": recon, "kl": kl}


