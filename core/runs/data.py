"""The data a run was trained on, read again and checked against the run's fingerprint."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.data.io import read
from core.data.preprocess import PreprocessConfig, preprocess
from core.errors import DataError
from core.runs.fingerprint import run_matches


def run_data(run: Any, data: str | None = None) -> Any:
    """The preprocessed AnnData a TF-VAE run was trained on (checked by fingerprint).

    Reads ``data`` (a bundled name or a path; default: the dataset recorded in the run) and
    preprocesses it as the Data page and ``python -m core train`` do (default settings, then
    HVGs only), keeping the first whose fingerprint matches the run.
    """
    name = data or run.config.get("data", {}).get("name")
    if not name:
        raise DataError(f"Run {run.id} records no dataset; pass --data NAME_OR_PATH.")
    raw = read(name).adata
    for config in (PreprocessConfig(), replace(PreprocessConfig(), subset_hvg=True)):
        adata = preprocess(raw, config)
        if run_matches(run, adata):
            return adata
    raise DataError(f"The data '{name}' preprocessed with the default settings is not the data "
                    f"run {run.id} was trained on (fingerprints differ); pass --data with the "
                    "exact (preprocessed) .h5ad the run used.")
