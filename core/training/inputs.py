"""Inputs of the count likelihoods and batch covariates (DESIGN §2), and their extra metrics.

:func:`model_inputs` turns a preprocessed AnnData into the per-cell arrays that
:func:`core.training.trainer.fit` slices: ``{"x": X}`` for the Gaussian β-VAE (exactly what it
always read), ``{"counts", "library"}`` for NB/ZINB, plus ``"batch"`` (integer codes) when a
batch column is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from core.errors import ConfigError, DataError
from core.models.likelihoods import LIKELIHOODS
from core.training.device_data import to_device
from core.training.trainer import evaluate

#: Most batch categories accepted (a cell id column by mistake would give thousands).
MAX_BATCHES = 100


@dataclass
class ModelInputs:
    """Per-cell arrays for training plus what is needed to encode and decode again.

    Attributes
    ----------
    data
        Arrays for :func:`~core.training.trainer.fit` (keys as the module's ``loss`` reads).
    encoder_input
        What ``module.encode`` reads: processed X (Gaussian) or raw counts (NB/ZINB).
    batch_codes
        Integer batch code per cell (``None`` without a covariate).
    batch_categories
        Category names, in code order.
    """

    data: dict[str, Any]
    encoder_input: Any
    batch_codes: np.ndarray | None = None
    batch_categories: list[str] = field(default_factory=list)

    @property
    def n_batch(self) -> int:
        """Number of batch categories (0 without a covariate)."""
        return len(self.batch_categories)

    @property
    def encode_extra(self) -> dict[str, np.ndarray]:
        """Keyword arrays for :func:`~core.training.trainer.encode_mean` (``batch`` codes)."""
        return {} if self.batch_codes is None else {"batch": self.batch_codes}


def counts_matrix(adata: Any) -> sp.csr_matrix:
    """Raw counts as float32 CSR: ``layers['counts']``, else X when X holds counts.

    Raises
    ------
    DataError
        When no layer holds counts, or the chosen layer has negative or non-integer values;
        the message names the layer and what to do.
    """
    if "counts" in adata.layers:
        matrix, where = adata.layers["counts"], "layers['counts']"
    else:
        matrix, where = adata.X, "X"
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    values = csr.data
    problem = None
    if not np.isfinite(values).all():
        problem = "NaN or Inf values"
    elif (values < 0).any():
        problem = "negative values"
    elif not np.allclose(values, np.round(values), atol=1e-3):
        problem = "non-integer values"
    if problem is None:
        csr.data = np.round(values)
        return csr
    if where == "X":
        raise DataError(
            f"The NB/ZINB likelihoods need raw integer counts, but X has {problem} (it looks "
            "normalised or scaled) and there is no layers['counts']. Load the raw UMI counts "
            "(they are kept in layers['counts'] by preprocessing), or use the Gaussian "
            "likelihood on processed X.")
    raise DataError(
        f"The NB/ZINB likelihoods read layers['counts'], but it has {problem}. Put the raw "
        "integer UMI counts in layers['counts'] (not normalised or log values), or use the "
        "Gaussian likelihood.")


def batch_codes(adata: Any, batch_key: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes (int64) and category names of the obs column ``batch_key``."""
    if batch_key not in adata.obs:
        raise ConfigError(f"Batch column '{batch_key}' is not in the data's obs columns.")
    col = adata.obs[batch_key]
    if col.isna().any():
        raise DataError(f"Batch column '{batch_key}' has missing values; every cell needs one.")
    categories, codes = np.unique(col.astype(str).to_numpy(), return_inverse=True)
    if len(categories) < 2:
        raise ConfigError(f"Batch column '{batch_key}' has a single value; a batch covariate "
                          "needs at least two.")
    if len(categories) > MAX_BATCHES:
        raise ConfigError(f"Batch column '{batch_key}' has {len(categories)} values (more than "
                          f"{MAX_BATCHES}); pick a column of batches, not of cells.")
    return codes.astype(np.int64), [str(c) for c in categories]


def model_inputs(adata: Any, x: Any, *, likelihood: str = "gaussian",
                 batch_key: str | None = None) -> ModelInputs:
    """Arrays the β-VAE trains on for this likelihood and batch column.

    Parameters
    ----------
    adata
        Preprocessed AnnData (raw counts in ``layers['counts']`` or X).
    x
        Processed X as the Gaussian model reads it (:func:`~core.training.inputs.model_input`).
    likelihood
        ``"gaussian"``, ``"nb"`` or ``"zinb"``.
    batch_key
        obs column used as batch covariate (optional).
    """
    if likelihood not in LIKELIHOODS:
        raise ConfigError(f"Unknown likelihood '{likelihood}'; use one of {LIKELIHOODS}.")
    if likelihood == "gaussian":
        data: dict[str, Any] = {"x": x}
        encoder_input = x
    else:
        counts = counts_matrix(adata)
        library = np.asarray(counts.sum(axis=1), dtype=np.float32).reshape(-1, 1)
        if (library <= 0).any():
            raise DataError(f"{int((library <= 0).sum())} cells have no counts at all; filter "
                            "empty cells before training a count model.")
        data = {"counts": counts, "library": library}
        encoder_input = counts
    codes, categories = (None, [])
    if batch_key:
        codes, categories = batch_codes(adata, batch_key)
        data["batch"] = codes
    return ModelInputs(data=data, encoder_input=encoder_input, batch_codes=codes,
                       batch_categories=categories)


@torch.no_grad()
def heldout_terms(module: nn.Module, data: dict[str, Any], idx: np.ndarray, *,
                  device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean loss terms per held-out cell at β = 1 (z = posterior mean, eval mode).

    Returns ``heldout_recon`` and ``heldout_kl``; for count models also
    ``heldout_recon_loglik`` (log p(x | z), per cell) and ``heldout_elbo`` (its value − KL).
    """

    if len(idx) == 0:
        return {}
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    module.to(dev)
    sub = {k: (v[idx] if not sp.issparse(v) else sp.csr_matrix(v)[idx]) for k, v in data.items()}
    tensors = to_device(sub, dev)
    terms = evaluate(module, tensors, torch.arange(len(idx), device=dev), beta=1.0)
    out = {"heldout_recon": terms["recon"], "heldout_kl": terms["kl"]}
    if getattr(module, "is_count_model", False):
        out["heldout_recon_loglik"] = -terms["recon"]
        out["heldout_elbo"] = -terms["recon"] - terms["kl"]
    return out


def inputs_for_run(adata: Any, run: Any) -> ModelInputs:
    """Rebuild a run's :class:`ModelInputs` from ``adata`` (same likelihood and batch coding).

    Batch codes follow the categories stored in the run, so a reloaded model sees the codes
    it was trained with; a cell whose batch the run never saw raises :class:`DataError`.
    """

    likelihood = run.config.get("settings", {}).get("likelihood", "gaussian")
    data_cfg = run.config.get("data", {})
    batch_key = data_cfg.get("batch_key")
    inputs = model_inputs(adata, model_input(adata), likelihood=likelihood, batch_key=batch_key)
    trained = list(data_cfg.get("batch_categories") or [])
    if batch_key and trained != inputs.batch_categories:
        lookup = {c: i for i, c in enumerate(trained)}
        names = adata.obs[batch_key].astype(str).to_numpy()
        unknown = sorted(set(names) - set(lookup))
        if unknown:
            raise DataError(f"Batch values {unknown[:5]} of '{batch_key}' were not in the "
                            "training data; this model cannot encode those cells.")
        codes = np.array([lookup[v] for v in names], dtype=np.int64)
        inputs.data["batch"] = codes
        inputs.batch_codes = codes
        inputs.batch_categories = trained
    return inputs


def model_input(adata: Any) -> np.ndarray | sp.csr_matrix:
    """``adata.X`` as float32 (CSR when sparse), checked finite."""
    x = adata.X
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float32)
        values = x.data
    else:
        x = np.asarray(x, dtype=np.float32)
        values = x
    if not np.isfinite(values).all():
        raise DataError("The expression matrix has NaN or Inf values; re-run preprocessing.")
    return x


def hvg_gene_weights(adata: Any, factor: float) -> np.ndarray | None:
    """Per-gene weights: ``factor`` for highly variable genes, 1 otherwise (None if unused)."""
    if factor == 1.0 or "highly_variable" not in adata.var:
        return None
    hv = adata.var["highly_variable"].to_numpy(dtype=bool)
    if hv.all():
        return None
    return np.where(hv, float(factor), 1.0).astype(np.float32)
