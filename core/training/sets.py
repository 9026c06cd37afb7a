"""Training loop for set models (the DeepSet): padded index batches, Adam, gradient-norm
clipping, early stopping on a validation part, progress and cancel like every other job."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.errors import TrainingError
from core.training.progress import Progress


@dataclass
class SetFitResult:
    """History per epoch, best epoch (weights restored to it), how training stopped."""

    history: pd.DataFrame
    best_epoch: int
    n_epochs_run: int
    stopped: str
    train_seconds: float


def pad_sets(sets: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Index lists → ``(genes, mask)`` tensors padded to the longest set (padding index 0)."""
    width = max(len(s) for s in sets)
    genes = torch.zeros(len(sets), width, dtype=torch.long)
    mask = torch.zeros(len(sets), width, dtype=torch.bool)
    for i, s in enumerate(sets):
        genes[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, :len(s)] = True
    return genes, mask


def _epoch(module: nn.Module, optimiser: torch.optim.Optimizer, data: tuple, order: torch.Tensor,
           batch_size: int, clip: float) -> float:
    genes, mask, y = data
    module.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        out = module.loss(genes[idx], mask[idx], y[idx])
        optimiser.zero_grad()
        out.loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimiser.step()
        total += float(out.loss.detach()) * len(idx)
    return total / len(order)


@torch.no_grad()
def evaluate(module: nn.Module, genes: torch.Tensor, mask: torch.Tensor,
             y: torch.Tensor) -> float:
    """Mean squared error of the module on padded sets (eval mode)."""
    module.eval()
    return float(module.loss(genes, mask, y).loss)


def fit_sets(module: nn.Module, train: tuple, val: tuple | None, *, lr: float,
             weight_decay: float, batch_size: int, max_epochs: int, patience: int,
             clip_grad_norm: float, seed: int, progress: Progress | None = None,
             cancel: threading.Event | None = None) -> SetFitResult:
    """Fit ``module`` on ``(genes, mask, y)`` tensors; keep the weights of the best val epoch.

    Raises
    ------
    TrainingError
        When the loss becomes NaN or infinite (lower the learning rate or keep clipping on).
    """
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    if progress is not None:
        progress.set_phase("train", max_epochs)
    best, best_epoch, best_state, rows, stopped = np.inf, 0, None, [], "max_epochs"
    t0 = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        order = torch.randperm(len(train[2]), generator=gen)
        train_loss = _epoch(module, optimiser, train, order, batch_size, clip_grad_norm)
        if not np.isfinite(train_loss):
            raise TrainingError(f"The loss became {train_loss} at epoch {epoch}; lower the "
                                "learning rate or turn gradient-norm clipping on.")
        val_loss = evaluate(module, *val) if val is not None and len(val[2]) else train_loss
        rows.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if progress is not None:
            progress.update(epoch, {"train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best - 1e-6:
            best, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        elif epoch - best_epoch >= patience:
            stopped = "early_stopping"
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return SetFitResult(history=pd.DataFrame(rows), best_epoch=best_epoch,
                        n_epochs_run=len(rows), stopped=stopped,
                        train_seconds=time.perf_counter() - t0)
