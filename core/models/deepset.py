"""The DeepSet module (DESIGN §6): phenotype of a SET of perturbed genes.

φ (an MLP on each gene's features) → a permutation-invariant pool (sum, mean or attention) →
ρ (an MLP to one number). Gene features are a fixed table (a buffer, saved with the weights),
a learned embedding, or both side by side.

With ``interaction_head`` the output is the additive expectation plus a learned interaction::

    y(S) = Σ_{i∈S} s_i + ρ(pool φ(S)) − Σ_{i∈S} ρ(pool φ({i}))

where ``s_i`` is gene i's measured single phenotype (the ``single_phenotype`` buffer) or, when
it was not measured, the model's own ρ(φ({i})). A single gene therefore gets back its measured
value exactly, and a set of genes never measured alone is the plain DeepSet ρ(pool φ(S)).
``wild_type_difference`` subtracts a learned wild-type vector from the pooled embedding before
ρ, as in the reference report (unstable there without gradient-norm clipping).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.errors import ConfigError

POOLS = ("sum", "mean", "attention")


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DeepSet(nn.Module):
    """DeepSet over gene sets.

    Parameters
    ----------
    n_genes
        Number of genes in the vocabulary (indices ``0 … n_genes-1``).
    n_features
        Width of the fixed feature table (0: learned embedding only).
    n_learned
        Width of the learned per-gene embedding (0: fixed features only).
    hidden
        Widths of φ's hidden layers; the last is the set embedding size. ρ mirrors them.
    pool
        ``sum``, ``mean`` or ``attention``.
    interaction_head
        Predict the interaction on top of the additive expectation (see the module docstring).
    wild_type_difference
        Subtract a learned wild-type embedding from the pooled vector.
    dropout
        Dropout in φ and ρ.
    """

    def __init__(self, n_genes: int, n_features: int = 0, n_learned: int = 32,
                 hidden: list[int] | tuple[int, ...] = (64, 64), pool: str = "sum",
                 interaction_head: bool = True, wild_type_difference: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ConfigError(f"pool must be one of {', '.join(POOLS)}; got '{pool}'.")
        if n_features + n_learned <= 0:
            raise ConfigError("A DeepSet needs fixed features or a learned embedding (or both).")
        hidden = [int(h) for h in hidden]
        self._init_kwargs: dict[str, Any] = {
            "n_genes": int(n_genes), "n_features": int(n_features), "n_learned": int(n_learned),
            "hidden": hidden, "pool": pool, "interaction_head": bool(interaction_head),
            "wild_type_difference": bool(wild_type_difference), "dropout": float(dropout)}
        self.pool, self.interaction_head = pool, bool(interaction_head)
        self.register_buffer("features", torch.zeros(n_genes, n_features))
        self.register_buffer("single_phenotype", torch.full((n_genes,), float("nan")))
        self.embedding = nn.Embedding(n_genes, n_learned) if n_learned else None
        if self.embedding is not None:
            # Beside fixed features the embedding is a fallback: zeros, so a gene never seen in
            # training adds nothing random to its features.
            nn.init.normal_(self.embedding.weight, std=0.0 if n_features else 0.1)
        width = hidden[-1]
        self.phi = _mlp([n_features + n_learned, *hidden], dropout)
        self.attention = nn.Linear(width, 1) if pool == "attention" else None
        self.wild_type = nn.Parameter(torch.zeros(width)) if wild_type_difference else None
        self.rho = _mlp([width, *reversed(hidden[:-1]), 1], dropout)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe); features and singles come from the state dict."""
        return dict(self._init_kwargs)

    def gene_inputs(self, genes: torch.Tensor) -> torch.Tensor:
        """φ's input for gene indices of any shape: fixed features ‖ learned embedding."""
        parts = []
        if self.features.shape[1]:
            parts.append(self.features[genes])
        if self.embedding is not None:
            parts.append(self.embedding(genes))
        return torch.cat(parts, dim=-1)

    def pooled(self, genes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Permutation-invariant set embedding, ``(batch, width)``; ``mask`` marks real genes."""
        h = self.phi(self.gene_inputs(genes))                       # (B, S, W)
        m = mask.unsqueeze(-1).to(h.dtype)
        if self.pool == "attention":
            score = self.attention(h).masked_fill(~mask.unsqueeze(-1), float("-inf"))
            pooled = (torch.softmax(score, dim=1) * h).sum(1)
        elif self.pool == "mean":
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        else:
            pooled = (h * m).sum(1)
        return pooled - self.wild_type if self.wild_type is not None else pooled

    def set_value(self, genes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ρ(pool φ(S)) per set, ``(batch,)``."""
        return self.decode(self.pooled(genes, mask))

    def forward(self, genes: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict the phenotype of padded sets.

        Parameters
        ----------
        genes
            ``(batch, max_set_size)`` gene indices (padding: any valid index).
        mask
            ``(batch, max_set_size)``, nonzero (or True) for real genes.

        Returns
        -------
        dict
            ``prediction`` ``(batch,)``, and with the interaction head ``additive`` (Σ s_i) and
            ``interaction`` (prediction − additive).
        """
        mask = mask.bool()
        whole = self.set_value(genes, mask)
        if not self.interaction_head:
            return {"prediction": whole}
        b, s = genes.shape
        flat = genes.reshape(-1, 1)
        alone = self.set_value(flat, torch.ones_like(flat, dtype=torch.bool)).reshape(b, s)
        measured = self.single_phenotype[genes]
        singles = torch.where(torch.isnan(measured), alone, measured)
        additive = (singles * mask).sum(1)
        interaction = whole - (alone * mask).sum(1)
        return {"prediction": additive + interaction, "additive": additive,
                "interaction": interaction}

    # ---- the model contract (core.models.base.ModelModule) ----------------------------------
    def encode(self, genes: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor]:
        """The set embedding ``(batch, width)`` as a 1-tuple (the model is deterministic: no
        variance to return), so ``encode(...)[0]`` works as for the VAEs."""
        return (self.pooled(genes, mask.bool()),)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """ρ: set embeddings ``(batch, width)`` → phenotype ``(batch,)`` (no additive part)."""
        return self.rho(z).squeeze(-1)

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
             **kwargs: Any) -> dict[str, torch.Tensor]:
        """Mean squared error of the predicted phenotype.

        ``batch`` holds ``genes`` (long), ``mask`` and ``y`` (:func:`core.data.phenotypes.
        set_arrays`); ``beta`` is unused (no KL term) and kept for the trainer's contract.
        """
        out = self.forward(batch["genes"], batch["mask"])
        mse = torch.mean((out["prediction"] - batch["y"]) ** 2)
        return {"loss": mse, "mse": mse}
