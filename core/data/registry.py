"""Bundled datasets, registered by name so that the UI and the CLI list the same ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import DataError

if TYPE_CHECKING:
    from anndata import AnnData

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_DATASET = "kang_pbmc"


@dataclass(frozen=True)
class DatasetInfo:
    """What a bundled dataset is, and the defaults that suit it.

    Attributes
    ----------
    name
        Registry key, e.g. ``"kang_pbmc"``.
    title
        One-line description for lists.
    species
        ``"human"`` or ``"mouse"`` (picks the TF list and prior network).
    x_kind
        What ``X`` holds as shipped: ``"counts"``, ``"log-normalized"`` or ``"scaled"``.
    n_obs, n_vars
        Shape as shipped (listed without loading the file).
    label_key
        The obs column with known cell labels used for scoring.
    condition_key, control, stimulated
        For perturbation data, the condition column and its two values.
    batch_key
        The obs column of technical batches, for integration benchmarks (optional).
    citation
        Where the data comes from.
    """

    name: str
    title: str
    species: str
    x_kind: str
    label_key: str
    n_obs: int
    n_vars: int
    loader: Callable[[], AnnData] = field(repr=False, compare=False)
    condition_key: str | None = None
    control: str | None = None
    stimulated: str | None = None
    citation: str = ""
    batch_key: str | None = None


def _read_asset(filename: str) -> Callable[[], AnnData]:
    def load() -> AnnData:
        import anndata

        return anndata.read_h5ad(ASSETS_DIR / "datasets" / filename)

    return load


def _load_pbmc68k_reduced() -> AnnData:
    """Scanpy's bundled copy; X there is scaled, so log-normalised ``raw`` becomes X."""
    import anndata
    import scanpy as sc

    ad = sc.datasets.pbmc68k_reduced()
    out = anndata.AnnData(X=ad.raw.X.copy(), obs=ad.obs.copy(), var=ad.raw.var.copy())
    return out


DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> None:
    """Add a dataset to the registry (later modules register generated ones, e.g. simulators)."""
    DATASETS[info.name] = info


def _load_symphony() -> AnnData:
    """X is log(CP10k+1); the exact integer UMI counts (``counts_reconstructed``, derived
    from X and nUMI, see assets/SOURCES.md) become ``layers['counts']`` for the count models."""
    adata = _read_asset("symphony_pbmc_3batches_1200cells.h5ad")()
    adata.layers["counts"] = adata.layers.pop("counts_reconstructed")
    return adata


def _load_synthetic_grn() -> AnnData:
    from core.data.simulate import load_synthetic_grn

    return load_synthetic_grn()


#: Loaders of the datasets that are not one .h5ad read as it is (``loader`` in datasets.toml).
_LOADERS: dict[str, Callable[[], AnnData]] = {
    "pbmc68k_reduced": _load_pbmc68k_reduced,
    "symphony_pbmc": _load_symphony,
    "synthetic_grn": _load_synthetic_grn,
}


def _bundled_table(path: Path = ASSETS_DIR / "datasets.toml") -> list[DatasetInfo]:
    """The :class:`DatasetInfo` rows of ``assets/datasets.toml``, in its order."""
    import tomllib

    rows = tomllib.loads(path.read_text(encoding="utf-8"))["dataset"]
    out = []
    for row in rows:
        loader = str(row.pop("loader"))
        out.append(DatasetInfo(**row, loader=(_read_asset(loader[5:]) if loader.startswith("file:")
                                              else _LOADERS[loader])))
    return out


for _info in _bundled_table():
    register(_info)


def get_info(name: str) -> DatasetInfo:
    """Return the registry entry for ``name`` or raise a DataError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"No bundled dataset named '{name}'. Bundled datasets: {', '.join(DATASETS)}."
        ) from None


def load_bundled(name: str) -> AnnData:
    """Load a bundled dataset as an AnnData.

    Parameters
    ----------
    name
        A key of :data:`DATASETS`.

    Returns
    -------
    AnnData
        With ``uns['dataset_name']`` set and string obs columns as categoricals.
    """
    info = get_info(name)
    adata = info.loader()
    adata.uns["dataset_name"] = name
    adata.strings_to_categoricals()
    return adata


def list_datasets() -> pd.DataFrame:
    """Table of bundled datasets (name, title, species, cells, genes, X, label column)."""
    rows = []
    for info in DATASETS.values():
        rows.append(
            {
                "name": info.name,
                "title": info.title,
                "species": info.species,
                "cells": info.n_obs,
                "genes": info.n_vars,
                "x": info.x_kind,
                "label_key": info.label_key,
                "condition_key": info.condition_key or "",
            }
        )
    return pd.DataFrame(rows)
