"""Building blocks shared by the models: MLP stacks and the masked linear layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from core.errors import ConfigError

#: Largest float32 weights of one MLP stack, checked before any tensor is allocated
#: (``--hidden 2000000000`` asked the allocator for 15 GB and ended in a RuntimeError traceback,
#: issue 19 fault suite). The default β-VAE on 30k genes needs ~0.13 GB; run folders are capped
#: the same way (core.runs.schema.MAX_MODEL_BYTES).
MAX_STACK_BYTES = 1024 ** 3


def mlp(
    sizes: Sequence[int],
    *,
    batch_norm: bool = True,
    dropout: float = 0.0,
    activation: type[nn.Module] = nn.ReLU,
    last_activation: bool = True,
) -> nn.Sequential:
    """A stack of Linear → [BatchNorm] → activation → [Dropout] blocks.

    Parameters
    ----------
    sizes
        Layer widths including the input, e.g. ``[n_genes, 1024, 512]``.
    batch_norm, dropout, activation
        Applied after every linear layer (the last one too unless ``last_activation=False``).
    last_activation
        Whether the final block gets normalisation, activation and dropout.

    Returns
    -------
    nn.Sequential
        The stack; empty (identity) when ``sizes`` has fewer than two entries.
    """
    need = 4 * sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    if need > MAX_STACK_BYTES:
        raise ConfigError(f"Layers of widths {list(sizes)} need {need / 1024 ** 3:,.1f} GB of "
                          f"weights (over {MAX_STACK_BYTES / 1024 ** 3:.0f} GB); choose smaller "
                          "hidden layers or fewer genes.")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed binary mask.

    The mask is a buffer of shape ``(out_features, in_features)`` (saved with the state dict,
    never trained). Masked weights are zeroed at construction and after every optimizer step by
    a gradient hook, so they stay exactly zero in training and in saved weights.

    Parameters
    ----------
    in_features, out_features
        As for :class:`torch.nn.Linear`.
    mask
        Binary array ``(out_features, in_features)``; ``None`` means dense (all ones).
    bias
        Whether to learn a bias.
    """

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor | None = None,
                 bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        if mask is None:
            mask = torch.ones(out_features, in_features)
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.float32).clone())
        if self.mask.shape != self.weight.shape:
            raise ValueError(f"mask shape {tuple(self.mask.shape)} != weight shape "
                             f"{tuple(self.weight.shape)}")
        with torch.no_grad():
            self.weight.mul_(self.mask)
        self.weight.register_hook(lambda grad: grad * self.mask)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the mask (same shape) and zero the weights it removes."""
        mask = torch.as_tensor(mask, dtype=torch.float32, device=self.weight.device)
        if mask.shape != self.weight.shape:
            raise ValueError("mask shape must match the weight shape")
        self.mask.copy_(mask)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Multiplying here as well keeps masked weights inert even under weight decay.
        return nn.functional.linear(x, self.weight * self.mask, self.bias)
