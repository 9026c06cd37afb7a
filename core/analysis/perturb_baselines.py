"""Baselines for TF knock-out effects, scored beside the TF-VAE (DESIGN §7).

Each baseline is linear in the TF change, so it is fitted once as an *effect matrix*
(genes × TFs: the change of each gene per unit change of the TF, both in the units of the
expression matrix it was fitted on, e.g. log1p normalised expression) and a knock-out is
``effects[:, tf] · ΔTF`` (:func:`knockout_predictions`).

* ``no_change``: zero everywhere (what a method must beat to say anything).
* ``correlation``: Δgene = corr(gene, TF) · ΔTF in SD units, i.e. the slope of a regression of
  the gene on that TF alone.
* ``ridge``: each gene regressed on all TFs' expression at once (ridge, α = 1 on standardised
  TFs), Δgene = coef · ΔTF: a TF's effect given the others.
* ``propagation`` (CellOracle-style): each gene regressed (ridge) on its regulators in a prior
  network (DoRothEA/CollecTRI) only; the knock-out is propagated ``steps`` times through these
  linear models with the knocked TF held at its new value, so TF → TF → gene cascades count
  (Kamimoto et al., Nature 2023).

Pure functions of arrays (numpy / scikit-learn); no model, no training loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.errors import DataError

BASELINES = ("no_change", "correlation", "ridge", "propagation")
PROPAGATION_STEPS = 3


def _dense(x: np.ndarray | sp.spmatrix) -> np.ndarray:
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


def _sd(a: np.ndarray) -> np.ndarray:
    sd = a.std(0)
    return np.where(sd > 0, sd, 1.0)


def correlation_effects(x: np.ndarray | sp.spmatrix, tf_cols: Sequence[int]) -> np.ndarray:
    """Genes × TFs: corr(gene, TF) · sd(gene) / sd(TF) (Δgene per unit ΔTF).

    Parameters
    ----------
    x
        Cells × genes expression (e.g. log1p normalised).
    tf_cols
        Column of each TF in ``x``.
    """
    x = _dense(x)
    sd = _sd(x)
    xc = (x - x.mean(0)) / sd
    corr = xc.T @ xc[:, list(tf_cols)] / len(x)
    return corr * sd[:, None] / sd[list(tf_cols)][None, :]


def _ridge_coef(inputs: np.ndarray, outputs: np.ndarray, alpha: float) -> np.ndarray:
    """Outputs × inputs coefficients of a ridge on standardised inputs (in input units)."""
    sd = _sd(inputs)
    z = (inputs - inputs.mean(0)) / sd
    y = outputs - outputs.mean(0)
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, z.T @ y).T
    return coef / sd[None, :]


def ridge_effects(x: np.ndarray | sp.spmatrix, tf_cols: Sequence[int], *,
                  alpha: float = 1.0) -> np.ndarray:
    """Genes × TFs coefficients of each gene regressed on all TFs' expression (ridge).

    A TF's own gene is an output like any other (its coefficient on itself is ≈ 1).
    """
    x = _dense(x)
    return _ridge_coef(x[:, list(tf_cols)], x, alpha)


def regulator_weights(x: np.ndarray | sp.spmatrix, gene_names: Sequence[str],
                      tf_names: Sequence[str], prior: pd.DataFrame, *,
                      alpha: float = 1.0) -> np.ndarray:
    """Genes × TFs weights: each gene regressed on its prior regulators among ``tf_names``.

    Genes without a regulator in the prior (and self edges) get zero weights.
    """
    x = _dense(x)
    gene_index = {g: i for i, g in enumerate(map(str, gene_names))}
    tf_index = {t: j for j, t in enumerate(map(str, tf_names))}
    missing = [t for t in tf_index if t not in gene_index]
    if missing:
        raise DataError(f"TFs not among the genes: {', '.join(missing[:5])}.")
    tf_cols = np.array([gene_index[t] for t in tf_index])
    regs: dict[int, list[int]] = {}
    for s, t in zip(prior["source"].astype(str), prior["target"].astype(str)):
        if s in tf_index and t in gene_index and s != t:
            regs.setdefault(gene_index[t], []).append(tf_index[s])
    weights = np.zeros((x.shape[1], len(tf_index)))
    for g, js in regs.items():
        js = sorted(set(js))
        weights[g, js] = _ridge_coef(x[:, tf_cols[js]], x[:, [g]], alpha)[0]
    return weights


def propagation_effects(weights: np.ndarray, tf_cols: Sequence[int], *,
                        steps: int = PROPAGATION_STEPS) -> np.ndarray:
    """Genes × TFs: a unit change of each TF propagated ``steps`` times (CellOracle-style).

    Parameters
    ----------
    weights
        Genes × TFs regulator weights (:func:`regulator_weights`).
    tf_cols
        Gene column of each TF.
    steps
        Propagation steps; the perturbed TF is held at its new value at every step.

    Returns
    -------
    numpy.ndarray
        Column j: Δ of every gene after ``steps`` steps when TF j changes by 1.
    """
    tf_cols = np.asarray(tf_cols)
    n_genes, n_tfs = weights.shape
    delta = np.zeros((n_genes, n_tfs))
    delta[tf_cols, np.arange(n_tfs)] = 1.0
    for _ in range(int(steps)):
        delta = weights @ delta[tf_cols]
        delta[tf_cols, np.arange(n_tfs)] = 1.0
    return delta


def fit_baselines(x: np.ndarray | sp.spmatrix, gene_names: Sequence[str],
                  tf_names: Sequence[str], prior: pd.DataFrame | None = None, *,
                  alpha: float = 1.0, steps: int = PROPAGATION_STEPS) -> dict[str, np.ndarray]:
    """Effect matrices (genes × TFs) of every baseline of :data:`BASELINES`.

    ``propagation`` is left out when no ``prior`` is given.
    """
    gene_index = {g: i for i, g in enumerate(map(str, gene_names))}
    tf_cols = [gene_index[str(t)] for t in tf_names]
    x = _dense(x)
    out = {"no_change": np.zeros((x.shape[1], len(tf_cols))),
           "correlation": correlation_effects(x, tf_cols),
           "ridge": ridge_effects(x, tf_cols, alpha=alpha)}
    if prior is not None:
        w = regulator_weights(x, gene_names, tf_names, prior, alpha=alpha)
        out["propagation"] = propagation_effects(w, tf_cols, steps=steps)
    return out


def knockout_deltas(x: np.ndarray | sp.spmatrix, gene_names: Sequence[str],
                    targets: Sequence[str]) -> dict[str, float]:
    """ΔTF of a knock-out per target: its observed minimum minus its mean (≤ 0)."""
    x = _dense(x)
    index = {g: i for i, g in enumerate(map(str, gene_names))}
    return {t: float(x[:, index[t]].min() - x[:, index[t]].mean()) for t in targets}


def knockout_predictions(effects: Mapping[str, np.ndarray], tf_names: Sequence[str],
                         gene_names: Sequence[str], deltas: Mapping[str, float], *,
                         scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Method → targets × genes predicted Δ: ``effects[:, tf] · ΔTF · scale``.

    ``scale`` converts the effect units (e.g. 1/ln 2: natural-log expression → log2).
    """
    tf_index = {str(t): j for j, t in enumerate(tf_names)}
    targets = [t for t in deltas if t in tf_index]
    out = {}
    for method, eff in effects.items():
        rows = [eff[:, tf_index[t]] * deltas[t] * scale for t in targets]
        out[method] = pd.DataFrame(rows, index=targets, columns=list(map(str, gene_names)))
    return out
