"""Fingerprints that tie a run to the exact data it was trained on."""

from __future__ import annotations

import hashlib
from typing import Any


def data_fingerprint(adata: Any) -> str:
    """Short hash of shape, names and values, tying runs to the data they were trained on."""
    h = hashlib.sha1()
    h.update(f"{adata.n_obs}x{adata.n_vars}".encode())
    h.update("\x00".join(map(str, adata.obs_names)).encode())
    h.update("\x00".join(map(str, adata.var_names)).encode())
    x = adata.X
    total = float(x.sum()) if x is not None else 0.0
    h.update(f"{total:.6g}".encode())
    return h.hexdigest()[:12]


def run_matches(run: Run, adata: Any) -> bool:
    """Whether ``run`` was trained on exactly this data (same fingerprint)."""
    return run.config.get("data", {}).get("fingerprint") == data_fingerprint(adata)
