"""Splits, baselines and scores for phenotypes of gene sets (pure functions of lists/arrays).

Splits answer the questions users ask: ``random`` held-out sets; ``pairs`` — held-out
combinations whose genes were all measured alone (singles always train); ``genes`` — held-out
genes: every set containing one is held out, so the model has never seen those genes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.errors import ConfigError

SPLITS = ("pairs", "random", "genes")
GeneSet = tuple[str, ...]


@dataclass(frozen=True)
class SetSplit:
    """Row indices of the train, validation (early stopping) and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    held_out_genes: tuple[str, ...] = ()


def _three_way(rows: np.ndarray, rng: np.random.Generator, test_fraction: float,
               val_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = rng.permutation(rows)
    n_test = int(round(len(rows) * test_fraction))
    n_val = int(round((len(rows) - n_test) * val_fraction))
    return rows[n_test + n_val:], rows[n_test:n_test + n_val], rows[:n_test]


def _genes_split(sets: list[GeneSet], rng: np.random.Generator, test_fraction: float,
                 val_fraction: float) -> SetSplit:
    genes = rng.permutation(sorted({g for s in sets for g in s}))
    n_test = max(1, int(round(len(genes) * test_fraction)))
    n_val = max(1, int(round((len(genes) - n_test) * val_fraction)))
    test_genes, val_genes = set(genes[:n_test]), set(genes[n_test:n_test + n_val])
    test, val, train = [], [], []
    for i, s in enumerate(sets):
        if test_genes.intersection(s):
            test.append(i)
        elif val_genes.intersection(s):
            val.append(i)
        else:
            train.append(i)
    return SetSplit(np.array(train, int), np.array(val, int), np.array(test, int),
                    tuple(sorted(test_genes)))


def split_sets(sets: list[GeneSet], kind: str = "pairs", *, seed: int = 0,
               test_fraction: float = 0.2, val_fraction: float = 0.1) -> SetSplit:
    """Split rows of a phenotype table into train / validation / test without leakage.

    Parameters
    ----------
    sets
        One gene set per row.
    kind
        ``pairs``: test and validation are multi-gene sets whose genes all have a measured
        single; every single trains. ``random``: any rows. ``genes``: a fraction of GENES is held
        out; every set containing one is test (validation holds out further genes likewise).
    seed, test_fraction, val_fraction
        Random seed; fraction of rows (genes for ``genes``) held out for testing; fraction of
        the rest used for early stopping.

    Returns
    -------
    SetSplit
    """
    if kind not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got '{kind}'.")
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1):
        raise ConfigError("test_fraction must be in (0, 1) and val_fraction in [0, 1).")
    rng = np.random.default_rng(seed)
    if kind == "genes":
        return _genes_split(sets, rng, test_fraction, val_fraction)
    rows = np.arange(len(sets))
    if kind == "random":
        return SetSplit(*_three_way(rows, rng, test_fraction, val_fraction))
    measured = {s[0] for s in sets if len(s) == 1}
    eligible = np.array([i for i, s in enumerate(sets) if len(s) > 1 and measured.issuperset(s)],
                        dtype=int)
    if len(eligible) < 3:
        raise ConfigError("The pairs split needs combinations whose genes were all measured "
                          "alone; this table has fewer than 3. Use --split random.")
    train, val, test = _three_way(eligible, rng, test_fraction, val_fraction)
    rest = np.setdiff1d(rows, eligible)
    return SetSplit(np.sort(np.concatenate([train, rest])), np.sort(val), np.sort(test))


# ---- baselines ----------------------------------------------------------------------------------


