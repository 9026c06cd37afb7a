"""Validation of loaded matrices and detection of what X holds.

Each check raises :class:`~core.errors.DataError` with a message that says what is wrong and
what to do, or returns a notice (a sentence for the user) when the problem was fixed in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.sparse as sp

from core.errors import DataError

if TYPE_CHECKING:
    from anndata import AnnData

XKind = Literal["counts", "log-normalized", "normalized", "scaled"]

#: log1p of a total-count normalised matrix stays far below this (log1p(1e6) ≈ 13.8).
_LOG_MAX = 30.0


def values_sample(X, max_values: int = 200_000, seed: int = 0) -> np.ndarray:
    """Return up to ``max_values`` stored values of ``X`` (non-zeros for sparse) as float64."""
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    if data.size > max_values:
        rng = np.random.default_rng(seed)
        data = data[rng.choice(data.size, size=max_values, replace=False)]
    return np.asarray(data, dtype=np.float64)


def detect_x_kind(X) -> XKind:
    """Guess what a matrix holds.

    Parameters
    ----------
    X
        Dense or sparse cells × genes matrix.

    Returns
    -------
    str
        ``"counts"`` (non-negative integers), ``"log-normalized"`` (non-negative, non-integer,
        max below 30), ``"normalized"`` (non-negative, non-integer, larger values such as CPM),
        or ``"scaled"`` (has negative values, e.g. z-scores).
    """
    values = values_sample(X)
    if values.size == 0:
        return "counts"
    if values.min() < 0:
        return "scaled"
    if np.all(np.equal(np.mod(values, 1.0), 0.0)):
        return "counts"
    if values.max() <= _LOG_MAX:
        return "log-normalized"
    return "normalized"


#: Fewest cells and genes accepted (PCA needs 2 components' worth, HVGs a ranking).
MIN_CELLS, MIN_GENES = 2, 2


def check_not_empty(adata: AnnData) -> None:
    """Raise if there is no matrix, fewer than 2 cells or genes, or no non-zero value."""
    if adata.X is None:
        raise DataError("The file has no expression matrix (X is missing). Write it with X set "
                        "(e.g. adata.X = adata.layers['counts']) and upload again.")
    if 0 < adata.n_obs < MIN_CELLS or 0 < adata.n_vars < MIN_GENES:
        raise DataError(
            f"The matrix has {adata.n_obs} cell(s) × {adata.n_vars} gene(s); PCA, highly "
            f"variable genes and the models need at least {MIN_CELLS} cells and {MIN_GENES} "
            "genes. Upload the whole matrix (cells as rows, genes as columns)."
        )
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise DataError(
            f"The matrix is empty ({adata.n_obs} cells × {adata.n_vars} genes). "
            "Check that the file holds expression values with cells and genes, and upload again."
        )
    nnz = adata.X.nnz if sp.issparse(adata.X) else int(np.count_nonzero(adata.X))
    if nnz == 0:
        raise DataError(
            f"Every value of the {adata.n_obs} × {adata.n_vars} matrix is zero. "
            "Upload the file that holds the expression values."
        )


def check_finite(adata: AnnData) -> None:
    """Raise if X holds NaN or infinite values, naming the first offending cell and gene."""
    X = adata.X
    data = X.data if sp.issparse(X) else np.asarray(X)
    if not np.issubdtype(data.dtype, np.floating):
        return
    bad = ~np.isfinite(data)
    if not bad.any():
        return
    n_nan = int(np.isnan(data).sum())
    n_inf = int(bad.sum()) - n_nan
    if sp.issparse(X):
        coo = X.tocoo()
        first = int(np.flatnonzero(~np.isfinite(coo.data))[0])
        row, col = int(coo.row[first]), int(coo.col[first])
    else:
        row, col = (int(i[0]) for i in np.nonzero(bad))
    raise DataError(
        f"The matrix holds {n_nan} NaN and {n_inf} infinite values (first at cell "
        f"'{adata.obs_names[row]}', gene '{adata.var_names[col]}'). Replace missing values "
        "(usually by 0) or remove those cells/genes, then upload again."
    )


def make_names_unique(adata: AnnData) -> list[str]:
    """Make duplicated cell and gene names unique in place; return a notice for each fix."""
    notices = []
    for axis, label in (("var", "gene"), ("obs", "cell")):
        names = getattr(adata, f"{axis}_names")
        dup = names[names.duplicated()]
        if len(dup):
            examples = ", ".join(f"'{n}'" for n in dup.unique()[:3])
            getattr(adata, f"{axis}_names_make_unique")()
            notices.append(
                f"{len(dup)} duplicated {label} names (e.g. {examples}) were made unique by "
                "appending -1, -2, … to the repeats."
            )
    return notices


def require_counts(X, *, what: str = "X") -> None:
    """Raise unless ``X`` holds non-negative integer counts.

    Parameters
    ----------
    X
        The matrix to check.
    what
        How to name the matrix in the message, e.g. ``"layers['counts']"``.
    """
    values = values_sample(X, max_values=1_000_000)
    if values.size and values.min() < 0:
        raise DataError(
            f"{what} has negative values (min {values.min():.3g}), so it does not hold counts. "
            "Use the raw UMI counts (layers['counts'] or an unprocessed upload), or choose the "
            "Gaussian likelihood, which reads processed data."
        )
    if values.size and not np.all(np.equal(np.mod(values, 1.0), 0.0)):
        example = values[np.mod(values, 1.0) != 0][0]
        raise DataError(
            f"{what} has non-integer values (e.g. {example:.3g}), so it "
            "does not hold counts. Use the raw UMI counts (layers['counts']), or choose the "
            "Gaussian likelihood, which reads processed data."
        )


def validate(adata: AnnData) -> list[str]:
    """Run every check on a freshly read AnnData, fixing what can be fixed in place.

    Parameters
    ----------
    adata
        The object as read; it may be modified (CSR conversion, unique names).

    Returns
    -------
    list of str
        Notices for the user about what was fixed.
    """
    if sp.issparse(adata.X) and adata.X.format != "csr":
        adata.X = sp.csr_matrix(adata.X)
    check_not_empty(adata)
    check_finite(adata)
    return make_names_unique(adata)
