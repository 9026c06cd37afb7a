"""scGen arithmetic and scoring (DESIGN §5): pure functions of arrays, no training here.

The held-out-type experiment: a VAE is trained on every cell except the *stimulated* cells of
one cell type; δ = mean z(stimulated) − mean z(control) over training cells balanced by
resampling; the held-out type's stimulated cells are predicted as decode(z(its control) + δ) and
scored against the real ones by R² of per-gene means (all genes and the top-100 DEGs) and of
per-gene variances, beside three baselines. Training lives in :mod:`core.recipes.scgen`.

Everything here works on **log-normalised** expression (``layers['log1p']``), never on the
scaled ``X`` the other models read: per-gene means of scaled data are ~0 by construction, and
scGen's published numbers are on log-normalised values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.analysis.distributions import ReferenceSpace, distribution_scores, fit_reference_space
from core.errors import ConfigError, DataError

N_TOP_DEGS = 100
METHODS = ("scgen_residual", "scgen", "control_unchanged", "mean_shift", "pca_delta")
BASELINES = ("control_unchanged", "mean_shift", "pca_delta")
#: The predictor whose cells a run saves and whose scores it headlines: each control cell plus
#: the decoder's change, x_ctrl + decode(z + δ) − decode(z). Robust by design: the decoder's
#: reconstruction error cancels and every cell keeps its own variability, so it cannot fall
#: into a separate cloud the way decode(z + δ) does. Chosen by benchmarks/scgen_kang.py (all 7
#: kang_pbmc held-out types, 2 seeds; benchmarks/results/scgen_kang_default.json) and by a
#: user's mouse gut stimulation data (issue 18: 0.930 top-100 R² vs 0.895 for decode(z + δ)).
DEFAULT_METHOD = "scgen_residual"
METHOD_TITLES = {"scgen_residual": "scGen: control + decoded change",
                 "scgen": "scGen: decode(z + δ)",
                 "control_unchanged": "control unchanged",
                 "mean_shift": "gene-space mean shift", "pca_delta": "δ in PCA space"}
#: Short method names, for deltas and narrow places.
METHOD_SHORT = {"scgen_residual": "control + decoded change", "scgen": "decode(z + δ)",
                "control_unchanged": "control", "mean_shift": "mean shift",
                "pca_delta": "PCA δ"}
#: Short score titles for table columns (the full ones are in SCORE_TITLES).
SCORE_SHORT = {"r2_all": "R² means", "r2_top100": "R² means top-100",
               "r2_var": "R² var", "r2_var_top100": "R² var top-100",
               "energy": "energy ↓", "mmd": "MMD² ↓", "knn_mixing": "kNN mixing"}
#: Score columns, in the order tables show them, with readable titles.
SCORE_TITLES = {"r2_all": "R² means, all genes", "r2_top100": "R² means, top-100 DEGs",
                "r2_var": "R² variances, all genes",
                "r2_var_top100": "R² variances, top-100 DEGs",
                "energy": "energy distance ↓", "mmd": "MMD² (RBF) ↓",
                "knn_mixing": "kNN mixing (1 = mixed)"}


@dataclass(frozen=True)
class ScgenSpec:
    """Which cells are which: condition column and values, cell-type column, held-out type."""

    condition_key: str
    control: str
    stimulated: str
    cell_type_key: str
    holdout: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe copy."""
        return asdict(self)


@dataclass
class CellSplit:
    """Row indices (into the AnnData) of the held-out experiment.

    ``train_idx`` is every cell except the held-out type's stimulated cells; the model never
    sees ``holdout_stim_idx`` (they are only the truth the prediction is scored against).
    """

    train_idx: np.ndarray
    holdout_ctrl_idx: np.ndarray
    holdout_stim_idx: np.ndarray


