"""How far to trust one in-silico perturbation (issue 16 §4): arrays in, tables out.

* :func:`ensemble_table`: Δ per gene over an ensemble of models (different seeds) — the mean,
  the interval (lowest … highest member) and the agreement of sign.
* :func:`out_of_distribution`: which perturbed TF units leave the range seen in training, and
  in what fraction of the perturbed cells.
* :class:`LinearBaselines`: the simple baselines of :mod:`core.analysis.perturb_baselines`
  (no change, correlation with the TF, ridge on every TF's expression) for the same
  perturbation of the TF units, so a page can show them beside the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.analysis import perturb_baselines as bl
from core.errors import ConfigError

#: Baselines shown beside a prediction (propagation needs a prior; it is on the Validate page).
PAGE_BASELINES = ("no_change", "correlation", "ridge")
Spec = Mapping[str, tuple[str, float]]


def ensemble_table(deltas: np.ndarray, gene_names: Sequence[str], *,
                   min_abs: float = 0.0) -> pd.DataFrame:
    """Mean Δ per gene over the members, with its interval and sign agreement.

    Parameters
    ----------
    deltas
        ``(members, genes)`` mean Δ of each model of the ensemble.
    gene_names
        Column names.
    min_abs
        A gene is flagged ``disagree`` only when some member predicts ``|Δ| > min_abs`` with
        the sign opposite to the ensemble mean (0: any opposite sign).

    Returns
    -------
    pandas.DataFrame
        ``gene, delta, low, high, sign_agreement, disagree``: ``low``/``high`` the lowest and
        highest member; ``sign_agreement`` the fraction of members whose Δ has the sign of
        the mean (a zero Δ agrees with nothing but a zero mean).
    """
    d = np.atleast_2d(np.asarray(deltas, dtype=np.float64))
    if d.shape[1] != len(gene_names):
        raise ConfigError(f"{d.shape[1]} Δ columns for {len(gene_names)} genes.")
    mean = d.mean(0)
    sign = np.sign(mean)
    agree = (np.sign(d) == sign[None]).mean(0)
    opposite = (np.sign(d) == -sign[None]) & (np.abs(d) > min_abs)
    return pd.DataFrame({"gene": list(map(str, gene_names)), "delta": mean,
                         "low": d.min(0), "high": d.max(0), "sign_agreement": agree,
                         "disagree": opposite.any(0) & (sign != 0)})


def out_of_distribution(z: np.ndarray, tf_names: Sequence[str], spec: Spec,
                        cells: np.ndarray | None = None) -> pd.DataFrame:
    """Perturbed TF units that leave the range of their unit μ over the training cells.

    Parameters
    ----------
    z
        ``(cells, TFs)`` unit μ of the training cells (the range seen in training).
    tf_names
        Column names of ``z``.
    spec
        TF → ``("set", value)`` or ``("shift", amount)``.
    cells
        Rows perturbed (default all).

    Returns
    -------
    pandas.DataFrame
        One row per TF of ``spec`` that leaves the range in at least one cell: ``tf, low,
        high, value_min, value_max, fraction`` (fraction of the perturbed cells outside
        ``[low, high]``). Empty when every value stays inside.
    """
    index = {str(t): j for j, t in enumerate(tf_names)}
    rows = np.arange(len(z)) if cells is None else np.asarray(cells)
    out = []
    for tf, (mode, value) in spec.items():
        if str(tf) not in index:
            raise ConfigError(f"'{tf}' is not a TF of this model.")
        col = z[:, index[str(tf)]]
        lo, hi = float(col.min()), float(col.max())
        new = (np.full(len(rows), float(value)) if mode == "set"
               else col[rows] + float(value))
        outside = (new < lo) | (new > hi)
        if len(rows) and outside.any():
            out.append({"tf": str(tf), "low": lo, "high": hi, "value_min": float(new.min()),
                        "value_max": float(new.max()), "fraction": float(outside.mean())})
    return pd.DataFrame(out, columns=["tf", "low", "high", "value_min", "value_max",
                                      "fraction"])


@dataclass
class LinearBaselines:
    """Baseline effects (genes × TFs) and the map from a TF unit to its TF's expression.

    Build with :meth:`fit`; :meth:`predict` gives each baseline's mean Δ per gene for a
    perturbation of the TF units, in the units of the expression they were fitted on times
    ``scale``.

    Attributes
    ----------
    effects
        Method → ``(genes, TFs)`` Δgene per unit Δ of the TF's expression.
    slope
        ``(TFs,)`` least-squares slope of each TF's expression on its unit μ (ΔTF = slope · Δz).
    tf_names, gene_names
        Names of the columns.
    scale
        Factor to the reported units (1/ln 2 when fitted on natural-log expression and the
        model reports log2 fold changes).
    """

    effects: dict[str, np.ndarray]
    slope: np.ndarray
    tf_names: list[str]
    gene_names: list[str]
    scale: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray | sp.spmatrix, gene_names: Sequence[str],
            tf_names: Sequence[str], z: np.ndarray, *, scale: float = 1.0,
            alpha: float = 1.0) -> LinearBaselines:
        """Fit the baselines on ``x`` (cells × genes) and each unit's slope on ``z``.

        Every TF must be a gene of ``x`` (a TF-VAE's units are).
        """
        genes = list(map(str, gene_names))
        index = {g: i for i, g in enumerate(genes)}
        missing = [t for t in tf_names if str(t) not in index]
        if missing:
            raise ConfigError(f"TFs not among the genes: {', '.join(map(str, missing[:5]))}.")
        dense = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)
        effects = bl.fit_baselines(dense, genes, list(map(str, tf_names)), alpha=alpha)
        tf_x = dense[:, [index[str(t)] for t in tf_names]]
        zc = np.asarray(z, dtype=np.float64) - np.mean(z, 0)
        var = (zc ** 2).sum(0)
        slope = np.where(var > 0, (zc * (tf_x - tf_x.mean(0))).sum(0) / np.where(var > 0, var,
                                                                                  1.0), 0.0)
        return cls({m: effects[m] for m in PAGE_BASELINES}, slope,
                   list(map(str, tf_names)), genes, float(scale))

    def predict(self, z_before: np.ndarray, z_after: np.ndarray) -> pd.DataFrame:
        """Genes × methods mean Δ when the units move from ``z_before`` to ``z_after``.

        Both are ``(cells, TFs)``; Δ of each TF's expression is its slope × the mean Δz over
        the cells, and every baseline is additive over TFs.
        """
        dtf = self.slope * np.asarray(z_after - z_before, dtype=np.float64).mean(0) \
            if len(z_before) else np.zeros(len(self.tf_names))
        return pd.DataFrame({m: eff @ dtf * self.scale for m, eff in self.effects.items()},
                            index=self.gene_names)


def agreement(model: np.ndarray, baselines: pd.DataFrame) -> dict[str, float]:
    """Pearson r between the model's Δ and each baseline's over the genes (NaN if constant)."""
    m = np.asarray(model, dtype=np.float64)
    out = {}
    for method in baselines:
        b = baselines[method].to_numpy(dtype=np.float64)
        ok = m.std() > 0 and b.std() > 0
        out[method] = float(np.corrcoef(m, b)[0, 1]) if ok else float("nan")
    return out
