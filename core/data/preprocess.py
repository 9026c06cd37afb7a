"""Preprocessing with scanpy, with defaults that adapt to what X already holds.

``preprocess`` never modifies its input: it returns a new AnnData in which ``X`` is what the
models read, raw counts (when X held counts) are in ``layers['counts']``, log-normalised values
in ``layers['log1p']``, highly variable genes flagged in ``var['highly_variable']`` and the
settings actually applied in ``uns['preprocess']``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data.validate import detect_x_kind
from core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from anndata import AnnData

HVG_FLAVORS = ("seurat", "cell_ranger")


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing settings; ``None`` means "decide from what X holds".

    Attributes
    ----------
    normalize
        Total-count normalise each cell to ``target_sum``. Auto: only when X holds counts.
    target_sum
        Counts per cell after normalisation (1e4 as in scanpy's tutorials).
    log1p
        Apply ``log(1 + x)``. Auto: when X holds counts or normalised but not logged values,
        so already log-normalised data (e.g. ``kang_pbmc``) is not logged twice.
    n_top_genes
        Number of highly variable genes to flag (``None``: flag none).
    hvg_flavor
        ``"seurat"`` or ``"cell_ranger"`` (both work on log-normalised data).
    subset_hvg
        Keep only the highly variable genes.
    scale
        Scale each gene to zero mean and unit variance. Auto: unless X is already scaled.
    clip
        Clip scaled values at ± this value (``None``: no clipping).
    min_cells
        Drop genes detected in fewer cells than this (0 keeps every gene).
    """

    normalize: bool | None = None
    target_sum: float = 1e4
    log1p: bool | None = None
    n_top_genes: int | None = 2000
    hvg_flavor: str = "seurat"
    subset_hvg: bool = False
    scale: bool | None = None
    clip: float | None = 10.0
    min_cells: int = 1

    def resolved(self, x_kind: str) -> PreprocessConfig:
        """Return a copy with every ``None`` decided for data whose X holds ``x_kind``."""
        return replace(
            self,
            normalize=(x_kind == "counts") if self.normalize is None else self.normalize,
            log1p=(x_kind in ("counts", "normalized")) if self.log1p is None else self.log1p,
            scale=(x_kind != "scaled") if self.scale is None else self.scale,
        )

    def to_dict(self) -> dict:
        """Settings as a JSON-serialisable dict."""
        return asdict(self)


def preprocess(adata: AnnData, config: PreprocessConfig | None = None) -> AnnData:
    """Preprocess a copy of ``adata`` for the models.

    Parameters
    ----------
    adata
        As loaded (validated). Not modified.
    config
        Settings; defaults adapt to what X holds (see :class:`PreprocessConfig`).

    Returns
    -------
    AnnData
        A new object. ``X`` float32 (dense once scaled); ``layers['counts']`` when the input held
        counts; ``layers['log1p']`` the normalised log values before scaling;
        ``var['highly_variable']``; ``uns['preprocess']`` with the resolved settings and the
        detected ``x_kind``.
    """
    import scanpy as sc

    config = config or PreprocessConfig()
    if config.hvg_flavor not in HVG_FLAVORS:
        raise ConfigError(f"Unknown HVG flavor '{config.hvg_flavor}'; use one of {HVG_FLAVORS}.")
    x_kind = detect_x_kind(adata.X)
    cfg = config.resolved(x_kind)
    if (cfg.normalize or cfg.log1p) and x_kind == "scaled":
        raise DataError(
            "X has negative values (it looks scaled already), so it cannot be normalised or "
            "log-transformed. Turn off 'normalise' and 'log1p', or load the raw counts."
        )

    out = adata.copy()
    out.X = out.X.astype(np.float32) if out.X.dtype != np.float32 else out.X
    if x_kind == "counts":
        out.layers["counts"] = out.X.copy()
    # min_cells = 0 keeps every gene; on scaled data "detected" means little, so the default 1
    # (drop never-detected genes) only applies to non-negative data.
    if cfg.min_cells > 1 or (cfg.min_cells == 1 and x_kind != "scaled"):
        keep = _detected_in(out.X, cfg.min_cells)
        if keep.sum() < 2:        # one gene left: HVG selection and PCA (0 components) fail
            raise DataError(f"{int(keep.sum())} gene(s) detected in at least {cfg.min_cells} "
                            "cells; a model needs 2 or more. Lower 'Drop genes seen in fewer "
                            "cells than' or load a matrix with more genes.")
        if keep.sum() < out.n_vars:
            out = out[:, keep].copy()
    if cfg.normalize:
        sc.pp.normalize_total(out, target_sum=cfg.target_sum)
    if cfg.log1p:
        sc.pp.log1p(out)
        out.uns.pop("log1p", None)
    out.layers["log1p"] = out.X.copy()
    if cfg.n_top_genes:
        n_top = min(cfg.n_top_genes, out.n_vars)
        sc.pp.highly_variable_genes(out, n_top_genes=n_top, flavor=cfg.hvg_flavor,
                                    subset=cfg.subset_hvg)
    else:
        out.var["highly_variable"] = False
    if cfg.scale:
        if sp.issparse(out.X):  # centring densifies anyway; do it explicitly, once
            out.X = out.X.toarray()
        sc.pp.scale(out, max_value=cfg.clip, zero_center=True)
    if sp.issparse(out.X):
        out.X = sp.csr_matrix(out.X, dtype=np.float32)
    else:
        out.X = np.asarray(out.X, dtype=np.float32)
    # h5ad cannot store None in uns: leave unset options out.
    settings = {k: v for k, v in cfg.to_dict().items() if v is not None}
    out.uns["preprocess"] = {**settings, "x_kind": x_kind}
    return out


