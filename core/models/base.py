"""The contract every model module keeps, so the trainer, the run loader and the pages treat
models alike (in the spirit of scvi-tools' ``BaseModuleClass``).

The trainer (:func:`core.training.trainer.fit`) only calls ``module.loss(batch, beta=…,
**loss_kwargs)`` and reads the returned terms; the run loader rebuilds a module as
``cls(**config['module'])`` from :attr:`ModelModule.init_kwargs`; embeddings call
``encode``. Neither branches on the model type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class LossOutput(Mapping[str, torch.Tensor]):
    """What ``ModelModule.loss`` returns: the scalar to minimise and the terms to log.

    In the spirit of scvi-tools' ``LossOutput``: ``loss`` is what the optimiser minimises;
    ``terms`` are scalar tensors logged per epoch (``recon``, ``kl``, ``align``…). It is also a
    read-only mapping ``{"loss": …, **terms}``, which is how the trainer logs it.

    Parameters
    ----------
    loss
        Scalar tensor to minimise.
    terms
        Named scalar tensors to log; must not contain ``"loss"``.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "loss" in self.terms:
            raise ValueError("'loss' is the minimised value; name the logged term otherwise")

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.loss if key == "loss" else self.terms[key]

    def __iter__(self) -> Iterator[str]:
        yield "loss"
        yield from self.terms

    def __len__(self) -> int:
        return 1 + len(self.terms)


@runtime_checkable
class ModelModule(Protocol):
    """What a model's ``nn.Module`` provides (checked with ``isinstance`` in the tests).

    ``encode(x, **extra) -> (μ, log σ²)``; ``decode(z, **extra)`` → the reconstruction (a
    tensor, or a dict of tensors with ``x_hat``); ``loss(batch, *, beta, **kw)`` → a
    :class:`LossOutput` (``loss`` is minimised, its ``terms`` — ``recon``, ``kl``, … — are
    logged per epoch by the trainer); ``init_kwargs`` → the constructor arguments saved
    in the run (JSON-ready).
    """

    @property
    def init_kwargs(self) -> dict[str, Any]: ...

    def encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]: ...

    def decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> Any: ...

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
             **kwargs: Any) -> Mapping[str, torch.Tensor]: ...
