"""Stratified subsamples: the cells UMAP and the clustering scores see on a large run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Cells UMAP'd / scored by default on a large run. umap-learn on 20,000 cells × 10 dims takes
#: ≈ 25 s on 2 busy cores (warm numba), under the 30 s first-chart target of issue 20.
DEFAULT_SUBSAMPLE = 20_000


def stratified_subsample(n: int, size: int, labels: Sequence[Any] | None = None, *,
                         seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(size, n)`` cells, each label in proportion to its share.

    Each label gets ``size × share`` cells rounded by largest remainder (so the total is
    exactly ``size``), and at least one cell while the size allows; without labels, a uniform
    random sample. ``size >= n`` returns every cell.
    """
    size = int(size)
    if size < 1:
        raise ValueError("size must be at least 1")
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(n, size, replace=False))
    codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)[1]
    counts = np.bincount(codes)
    quota = size * counts / n
    take = np.floor(quota).astype(int)
    if size >= len(counts):
        take = np.maximum(take, 1)
    short = size - take.sum()
    order = np.argsort(-(quota - np.floor(quota)), kind="stable")
    for k in order:
        if short == 0:
            break
        step = int(np.sign(short))
        if 0 < take[k] + step <= counts[k]:
            take[k] += step
            short -= step
    picked = [rng.choice(np.flatnonzero(codes == k), take[k], replace=False)
              for k in range(len(counts)) if take[k]]
    return np.sort(np.concatenate(picked))