def spec_defaults(obs: pd.DataFrame, dataset: str | None = None) -> dict[str, str | None]:
    """Suggested condition/cell-type columns and values from the dataset registry (if known).

    Returns keys ``condition_key, control, stimulated, cell_type_key, holdout``; a value is
    ``None`` where nothing fits (the caller asks the user). The held-out suggestion is the
    most frequent cell type.
    """
    from core.data.registry import DATASETS

    info = DATASETS.get(dataset or "")
    out: dict[str, str | None] = dict.fromkeys(
        ("condition_key", "control", "stimulated", "cell_type_key", "holdout"))
    if info is not None and info.condition_key in obs:
        out.update(condition_key=info.condition_key, control=info.control,
                   stimulated=info.stimulated)
    if info is not None and info.label_key in obs:
        out["cell_type_key"] = info.label_key
    if out["cell_type_key"]:
        out["holdout"] = str(obs[out["cell_type_key"]].astype(str).value_counts().index[0])
    return out


def _require(value: str, choices: list[str], message: str,
             listing: str = "its values are") -> None:
    """Raise ``ConfigError("MESSAGE; LISTING: choices.")`` when ``value`` is not a choice."""
    if value not in choices:
        raise ConfigError(f"{message}; {listing}: {', '.join(choices)}.")


def check_spec(obs: pd.DataFrame, spec: ScgenSpec) -> None:
    """Raise :class:`ConfigError` naming the valid choices when ``spec`` does not fit ``obs``."""
    for key in (spec.condition_key, spec.cell_type_key):
        _require(key, list(map(str, obs.columns)), f"Column '{key}' is not in the data",
                 "obs columns are")
    if spec.condition_key == spec.cell_type_key:
        raise ConfigError("The condition column and the cell-type column must differ.")
    conditions = obs[spec.condition_key].astype(str)
    for role, value in (("control", spec.control), ("stimulated", spec.stimulated)):
        _require(value, sorted(conditions.unique()),
                 f"The {role} value '{value}' is not in column '{spec.condition_key}'")
    if spec.control == spec.stimulated:
        raise ConfigError("The control and stimulated values must differ.")
    types = obs[spec.cell_type_key].astype(str)
    if spec.holdout not in set(types):
        raise ConfigError(f"Cell type '{spec.holdout}' is not in column '{spec.cell_type_key}'; "
                          f"its values are: {', '.join(sorted(types.unique()))}.")
    held = types == spec.holdout
    for role, value in (("control", spec.control), ("stimulated", spec.stimulated)):
        if int((held & (conditions == value)).sum()) < 2:
            raise ConfigError(f"Cell type '{spec.holdout}' has fewer than 2 {role} cells; "
                              "choose another held-out type.")
    others = ~held
    if not ((others & (conditions == spec.stimulated)).any()
            and (others & (conditions == spec.control)).any()):
        raise ConfigError("The other cell types need both control and stimulated cells to "
                          "learn the stimulation response.")


def split_cells(obs: pd.DataFrame, spec: ScgenSpec) -> CellSplit:
    """Training cells and the held-out type's control and stimulated cells (row indices).

    Cells whose condition is neither control nor stimulated are left out of everything.
    """
    check_spec(obs, spec)
    cond = obs[spec.condition_key].astype(str).to_numpy()
    types = obs[spec.cell_type_key].astype(str).to_numpy()
    in_study = (cond == spec.control) | (cond == spec.stimulated)
    held_stim = (types == spec.holdout) & (cond == spec.stimulated)
    held_ctrl = (types == spec.holdout) & (cond == spec.control)
    return CellSplit(train_idx=np.flatnonzero(in_study & ~held_stim),
                     holdout_ctrl_idx=np.flatnonzero(held_ctrl),
                     holdout_stim_idx=np.flatnonzero(held_stim))


