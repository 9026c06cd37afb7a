"""The contract every model module keeps, so the trainer, the run loader and the pages treat
models alike (in the spirit of scvi-tools' ``BaseModuleClass``).

The trainer (:func:`core.training.trainer.fit`) only calls ``module.loss(batch, beta=…,
**loss_kwargs)`` and reads the returned terms; the run loader rebuilds a module as
``cls(**config['module'])`` from :attr:`ModelModule.init_kwargs`; embeddings call
``encode``. Neither branches on the model type.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class ModelModule(Protocol):
    """What a model's ``nn.Module`` provides (checked with ``isinstance`` in the tests).

    ``encode(x, **extra) -> (μ, log σ²)``; ``decode(z, **extra)`` → the reconstruction (a
    tensor, or a dict of tensors with ``x_hat``); ``loss(batch, *, beta, **kw)`` → a dict of
    scalar tensors with ``loss`` (what is minimised) and its terms (``recon``, ``kl``, …,
    each logged per epoch by the trainer); ``init_kwargs`` → the constructor arguments saved
    in the run (JSON-ready).
    """

    @property
    def init_kwargs(self) -> dict[str, Any]: ...

    def encode(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]: ...

    def decode(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> Any: ...

    def loss(self, batch: dict[str, torch.Tensor], *, beta: float = 1.0,
             **kwargs: Any) -> dict[str, torch.Tensor]: ...
