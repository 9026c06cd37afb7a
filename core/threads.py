"""Thread limits for small, latency-bound CPU work (torch and BLAS threads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

_BLAS: Any = None


def _blas_controller() -> Any:
    """A cached threadpoolctl controller (None without threadpoolctl: BLAS left as is)."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS = ThreadpoolController()
        except ImportError:                     # optional: only torch is limited then
            _BLAS = False
    return _BLAS or None


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch and BLAS threads, then restore both (None: as is).

    The perturbation path is small matrix products (cells × TFs, TFs × genes); on a busy
    CPU extra threads only add contention: with 2 cores shared, one thread made a slider change
    several times faster than two (``benchmarks/perturb_bench.py``).
    """
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(int(n))
    blas = _blas_controller()
    try:
        if blas is not None:
            with blas.limit(limits=int(n), user_api="blas"):
                yield
        else:
            yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
