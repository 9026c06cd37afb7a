"""Score predicted knock-out effects against a measured screen (DESIGN §7).

The observed effect of a knock-out is the log2 fold change of mean normalised expression
(counts per 10k), knocked-out cells vs control cells, per gene::

    lfc_g = log2((mean_ko_g + ε) / (mean_ctrl_g + ε))        ε = ``pseudocount`` (0.1 CP10k)

A prediction (one value per gene, any units whose sign means up/down) is scored per target by

* ``pearson_all`` / ``spearman_all``: over every gene but the knocked-out gene itself (its
  own drop says nothing about the network, and every method gets it right);
* ``pearson_top{k}`` / ``spearman_top{k}`` / ``sign_top{k}``: over the k genes most changed in
  the measurement (largest |lfc|), k = 20 and 50;
* ``recall_top50``: the fraction of the measured top-50 among the predicted top-50 (by |Δ|).

Pure functions of arrays; no model, no training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from core.errors import DataError

TOPS = (20, 50)
MIN_CELLS = 20
#: The score that picks the winner per target (the issue's headline figure).
HEADLINE = "pearson_top50"
METRICS = ("pearson_all", "spearman_all", *(f"{m}_top{k}" for k in TOPS
                                            for m in ("pearson", "spearman", "sign")),
           "recall_top50")


def normalised_means(counts: np.ndarray | sp.spmatrix, *, target_sum: float = 1e4
                     ) -> np.ndarray:
    """Mean over cells of counts scaled to ``target_sum`` per cell, ``(n_genes,)``.

    Cells with no counts are left out (they have no composition).
    """
    x = sp.csr_matrix(counts, dtype=np.float64)
    totals = np.asarray(x.sum(1)).ravel()
    keep = totals > 0
    if not keep.any():
        return np.zeros(x.shape[1])
    x = sp.diags(target_sum / totals[keep]) @ x[keep]
    return np.asarray(x.mean(0)).ravel()


def log2_fold_change(ko_means: np.ndarray, control_means: np.ndarray, *,
                     pseudocount: float = 0.1) -> np.ndarray:
    """``log2((ko + ε) / (control + ε))`` per gene (ε = ``pseudocount``, in CP10k)."""
    ko = np.asarray(ko_means, dtype=np.float64)
    ctrl = np.asarray(control_means, dtype=np.float64)
    return np.log2((ko + pseudocount) / (ctrl + pseudocount))


@dataclass
class ObservedEffects:
    """Measured knock-out effects of a screen.

    Attributes
    ----------
    lfc
        Targets × genes log2 fold change (targets with at least ``min_cells`` cells).
    n_cells
        Cells per scored target, and ``"control"``.
    skipped
        Target → why it is not scored (too few cells).
    per_replicate
        ``(target, replicate)`` × genes log2 fold change when replicates were given.
    """

    lfc: pd.DataFrame
    n_cells: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)
    per_replicate: pd.DataFrame | None = None


def observed_effects(counts: np.ndarray | sp.spmatrix, labels: Sequence[str],
                     gene_names: Sequence[str], *, control: str,
                     targets: Sequence[str] | None = None,
                     replicates: Sequence[str] | None = None,
                     min_cells: int = MIN_CELLS, pseudocount: float = 0.1) -> ObservedEffects:
    """Log2 fold change of every target against the control cells.

    Parameters
    ----------
    counts
        Raw counts, cells × genes.
    labels
        Perturbation label per cell (the knocked-out gene, or ``control``).
    gene_names
        Column names.
    control
        The control label (e.g. ``"non-targeting"``).
    targets
        Targets to compute (default: every label but the control).
    replicates
        Replicate per cell: also one fold change per target and replicate (against that
        replicate's controls).
    min_cells, pseudocount
        Targets with fewer cells are skipped (see ``skipped``); ε of :func:`log2_fold_change`.

    Returns
    -------
    ObservedEffects
    """
    labels = np.asarray(pd.Series(np.asarray(labels)).astype(str))
    is_ctrl = labels == str(control)
    if not is_ctrl.any():
        values = ", ".join(sorted(set(labels))[:8])
        raise DataError(f"No cells have the control value '{control}'; values include: {values}.")
    x = sp.csr_matrix(counts)
    ctrl = normalised_means(x[is_ctrl])
    wanted = [str(t) for t in targets] if targets is not None else sorted(
        set(labels) - {str(control)})
    rows, n_cells, skipped = {}, {"control": int(is_ctrl.sum())}, {}
    for t in wanted:
        n = int((labels == t).sum())
        if n < min_cells:
            skipped[t] = f"{n} cells (fewer than {min_cells})"
            continue
        rows[t] = log2_fold_change(normalised_means(x[labels == t]), ctrl,
                                   pseudocount=pseudocount)
        n_cells[t] = n
    lfc = pd.DataFrame.from_dict(rows, orient="index", columns=list(map(str, gene_names)))
    per_rep = None
    if replicates is not None:
        per_rep = _per_replicate(x, labels, np.asarray(replicates).astype(str), list(rows),
                                 str(control), list(lfc.columns), min_cells, pseudocount)
    return ObservedEffects(lfc=lfc, n_cells=n_cells, skipped=skipped, per_replicate=per_rep)


def _per_replicate(x: sp.csr_matrix, labels: np.ndarray, reps: np.ndarray,
                   targets: list[str], control: str, genes: list[str], min_cells: int,
                   pseudocount: float) -> pd.DataFrame:
    rows = {}
    for rep in sorted(set(reps)):
        in_rep = reps == rep
        ctrl = in_rep & (labels == control)
        if ctrl.sum() < min_cells:
            continue
        ctrl_means = normalised_means(x[ctrl])
        for t in targets:
            ko = in_rep & (labels == t)
            if ko.sum() >= min_cells:
                rows[(t, rep)] = log2_fold_change(normalised_means(x[ko]), ctrl_means,
                                                  pseudocount=pseudocount)
    index = pd.MultiIndex.from_tuples(list(rows), names=["target", "replicate"])
    return pd.DataFrame(list(rows.values()), index=index, columns=genes)


def _corr(a: np.ndarray, b: np.ndarray, kind: str) -> float:
    """Correlation; 0 for a constant prediction (it carries no ranking: ``no_change``)."""
    if len(a) < 3 or np.std(b) == 0:
        return float("nan")
    if np.std(a) == 0:
        return 0.0
    if kind == "pearson":
        return float(np.corrcoef(a, b)[0, 1])
    return float(stats.spearmanr(a, b).statistic)


def score_prediction(predicted: np.ndarray, observed: np.ndarray, *,
                     exclude: Sequence[int] = (), tops: Sequence[int] = TOPS) -> dict[str, float]:
    """Scores of one predicted effect against the measured one (see the module docstring).

    Parameters
    ----------
    predicted, observed
        One value per gene (same order).
    exclude
        Gene indices left out of every score (the knocked-out gene).
    tops
        Sizes of the most-changed sets.

    Returns
    -------
    dict
        ``pearson_all, spearman_all, pearson_top{k}, spearman_top{k}, sign_top{k}``, and
        ``recall_top50`` (NaN where undefined, e.g. a constant prediction's correlation).
    """
    keep = np.setdiff1d(np.arange(len(observed)), np.asarray(exclude, dtype=int))
    pred = np.asarray(predicted, dtype=np.float64)[keep]
    obs = np.asarray(observed, dtype=np.float64)[keep]
    out = {"pearson_all": _corr(pred, obs, "pearson"),
           "spearman_all": _corr(pred, obs, "spearman")}
    obs_order = np.argsort(-np.abs(obs), kind="stable")
    for k in tops:
        top = obs_order[:k]
        out[f"pearson_top{k}"] = _corr(pred[top], obs[top], "pearson")
        out[f"spearman_top{k}"] = _corr(pred[top], obs[top], "spearman")
        out[f"sign_top{k}"] = float(np.mean(np.sign(pred[top]) == np.sign(obs[top])))
    k = min(50, len(obs))
    if np.any(pred != 0):
        pred_top = np.argsort(-np.abs(pred), kind="stable")[:k]
        out["recall_top50"] = len(set(pred_top) & set(obs_order[:k])) / k
    else:
        out["recall_top50"] = 0.0
    return out


def score_methods(predictions: Mapping[str, pd.DataFrame], observed: pd.DataFrame
                  ) -> pd.DataFrame:
    """Scores of every method on every target, long format.

    Parameters
    ----------
    predictions
        Method → targets × genes predicted effect (columns aligned to ``observed``'s genes;
        a missing gene counts as 0).
    observed
        Targets × genes measured effect (:attr:`ObservedEffects.lfc`).

    Returns
    -------
    pandas.DataFrame
        ``target, method`` and the :data:`METRICS` columns, plus ``winner`` (True for the
        method with the best :data:`HEADLINE` score on that target).
    """
    genes = list(observed.columns)
    rows = []
    for method, pred in predictions.items():
        pred = pred.reindex(columns=genes).fillna(0.0)
        for target in observed.index:
            if target not in pred.index:
                continue
            exclude = [genes.index(target)] if target in genes else []
            scores = score_prediction(pred.loc[target].to_numpy(),
                                      observed.loc[target].to_numpy(), exclude=exclude)
            rows.append({"target": target, "method": method, **scores})
    table = pd.DataFrame(rows, columns=["target", "method", *METRICS])
    best = table.groupby("target")[HEADLINE].transform("max")
    table["winner"] = table[HEADLINE].notna() & (table[HEADLINE] == best)
    return table


def summarise(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Median of every metric over targets, per method (NaN-aware), as plain floats."""
    med = scores.groupby("method", sort=False)[list(METRICS)].median()
    return {m: {k: (None if pd.isna(v) else round(float(v), 4)) for k, v in row.items()}
            for m, row in med.iterrows()}


def mean_of_other_effects(other: pd.DataFrame, targets: Sequence[str]) -> pd.DataFrame:
    """The "perturbation mean" baseline: every target is predicted to change each gene by the
    mean measured effect of the screen's OTHER perturbations (the rows of ``other``, targets ×
    genes log2 fold changes, none of them a scored target). It knows nothing of the target,
    only what knocking out anything in this screen tends to do, and is the first baseline
    perturbation benchmarks try (Ahlmann-Eltze et al., Nat. Methods 2025). Targets × genes.
    """
    if other.empty:
        raise DataError("The perturbation-mean baseline needs other measured perturbations.")
    leak = sorted(set(map(str, other.index)) & set(map(str, targets)))
    if leak:
        raise DataError(f"The perturbation mean may not use the scored targets: {leak}.")
    mean = other.mean(axis=0).to_numpy()
    return pd.DataFrame(np.tile(mean, (len(targets), 1)), index=list(targets),
                        columns=other.columns)


def per_gene_table(predictions: Mapping[str, pd.DataFrame], observed: pd.DataFrame
                   ) -> pd.DataFrame:
    """One row per target and gene: ``target, gene, observed`` and one column per method."""
    frames = []
    for target in observed.index:
        df = pd.DataFrame({"target": target, "gene": observed.columns,
                           "observed": observed.loc[target].to_numpy()})
        for method, pred in predictions.items():
            if target in pred.index:
                df[method] = pred.reindex(columns=observed.columns).loc[target].fillna(0.0
                                                                                      ).to_numpy()
        frames.append(df)
    cols = ["target", "gene", "observed", *predictions]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def replicate_agreement(per_replicate: pd.DataFrame, observed: pd.DataFrame
                        ) -> dict[str, float]:
    """Per target: median over replicates of the top-50 Pearson r of one replicate's fold
    change against the pooled one (an upper reference for any prediction)."""
    out = {}
    for target in observed.index:
        if target not in per_replicate.index.get_level_values(0):
            continue
        rs = [score_prediction(row.to_numpy(), observed.loc[target].to_numpy(),
                               exclude=[list(observed.columns).index(target)]
                               if target in observed.columns else [])["pearson_top50"]
              for _, row in per_replicate.loc[target].iterrows()]
        out[target] = round(float(np.nanmedian(rs)), 4) if rs else float("nan")
    return out