def _detected_in(X, min_cells: int) -> np.ndarray:
    if sp.issparse(X):
        n = np.diff(sp.csc_matrix(X).indptr)
    else:
        n = np.count_nonzero(X, axis=0)
    return np.asarray(n).ravel() >= min_cells


def qc_metrics(adata: AnnData) -> pd.DataFrame:
    """Per-cell QC: total counts (or total expression) and number of detected genes.

    Reads ``layers['counts']`` when present, else X. Returns a DataFrame indexed by cell.
    """
    X = adata.layers["counts"] if "counts" in adata.layers else adata.X
    if sp.issparse(X):
        totals = np.asarray(X.sum(axis=1)).ravel()
        detected = np.diff(sp.csr_matrix(X).indptr)
    else:
        totals = np.asarray(X).sum(axis=1)
        detected = np.count_nonzero(X, axis=1)
    return pd.DataFrame(
        {"total_counts": totals, "n_genes_by_counts": detected}, index=adata.obs_names
    )


def summarize(adata: AnnData) -> dict:
    """JSON-ready summary: shape, what X holds, obs columns with their number of categories."""
    kind = detect_x_kind(adata.X)
    columns = {}
    for col in adata.obs.columns:
        s = adata.obs[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or s.dtype == bool:
            columns[col] = {"type": "categorical", "n_categories": int(s.nunique())}
        else:
            columns[col] = {"type": str(s.dtype), "n_categories": None}
    return {
        "name": adata.uns.get("dataset_name"),
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
        "x_kind": kind,
        "x_is_counts": kind == "counts",
        "x_sparse": bool(sp.issparse(adata.X)),
        "layers": list(adata.layers.keys()),
        "obs_columns": columns,
    }


#: Most distinct values an integer obs column may have to be offered as labels: cluster ids,
#: batches and donors have a few; a per-cell count such as ``n_genes`` has hundreds.
MAX_INTEGER_LABELS = 50


def label_column_report(adata: AnnData, *, max_categories: int = 200) -> dict[str, str | None]:
    """Each obs column → ``None`` when it can be used as labels, else why it cannot.

    Categorical, string and boolean columns with 2..``max_categories`` values are labels,
    and so are integer columns with 2..:data:`MAX_INTEGER_LABELS` values (issue 21: cluster
    numbers were never offered, and nothing said why). Reasons are short phrases for a table.
    """
    out: dict[str, str | None] = {}
    for col in adata.obs.columns:
        s = adata.obs[col]
        n = int(s.nunique())
        if pd.api.types.is_bool_dtype(s.dtype):
            limit = 2
        elif pd.api.types.is_integer_dtype(s.dtype):
            limit = MAX_INTEGER_LABELS
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[str(col)] = "decimal numbers"
            continue
        else:
            limit = max_categories
        out[str(col)] = ("only one value" if n < 2 else
                         None if n <= limit else f"{n:,} values (max {limit})")
    return out


def categorical_columns(adata: AnnData, *, max_categories: int = 200) -> list[str]:
    """Obs columns usable as labels (see :func:`label_column_report`)."""
    return [c for c, why in label_column_report(adata, max_categories=max_categories).items()
            if why is None]