def singles_of(sets: list[GeneSet], values: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Mean measured phenotype of each gene alone, from the given rows only."""
    acc: dict[str, list[float]] = {}
    for i in rows:
        if len(sets[i]) == 1:
            acc.setdefault(sets[i][0], []).append(float(values[i]))
    return {g: float(np.mean(v)) for g, v in acc.items()}


def additive_expectation(sets: list[GeneSet], singles: dict[str, float]) -> np.ndarray:
    """Σ of the single phenotypes per set; NaN when a gene's single is unknown."""
    return np.array([sum(singles[g] for g in s) if all(g in singles for g in s) else np.nan
                     for s in sets], dtype=np.float64)


def mean_baseline(sets: list[GeneSet], values: np.ndarray, train: np.ndarray,
                  query: list[GeneSet]) -> np.ndarray:
    """Mean training phenotype of sets of the same size (overall mean for unseen sizes)."""
    by_size = pd.Series(values[train]).groupby([len(sets[i]) for i in train]).mean()
    overall = float(np.mean(values[train]))
    return np.array([float(by_size.get(len(s), overall)) for s in query])


def additive_baseline(sets: list[GeneSet], values: np.ndarray, train: np.ndarray,
                      query: list[GeneSet]) -> np.ndarray:
    """Σ of training singles; a gene without a training single counts as the mean single."""
    singles = singles_of(sets, values, train)
    fill = float(np.mean(list(singles.values()))) if singles else 0.0
    return np.array([sum(singles.get(g, fill) for g in s) for s in query])


def linear_additive_baseline(sets: list[GeneSet], values: np.ndarray, train: np.ndarray,
                             query: list[GeneSet]) -> np.ndarray:
    """α + β·additive, fitted on training multi-gene sets (singles: the additive baseline).

    Doubles regress towards the mean of doubles, so measured − additive correlates with the
    additive expectation itself; this baseline captures exactly that and no more, so a model
    must beat it to show it learned gene-specific interactions.
    """
    singles = singles_of(sets, values, train)
    multi = [i for i in train if len(sets[i]) > 1]
    add_train = additive_expectation([sets[i] for i in multi], singles)
    ok = np.isfinite(add_train)
    add = additive_baseline(sets, values, train, query)
    if ok.sum() < 3:
        return add
    beta, alpha = np.polyfit(add_train[ok], values[np.array(multi)[ok]], 1)
    return np.where([len(s) > 1 for s in query], alpha + beta * add, add)


def set_design(sets: list[GeneSet], genes: list[str], features: np.ndarray | None
               ) -> np.ndarray:
    """One row per set for a linear model: with ``features`` (genes × k, rows in ``genes``
    order) Σ f_i and Σ_{i<j} f_i ⊙ f_j (so pairs can interact through their features) and the
    set size; without, the gene indicators (a fitted additive model) and the set size."""
    index = {g: i for i, g in enumerate(genes)}
    if features is None:
        out = np.zeros((len(sets), len(genes) + 1))
        for r, s in enumerate(sets):
            out[r, [index[g] for g in s]] = 1.0
            out[r, -1] = len(s)
        return out
    k = features.shape[1]
    out = np.zeros((len(sets), 2 * k + 1))
    for r, s in enumerate(sets):
        f = features[[index[g] for g in s]]
        total = f.sum(0)
        out[r, :k] = total
        out[r, k:2 * k] = (total ** 2 - (f ** 2).sum(0)) / 2      # Σ_{i<j} f_i ⊙ f_j
        out[r, -1] = len(s)
    return out


def ridge_baseline(sets: list[GeneSet], values: np.ndarray, train: np.ndarray,
                   query: list[GeneSet], *, genes: list[str],
                   features: np.ndarray | None = None) -> np.ndarray:
    """Ridge regression of the phenotype on :func:`set_design`, fitted on the training rows
    (penalty chosen by leave-one-out over 1e-2 … 1e3). With features it can predict sets of
    genes never seen in training; without, it is an additive model fitted on every set."""
    from sklearn.linear_model import RidgeCV

    model = RidgeCV(alphas=np.logspace(-2, 3, 6))
    model.fit(set_design([sets[i] for i in train], genes, features), values[train])
    return model.predict(set_design(query, genes, features))


def mf_interactions(sets: list[GeneSet], values: np.ndarray, train: np.ndarray, *,
                    rank: int = 8, l2: float = 0.1, n_iter: int = 30,
                    seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Low-rank model of the pairwise interaction, fitted by alternating ridge regressions.

    interaction(a, b) = measured − additive ≈ u_a·u_b + c_a + c_b, fitted on training PAIRS
    with known singles. Returns the genes and the symmetric matrix of fitted interactions.
    """
    singles = singles_of(sets, values, train)
    pairs = [(sets[i], values[i] - singles[sets[i][0]] - singles[sets[i][1]]) for i in train
             if len(sets[i]) == 2 and sets[i][0] in singles and sets[i][1] in singles]
    genes = sorted({g for s, _ in pairs for g in s})
    index = {g: i for i, g in enumerate(genes)}
    n = len(genes)
    if n == 0:
        return genes, np.zeros((0, 0))
    obs = np.full((n, n), np.nan)
    for (a, b), y in pairs:
        obs[index[a], index[b]] = obs[index[b], index[a]] = y
    rng = np.random.default_rng(seed)
    u = rng.normal(scale=0.1, size=(n, rank + 1))   # columns: rank factors, then the bias
    for _ in range(n_iter):
        for a in range(n):
            seen = ~np.isnan(obs[a])
            if not seen.any():
                continue
            design = np.column_stack([u[seen, :rank], np.ones(seen.sum())])
            target = obs[a, seen] - u[seen, rank]
            coef = np.linalg.solve(design.T @ design + l2 * np.eye(rank + 1), design.T @ target)
            u[a, :rank], u[a, rank] = coef[:rank], coef[rank]
    fitted = u[:, :rank] @ u[:, :rank].T + u[:, rank][:, None] + u[:, rank][None, :]
    return genes, fitted


def mf_baseline(sets: list[GeneSet], values: np.ndarray, train: np.ndarray,
                query: list[GeneSet], **mf_kwargs: float) -> np.ndarray:
    """Additive baseline + the low-rank interaction of :func:`mf_interactions` (pairs only)."""
    genes, fitted = mf_interactions(sets, values, train, **mf_kwargs)
    index = {g: i for i, g in enumerate(genes)}
    add = additive_baseline(sets, values, train, query)
    inter = np.array([fitted[index[s[0]], index[s[1]]]
                      if len(s) == 2 and s[0] in index and s[1] in index else 0.0
                      for s in query])
    return add + inter


# ---- scores ---------------------------------------------------------------------------------


def _corr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan"), float("nan")
    return float(stats.pearsonr(x[ok], y[ok])[0]), float(stats.spearmanr(x[ok], y[ok])[0])


def score_predictions(measured: np.ndarray, predicted: np.ndarray,
                      additive: np.ndarray) -> dict[str, float]:
    """Pearson/Spearman of the phenotype and of the interaction.

    The interaction is ``predicted − additive`` against ``measured − additive``, over sets whose
    additive expectation is known (``additive`` from measured singles).
    """
    pr, sr = _corr(measured, predicted)
    multi = np.isfinite(additive)
    ir, isr = _corr(measured[multi] - additive[multi], predicted[multi] - additive[multi])
    return {"pearson": pr, "spearman": sr, "interaction_pearson": ir,
            "interaction_spearman": isr, "n": int(len(measured)),
            "n_interaction": int(multi.sum())}


# ---- predicted pairs ------------------------------------------------------------------------


def interaction_matrix(pairs: pd.DataFrame) -> pd.DataFrame:
    """Genes × genes symmetric matrix of ``interaction`` from a table of ``A+B`` pairs, rows
    and columns in hierarchical-clustering order (average linkage, correlation distance);
    the diagonal is NaN."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    split = pairs["genes"].str.split("+", expand=True, regex=False)
    genes = sorted(set(split[0]) | set(split[1]))
    matrix = pd.DataFrame(0.0, index=genes, columns=genes)
    for a, b, v in zip(split[0], split[1], pairs["interaction"]):
        matrix.loc[a, b] = matrix.loc[b, a] = v
    if len(genes) > 2:
        values = matrix.to_numpy()
        spread = values.std(axis=1) > 0
        if spread.all():
            order = leaves_list(linkage(values, method="average", metric="correlation"))
            matrix = matrix.iloc[order, order]
    for g in genes:
        matrix.loc[g, g] = np.nan       # a gene with itself is not a pair
    return matrix


def rank_interactions(pairs: pd.DataFrame, sets: pd.DataFrame | None,
                      value_column: str) -> pd.DataFrame:
    """Rank every predicted pair by its interaction (genetic-interaction screen in silico).

    Parameters
    ----------
    pairs
        ``genes`` (``A+B``), ``predicted``, ``additive``, ``interaction`` (a run's predictions).
    sets
        The run's ``sets.csv`` (``genes``, ``value_column``, ``split``), or None.
    value_column
        The phenotype column of ``sets``.

    Returns
    -------
    DataFrame
        ``pairs`` with ``effect`` (synergy > 0, buffering < 0), ``in_data`` (the pair's part:
        train, val, test, or ``new`` when it was never measured), ``measured`` and
        ``measured_interaction`` (measured − additive) where measured, and ``rank`` (1 = most
        synergistic), sorted by the predicted interaction, largest first.
    """
    out = pairs.dropna(subset=["interaction"]).copy()
    if sets is not None and len(sets):
        grouped = sets.groupby("genes")
        out["measured"] = out["genes"].map(grouped[value_column].mean())
        out["in_data"] = out["genes"].map(grouped["split"].first()).fillna("new")
    else:
        out["measured"], out["in_data"] = np.nan, "new"
    out["measured_interaction"] = out["measured"] - out["additive"]
    out["effect"] = np.where(out["interaction"] > 0, "synergy", "buffering")
    out = out.sort_values("interaction", ascending=False).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
