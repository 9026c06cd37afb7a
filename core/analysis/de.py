"""Outputs of count models as scvi-tools users expect them: denoised normalised expression and
differential expression in scVI's "vanilla" Bayes-factor mode.

Both take a trained count β-VAE (``likelihood`` ``"nb"``/``"zinb"``), the raw counts it reads
and, when it has a batch covariate, the integer batch code of every cell. Nothing is mutated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from core.errors import ConfigError
from core.training.inputs import inputs_for_run

#: |Bayes factor| (natural log) at or above which a gene is called DE (scVI's convention: ≈ 95%).
BAYES_FACTOR_THRESHOLD = 3.0


def _check_count_model(module: nn.Module) -> None:
    if not getattr(module, "is_count_model", False):
        raise ConfigError("Denoised expression and differential expression need a model trained "
                          "with the NB or ZINB likelihood on raw counts; this one is Gaussian.")


@torch.no_grad()
def _scales(module: nn.Module, counts: Any, cells: np.ndarray, batch: np.ndarray | None, *,
            sample: bool, transform_batch: int | None, generator: torch.Generator,
            chunk: int = 2048) -> np.ndarray:
    """Normalised expression (softmax, rows sum to 1) of ``cells`` (indices, repeats allowed)."""
    module.eval().cpu()
    rows = []
    csr = sp.csr_matrix(counts) if sp.issparse(counts) else None
    for s in range(0, len(cells), chunk):
        idx = cells[s:s + chunk]
        block = csr[idx].toarray() if csr is not None else np.asarray(counts)[idx]
        x = torch.as_tensor(block, dtype=torch.float32)
        b = None if batch is None else torch.as_tensor(batch[idx], dtype=torch.long)
        mu, logvar = module.encode(x, b)
        z = mu + torch.randn(mu.shape, generator=generator) * (0.5 * logvar).exp() if sample else mu
        if transform_batch is not None and b is not None:
            b = torch.full_like(b, int(transform_batch))
        rows.append(module.decode(z, b).float().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, module.n_input), dtype=np.float32)


def normalized_expression(module: nn.Module, counts: Any, batch: np.ndarray | None = None, *,
                          transform_batch: int | None = None, library_size: float = 1e4,
                          n_samples: int = 0, seed: int = 0) -> np.ndarray:
    """Denoised normalised expression of every cell (cells × genes).

    Parameters
    ----------
    module
        A trained count β-VAE.
    counts
        Raw counts (cells × genes, dense or sparse), what the encoder reads.
    batch
        Integer batch code per cell (required when the model has a covariate).
    transform_batch
        Decode every cell as if it came from this batch code ("transform to batch").
    library_size
        Rows sum to this value (1e4 like total-count normalisation; 1 gives frequencies).
    n_samples
        0: decode the posterior mean; otherwise average over this many posterior samples.
    seed
        Seeds the posterior samples.

    Returns
    -------
    numpy.ndarray
        float32, rows summing to ``library_size``.
    """
    _check_count_model(module)
    gen = torch.Generator().manual_seed(seed)
    cells = np.arange(counts.shape[0])
    if n_samples <= 0:
        out = _scales(module, counts, cells, batch, sample=False,
                      transform_batch=transform_batch, generator=gen)
    else:
        out = np.mean([_scales(module, counts, cells, batch, sample=True,
                               transform_batch=transform_batch, generator=gen)
                       for _ in range(n_samples)], axis=0)
    return (out * library_size).astype(np.float32)


def differential_expression(
    module: nn.Module,
    counts: Any,
    group1: np.ndarray,
    group2: np.ndarray,
    *,
    batch: np.ndarray | None = None,
    gene_names: Sequence[str] | None = None,
    n_samples: int = 5000,
    transform_batch: int | None = None,
    pseudocount: float = 1e-5,
    seed: int = 0,
) -> pd.DataFrame:
    """Differential expression between two groups of cells, scVI "vanilla" mode.

    ``n_samples`` cells are drawn with replacement from each group; each draw decodes one
    posterior sample z ~ q(z | x) into normalised expression ρ. Pairing draws of group 1 and
    group 2, ``proba_m1`` = P(ρ₁ > ρ₂), the Bayes factor is log(p / (1 − p)) and the
    probability of differential expression is max(p, 1 − p). The log₂ fold change is summarised
    over the same pairs.

    Parameters
    ----------
    module
        A trained count β-VAE.
    counts
        Raw counts of all cells.
    group1, group2
        Boolean masks or integer indices of the two groups.
    batch
        Integer batch code per cell (when the model has a covariate).
    gene_names
        Row labels of the result (default ``gene_0``...).
    n_samples
        Posterior draws per group.
    transform_batch
        Decode all draws in this batch code, so the comparison is free of batch effects.
    pseudocount
        Added to ρ before the log fold change (ρ sums to 1 over genes).
    seed
        Seeds the choice of cells and the posterior samples.

    Returns
    -------
    pandas.DataFrame
        One row per gene, sorted by |Bayes factor| then |LFC|: ``gene``, ``lfc_mean``,
        ``lfc_median``, ``lfc_std``, ``proba_m1``, ``proba_m2``, ``bayes_factor``,
        ``proba_de``, ``is_de`` (|BF| ≥ 3), ``scale1``, ``scale2`` (mean ρ),
        ``raw_mean1``, ``raw_mean2`` (mean counts), ``n_cells1``, ``n_cells2``.
    """
    _check_count_model(module)
    n = counts.shape[0]
    idx1, idx2 = _indices(group1, n), _indices(group2, n)
    if len(idx1) == 0 or len(idx2) == 0:
        raise ConfigError("Both groups need at least one cell for differential expression.")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    draws1 = rng.choice(idx1, size=n_samples, replace=True)
    draws2 = rng.choice(idx2, size=n_samples, replace=True)
    rho1 = _scales(module, counts, draws1, batch, sample=True, transform_batch=transform_batch,
                   generator=gen)
    rho2 = _scales(module, counts, draws2, batch, sample=True, transform_batch=transform_batch,
                   generator=gen)
    p1 = (rho1 > rho2).mean(0)
    eps = 1e-8
    bayes = np.log(p1 + eps) - np.log(1 - p1 + eps)
    lfc = np.log2(rho1 + pseudocount) - np.log2(rho2 + pseudocount)
    names = list(gene_names) if gene_names is not None else [f"gene_{i}" for i in
                                                              range(rho1.shape[1])]
    raw1, raw2 = _mean_counts(counts, idx1), _mean_counts(counts, idx2)
    table = pd.DataFrame({
        "gene": names, "lfc_mean": lfc.mean(0), "lfc_median": np.median(lfc, 0),
        "lfc_std": lfc.std(0), "proba_m1": p1, "proba_m2": 1 - p1, "bayes_factor": bayes,
        "proba_de": np.maximum(p1, 1 - p1),
        "is_de": np.abs(bayes) >= BAYES_FACTOR_THRESHOLD,
        "scale1": rho1.mean(0), "scale2": rho2.mean(0), "raw_mean1": raw1, "raw_mean2": raw2,
        "n_cells1": len(idx1), "n_cells2": len(idx2),
    })
    order = np.lexsort((-table["lfc_mean"].abs().to_numpy(),
                        -table["bayes_factor"].abs().to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _indices(group: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(group)
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise ConfigError("A group mask must have one entry per cell.")
        return np.flatnonzero(arr)
    return arr.astype(np.int64)


def _mean_counts(counts: Any, idx: np.ndarray) -> np.ndarray:
    sub = counts[idx]
    return np.asarray(sub.mean(axis=0)).ravel()


def run_differential_expression(run: Any, adata: Any, *, group_key: str, group1: str,
                                group2: str | None = None, transform_batch: str | None = None,
                                n_samples: int = 5000, seed: int = 0) -> pd.DataFrame:
    """DE between ``adata.obs[group_key] == group1`` and ``== group2`` (or all other cells).

    Parameters
    ----------
    run
        A loaded count-model run (:class:`~core.runs.Run`) trained on ``adata``.
    adata
        The preprocessed data the run was trained on.
    group_key, group1, group2
        obs column and its two values; ``group2=None`` compares against every other cell.
    transform_batch
        Batch category (name) to decode every draw in; ``None`` keeps each cell's own batch.
    n_samples, seed
        As in :func:`differential_expression`.
    """

    if group_key not in adata.obs:
        raise ConfigError(f"Column '{group_key}' is not in the data's obs columns.")
    values = adata.obs[group_key].astype(str).to_numpy()
    mask1 = values == str(group1)
    mask2 = ~mask1 if group2 is None else values == str(group2)
    if group2 is not None and str(group1) == str(group2):
        raise ConfigError("Pick two different groups to compare.")
    module = run.load_module()
    inputs = inputs_for_run(adata, run)
    code = None
    if transform_batch is not None:
        if transform_batch not in inputs.batch_categories:
            raise ConfigError(f"'{transform_batch}' is not one of the model's batches "
                              f"{inputs.batch_categories}.")
        code = inputs.batch_categories.index(transform_batch)
    return differential_expression(module, inputs.encoder_input, mask1, mask2,
                                   batch=inputs.batch_codes, gene_names=list(adata.var_names),
                                   n_samples=n_samples, transform_batch=code, seed=seed)
