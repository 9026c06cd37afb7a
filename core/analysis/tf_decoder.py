"""A deterministic, numpy-in/numpy-out view of a trained TF-VAE (for perturbation analyses).

Usage (e.g. the Perturb page)::

    run = load_run(path)                      # a TF-VAE run folder
    dec = tf_decoder(run.load_module())
    z = dec.encode(x)                         # (cells, n_tfs) posterior means μ
    z_ko = z.copy(); z_ko[:, dec.tf_index["STAT1"]] = z[:, ...].min()
    base, pert = dec.decode_from_tf(z), dec.decode_from_tf(z_ko)
    delta_genes = pert["x_hat"] - base["x_hat"]      # (cells, n_genes), columns dec.gene_names
    delta_tf_1step = pert["z1"] - base["z1"]         # Δ of every TF after one TF→TF step
    delta_tf_2steps = pert["z2"] - base["z2"]        # ... and after two

Everything runs in eval mode (dropout off, BatchNorm running statistics, z = the given values,
no sampling), on the CPU, under ``torch.no_grad``: the same input always gives the same output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch


@dataclass
class TFDecoder:
    """Names and deterministic encode/decode functions of a TF-VAE.

    Attributes
    ----------
    module
        The :class:`~core.models.tfvae.TFVAE` (kept in eval mode on the CPU).
    tf_names
        Latent unit names (columns of ``z``, ``z1``, ``z2``).
    gene_names
        Output names (columns of ``x_hat``), the genes of the training data in order.
    tf_index
        TF name → column.
    """

    module: Any
    tf_names: list[str]
    gene_names: list[str]
    tf_index: dict[str, int] = field(default_factory=dict)

    @property
    def is_count_model(self) -> bool:
        """Whether the decoder models counts (its x̂ is a softmax over genes)."""
        return bool(getattr(self.module, "is_count_model", False))

    @torch.no_grad()
    def encode(self, x: np.ndarray | sp.spmatrix, batch_size: int = 4096) -> np.ndarray:
        """Posterior means μ ``(cells, n_tfs)`` of the model's input ``x`` (scaled expression,
        or raw counts for a count model)."""
        self.module.eval()
        out = []
        for s in range(0, x.shape[0], batch_size):
            rows = x[s:s + batch_size]
            rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
            out.append(self.module.encode(torch.as_tensor(rows, dtype=torch.float32))[0])
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.tf_names)), np.float32)

    @torch.no_grad()
    def decode_from_tf(self, z: np.ndarray, batch_size: int = 4096) -> dict[str, np.ndarray]:
        """Decode TF values ``z`` ``(cells, n_tfs)``.

        Returns
        -------
        dict
            ``x_hat`` ``(cells, n_genes)`` (scaled expression; for a count model the
            normalised expression, rows summing to 1, plus its ``logits``), ``z1`` and ``z2``
            ``(cells, n_tfs)``: the TF values after one and two TF→TF steps.
        """
        self.module.eval()
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != len(self.tf_names):
            raise ValueError(f"z needs {len(self.tf_names)} columns (one per TF)")
        keys = ["x_hat", "z1", "z2"] + (["logits"] if self.is_count_model else [])
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        for s in range(0, z.shape[0], batch_size):
            out = self.module.decode(torch.as_tensor(z[s:s + batch_size]))
            for k in parts:
                parts[k].append(out[k])
        return {k: torch.cat(v).numpy() for k, v in parts.items()}


def tf_decoder(module: Any) -> TFDecoder:
    """Wrap a loaded TF-VAE (``Run.load_module()``) as a :class:`TFDecoder`."""
    module = module.cpu().eval()
    tfs = list(module.tf_names)
    return TFDecoder(module=module, tf_names=tfs, gene_names=list(module.gene_names),
                     tf_index={t: i for i, t in enumerate(tfs)})