def balance_by_resampling(idx: np.ndarray, labels: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """Resample each label's cells (with replacement) up to the largest label's count.

    As scGen's ``balancer``: every label present in ``labels[idx]`` ends with exactly
    ``max count`` rows, so a mean over the result weighs cell types equally.
    """
    idx = np.asarray(idx)
    if len(idx) == 0:
        return idx
    groups = pd.Series(idx).groupby(np.asarray(labels)[idx]).apply(np.asarray)
    largest = max(len(g) for g in groups)
    return np.concatenate([rng.choice(g, size=largest, replace=True) for g in groups])


def balanced_condition_sets(obs: pd.DataFrame, spec: ScgenSpec, train_idx: np.ndarray, *,
                            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Balanced control and stimulated training rows for δ (scGen's recipe).

    Cell types are balanced by resampling within each condition, then both conditions are
    subsampled (without replacement) to the smaller one's size.
    """
    rng = np.random.default_rng(seed)
    cond = obs[spec.condition_key].astype(str).to_numpy()
    types = obs[spec.cell_type_key].astype(str).to_numpy()
    train_idx = np.asarray(train_idx)
    ctrl = balance_by_resampling(train_idx[cond[train_idx] == spec.control], types, rng)
    stim = balance_by_resampling(train_idx[cond[train_idx] == spec.stimulated], types, rng)
    n = min(len(ctrl), len(stim))
    if n == 0:
        raise ConfigError("The training cells need both control and stimulated cells.")
    return (rng.choice(ctrl, size=n, replace=False), rng.choice(stim, size=n, replace=False))


def mean_delta(features: np.ndarray, ctrl_rows: np.ndarray, stim_rows: np.ndarray) -> np.ndarray:
    """δ = mean(features[stim_rows]) − mean(features[ctrl_rows]) (rows may repeat)."""
    f = np.asarray(features, dtype=np.float64)
    return (f[np.asarray(stim_rows)].mean(axis=0) - f[np.asarray(ctrl_rows)].mean(axis=0))


def squared_pearson(x: np.ndarray, y: np.ndarray) -> float:
    """R² as scGen reports it: the squared Pearson correlation of ``x`` and ``y``.

    (``scipy.stats.linregress(x, y).rvalue ** 2``.) NaN when either is constant.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def _r2_of_gene_stat(stat: str, predicted: np.ndarray, real: np.ndarray,
                     genes: Sequence[int] | None) -> float:
    p = getattr(_dense(predicted), stat)(axis=0)
    r = getattr(_dense(real), stat)(axis=0)
    if genes is not None:
        p, r = p[np.asarray(genes)], r[np.asarray(genes)]
    return squared_pearson(p, r)


def r2_of_means(predicted: np.ndarray, real: np.ndarray,
                genes: Sequence[int] | None = None) -> float:
    """R² of per-gene means (over cells) of ``predicted`` vs ``real`` (optionally gene subset)."""
    return _r2_of_gene_stat("mean", predicted, real, genes)


def r2_of_variances(predicted: np.ndarray, real: np.ndarray,
                    genes: Sequence[int] | None = None) -> float:
    """R² of per-gene variances (over cells) of ``predicted`` vs ``real``."""
    return _r2_of_gene_stat("var", predicted, real, genes)


def rank_degs(control: np.ndarray, stimulated: np.ndarray, gene_names: Sequence[str]
              ) -> pd.DataFrame:
    """Wilcoxon rank-sum test of stimulated vs control cells, per gene (scanpy).

    Returns
    -------
    DataFrame
        Indexed by gene name in the input order, columns ``deg_score`` (z-score, positive =
        up in stimulated), ``deg_logfc``, ``deg_pval_adj`` (Benjamini–Hochberg) and
        ``deg_rank`` (0 = highest score, as scanpy orders ``names['stimulated']``; scGen's
        "top-100 DEGs" are ranks 0–99).
    """
    import anndata
    import scanpy as sc

    x = np.vstack([_dense(control), _dense(stimulated)]).astype(np.float32)
    groups = ["control"] * len(control) + ["stimulated"] * len(stimulated)
    names = pd.Index(map(str, gene_names))
    ad = anndata.AnnData(X=x, obs=pd.DataFrame({"group": pd.Categorical(groups)},
                                          index=[f"cell{i}" for i in range(len(groups))]),
                         var=pd.DataFrame(index=names.astype(str)))
    ad.var_names_make_unique()
    sc.tl.rank_genes_groups(ad, "group", groups=["stimulated"], reference="control",
                            method="wilcoxon", n_genes=ad.n_vars, tie_correct=True)
    res = ad.uns["rank_genes_groups"]
    ranked = pd.DataFrame({
        "gene": [r[0] for r in res["names"]],
        "deg_score": [float(r[0]) for r in res["scores"]],
        "deg_logfc": [float(r[0]) for r in res["logfoldchanges"]],
        "deg_pval_adj": [float(r[0]) for r in res["pvals_adj"]],
    })
    ranked["deg_rank"] = np.arange(len(ranked))
    table = ranked.set_index("gene").reindex(ad.var_names)
    table.index = names
    return table


def top_deg_indices(degs: pd.DataFrame, n: int = N_TOP_DEGS) -> np.ndarray:
    """Column indices of the ``n`` best-ranked DEGs (``deg_rank`` from :func:`rank_degs`)."""
    ranks = degs["deg_rank"].to_numpy()
    return np.flatnonzero(ranks < n)[np.argsort(ranks[ranks < n])]


def control_unchanged(holdout_ctrl: np.ndarray) -> np.ndarray:
    """Baseline: the held-out type's control cells, as they are."""
    return _dense(holdout_ctrl).astype(np.float32)


def mean_shift(holdout_ctrl: np.ndarray, x: np.ndarray, obs: pd.DataFrame, spec: ScgenSpec,
               train_idx: np.ndarray) -> np.ndarray:
    """Baseline: control + the mean gene-space shift of the *other* cell types.

    The shift is the average over the other types (each weighted equally) of
    mean(stimulated) − mean(control); types lacking either condition are skipped.
    """
    cond = obs[spec.condition_key].astype(str).to_numpy()
    types = obs[spec.cell_type_key].astype(str).to_numpy()
    train_idx = np.asarray(train_idx)
    shifts = []
    for t in sorted(set(types[train_idx]) - {spec.holdout}):
        rows = train_idx[types[train_idx] == t]
        ctrl, stim = rows[cond[rows] == spec.control], rows[cond[rows] == spec.stimulated]
        if len(ctrl) and len(stim):
            shifts.append(_dense(x[stim]).mean(axis=0) - _dense(x[ctrl]).mean(axis=0))
    if not shifts:
        raise ConfigError("No other cell type has both control and stimulated cells.")
    return np.maximum(_dense(holdout_ctrl) + np.mean(shifts, axis=0), 0).astype(np.float32)


def pca_delta(holdout_ctrl: np.ndarray, x: np.ndarray, train_idx: np.ndarray,
              ctrl_rows: np.ndarray, stim_rows: np.ndarray, *, n_components: int = 100,
              seed: int = 0) -> np.ndarray:
    """Baseline: scGen's arithmetic with PCA as the encoder/decoder.

    PCA is fitted on the training cells; δ = mean PC(stim rows) − mean PC(ctrl rows) over the
    same balanced rows as scGen's δ; prediction = inverse_transform(PC(held-out ctrl) + δ).
    """
    from sklearn.decomposition import PCA

    train = _dense(x[np.asarray(train_idx)])
    n_components = int(min(n_components, min(train.shape) - 1))
    model = PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(train)
    pcs = np.zeros((x.shape[0], n_components))
    rows = np.unique(np.concatenate([ctrl_rows, stim_rows]))
    pcs[rows] = model.transform(_dense(x[rows]))
    delta = mean_delta(pcs, ctrl_rows, stim_rows)
    pred = model.inverse_transform(model.transform(_dense(holdout_ctrl)) + delta)
    return np.maximum(pred, 0).astype(np.float32)


def score(predicted: np.ndarray, real: np.ndarray, top_degs: np.ndarray,
          space: ReferenceSpace | None = None) -> dict[str, float]:
    """R² of means and variances, plus distribution distances when ``space`` is given.

    Returns ``r2_all``, ``r2_top100`` (means), ``r2_var``, ``r2_var_top100`` (variances) and,
    with a :class:`~core.analysis.distributions.ReferenceSpace` fitted on the real cells,
    ``energy``, ``mmd`` and ``knn_mixing`` (see :mod:`core.analysis.distributions`).
    """
    out = {"r2_all": r2_of_means(predicted, real),
           "r2_top100": r2_of_means(predicted, real, top_degs),
           "r2_var": r2_of_variances(predicted, real),
           "r2_var_top100": r2_of_variances(predicted, real, top_degs)}
    if space is not None:
        out.update(distribution_scores(space, _dense(predicted)))
    return out


def score_methods(predictions: dict[str, np.ndarray], control: np.ndarray, real: np.ndarray,
                  top_degs: np.ndarray, *, seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`score` of every method's prediction in one PCA space of the real cells.

    The space is fitted on the held-out type's real stimulated and control cells only (never on
    a prediction), so every method is measured in the same coordinates with the same kernel.
    """
    space = fit_reference_space(_dense(real), context=_dense(control), seed=seed)
    return {m: score(p, real, top_degs, space) for m, p in predictions.items()}


def scores_table(scores: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per method (the default first, then the other variant and the baselines)."""
    rows = [{"method": m, "title": METHOD_TITLES.get(m, m), **scores[m]}
            for m in METHODS if m in scores]
    return pd.DataFrame(rows)


#: Scores where lower is better (the rest: higher is better, kNN mixing: closer to 1).
LOWER_IS_BETTER = ("energy", "mmd")


def score_goodness(key: str, values: pd.Series) -> pd.Series:
    """``values`` of score ``key`` turned so that higher is always better (for ranking)."""
    if key in LOWER_IS_BETTER:
        return -values
    if key == "knn_mixing":
        return -(values - 1.0).abs()
    return values


def best_per_score(table: pd.DataFrame) -> dict[str, str]:
    """For each score column of a :func:`scores_table`, the method with the best value."""
    out = {}
    for key in SCORE_TITLES:
        if key in table and table[key].notna().any():
            out[key] = str(table.loc[score_goodness(key, table[key]).idxmax(), "method"])
    return out


def gene_table(gene_names: Sequence[str], *, control: np.ndarray, real: np.ndarray,
               predicted: np.ndarray, degs: pd.DataFrame,
               n_top: int = N_TOP_DEGS) -> pd.DataFrame:
    """Per-gene table: means and variances (control, real, predicted), DE statistics, residual.

    ``residual`` = mean predicted − mean real stimulated; ``is_top_deg`` marks the genes
    behind ``r2_top100``.
    """
    c, r, p = _dense(control), _dense(real), _dense(predicted)
    table = pd.DataFrame({
        "gene": list(map(str, gene_names)),
        "mean_control": c.mean(axis=0), "mean_real": r.mean(axis=0),
        "mean_predicted": p.mean(axis=0),
        "var_control": c.var(axis=0), "var_real": r.var(axis=0), "var_predicted": p.var(axis=0),
    })
    table["residual"] = table["mean_predicted"] - table["mean_real"]
    for col in ("deg_score", "deg_logfc", "deg_pval_adj", "deg_rank"):
        table[col] = degs[col].to_numpy()
    table["is_top_deg"] = table["deg_rank"] < n_top
    return table


def _dense(x: Any) -> np.ndarray:
    if sp.issparse(x):
        return np.asarray(x.toarray(), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def log_expression(adata: Any) -> np.ndarray:
    """The log-normalised matrix scGen reads, dense float32.

    ``layers['log1p']`` of data preprocessed by :func:`core.data.preprocess.preprocess` (the
    values before scaling); otherwise ``X`` when it already holds log-normalised values.
    Scaled or raw-count ``X`` without that layer is refused (preprocess it first).
    """
    from core.data.validate import detect_x_kind

    if "log1p" in adata.layers:
        x = adata.layers["log1p"]
    elif detect_x_kind(adata.X) == "log-normalized":
        x = adata.X
    else:
        raise DataError("scGen needs log-normalised expression: preprocess the data first "
                        "(it stores the values before scaling in layers['log1p']).")
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise DataError("The log-normalised matrix has NaN or Inf values.")
    return x
