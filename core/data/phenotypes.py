"""Phenotype tables of perturbed gene SETS, and the gene features a set model reads.

A phenotype table has one row per perturbation set: a ``genes`` column (``A`` or ``A+B+…``)
and a numeric value column (e.g. ``fitness``). Gene features come from a learned embedding, a
user's table (genes × features, CSV/TSV, read here) or a trained run folder of this product
(read by :mod:`core.recipes.phenotype_features`, which can open runs).

This module reads files only; it never imports training, models or the app.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError

ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets"
#: Bundled phenotype tables: name → (file, value column, description).
BUNDLED_TABLES: dict[str, tuple[str, str, str]] = {
    "norman_gi": ("datasets/norman_gi.tsv.gz", "fitness",
                  "K562 CRISPRa growth: 112 single genes and 4,973 pairs (Norman et al. 2019)"),
}
SET_SEPARATOR = "+"
MAX_SET_SIZE = 32


@dataclass(frozen=True)
class PhenotypeTable:
    """A validated phenotype table.

    Attributes
    ----------
    name
        Bundled name or file name.
    sets
        One tuple of gene names per row, sorted (a set has no order).
    values
        The phenotype per row (float64).
    genes
        Every gene of every set, sorted.
    value_column
        Name of the phenotype column it was read from.
    """

    name: str
    sets: list[tuple[str, ...]]
    values: np.ndarray
    genes: list[str]
    value_column: str = "fitness"
    extra: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __len__(self) -> int:
        return len(self.sets)

    def singles(self) -> dict[str, float]:
        """Measured phenotype of each gene perturbed alone (mean over repeated rows)."""
        out: dict[str, list[float]] = {}
        for s, v in zip(self.sets, self.values):
            if len(s) == 1:
                out.setdefault(s[0], []).append(float(v))
        return {g: float(np.mean(v)) for g, v in out.items()}

    def to_anndata(self) -> Any:
        """The table as AnnData: sets × genes membership (sparse ``X``), the phenotype in
        ``obs[value_column]`` (the scanpy shape, for the run config and notebook users)."""
        import anndata as ad
        import scipy.sparse as sp

        index = {g: i for i, g in enumerate(self.genes)}
        rows = np.repeat(np.arange(len(self.sets)), [len(s) for s in self.sets])
        cols = [index[g] for s in self.sets for g in s]
        x = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)),
                          shape=(len(self.sets), len(self.genes)))
        obs = pd.DataFrame({self.value_column: self.values},
                           index=[f"{i}:{join_set(s)}" for i, s in enumerate(self.sets)])
        return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=self.genes))

    def fingerprint(self) -> str:
        """Short hash of the sets and their values (ties a run to the exact table)."""
        h = hashlib.sha1()
        h.update("\x00".join(join_set(s) for s in self.sets).encode())
        h.update(np.round(self.values, 6).tobytes())
        return h.hexdigest()[:12]

    def frame(self) -> pd.DataFrame:
        """``genes`` (joined with ``+``), ``n_genes`` and the value column."""
        return pd.DataFrame({"genes": [join_set(s) for s in self.sets],
                             "n_genes": [len(s) for s in self.sets],
                             self.value_column: self.values})


def join_set(genes: tuple[str, ...] | list[str]) -> str:
    """``('A', 'B')`` → ``'A+B'``."""
    return SET_SEPARATOR.join(genes)


def parse_set(text: object) -> tuple[str, ...]:
    """Parse ``'A+B'`` (spaces and commas also separate) into a sorted tuple of unique genes.

    Raises
    ------
    DataError
        When the text holds no gene or more than :data:`MAX_SET_SIZE`.
    """
    raw = str(text if text is not None and text == text else "")
    parts = [p.strip() for p in raw.replace(",", "+").replace(" ", "+").split(SET_SEPARATOR)]
    genes = tuple(sorted({p for p in parts if p}))
    if not genes:
        raise DataError(f"'{raw}' is an empty gene set; write genes as A or A+B.")
    if len(genes) > MAX_SET_SIZE:
        raise DataError(f"A set has {len(genes)} genes; at most {MAX_SET_SIZE} are supported.")
    return genes


def pad_sets(sets: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Gene-index tuples → ``genes`` (int64) and ``mask`` (float32, 1 = a real gene) arrays,
    padded to the longest set with index 0."""
    width = max(len(s) for s in sets)
    genes = np.zeros((len(sets), width), dtype=np.int64)
    mask = np.zeros((len(sets), width), dtype=np.float32)
    for i, s in enumerate(sets):
        genes[i, :len(s)] = s
        mask[i, :len(s)] = 1.0
    return genes, mask


def set_arrays(table: PhenotypeTable, rows: np.ndarray, index: dict[str, int]
               ) -> dict[str, np.ndarray]:
    """The rows ``rows`` of ``table`` as the DeepSet's per-set arrays: ``genes``, ``mask``
    (:func:`pad_sets`, gene names mapped through ``index``) and ``y`` (float32)."""
    genes, mask = pad_sets([tuple(index[g] for g in table.sets[i]) for i in rows])
    return {"genes": genes, "mask": mask, "y": table.values[rows].astype(np.float32)}


def list_tables() -> pd.DataFrame:
    """The bundled phenotype tables: name, value column, description."""
    return pd.DataFrame([{"name": k, "value_column": v[1], "description": v[2]}
                         for k, v in BUNDLED_TABLES.items()])


def _read_frame(source: str | Path) -> tuple[pd.DataFrame, str]:
    if str(source) in BUNDLED_TABLES:
        path = ASSETS_DIR / BUNDLED_TABLES[str(source)][0]
        return pd.read_csv(path, sep="\t"), str(source)
    path = Path(source)
    if not path.is_file():
        names = ", ".join(BUNDLED_TABLES)
        raise DataError(f"'{source}' is neither a file nor a bundled table ({names}).")
    sep = "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    try:
        return pd.read_csv(path, sep=sep), path.name
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"Cannot read {path.name} as a CSV/TSV table: {exc}") from exc


def read_phenotypes(source: str | Path | pd.DataFrame, *, genes_column: str = "genes",
                    value_column: str = "fitness", name: str | None = None) -> PhenotypeTable:
    """Read and validate a phenotype table.

    Parameters
    ----------
    source
        Bundled name (``norman_gi``), a CSV/TSV path, or a DataFrame.
    genes_column
        Column with the sets, ``A`` or ``A+B+…``.
    value_column
        Numeric phenotype column.
    name
        Name to record (default: the bundled name or file name).

    Returns
    -------
    PhenotypeTable
        Rows with a missing value are dropped; repeated sets are kept.

    Raises
    ------
    DataError
        Missing columns, a non-numeric value column, an empty set, or no rows left.
    """
    if isinstance(source, pd.DataFrame):
        frame, label = source, name or "table"
    else:
        frame, label = _read_frame(source)
    for col in (genes_column, value_column):
        if col not in frame.columns:
            raise DataError(f"{label} has no column '{col}'; its columns are "
                            f"{', '.join(map(str, frame.columns))}.")
    values = pd.to_numeric(frame[value_column], errors="coerce")
    bad = values.isna() & frame[value_column].notna()
    if bad.any():
        first = frame.loc[bad, value_column].iloc[0]
        raise DataError(f"Column '{value_column}' of {label} must be numeric; row "
                        f"{int(np.flatnonzero(bad.to_numpy())[0]) + 1} holds '{first}'.")
    keep = values.notna().to_numpy() & np.isfinite(values.fillna(0).to_numpy())
    if keep.sum() < 2:
        raise DataError(f"{label} has fewer than 2 rows with a value in '{value_column}'.")
    sets = []
    for i, text in enumerate(frame[genes_column].to_numpy()[keep]):
        try:
            sets.append(parse_set(text))
        except DataError as exc:
            raise DataError(f"Row {i + 1} of {label}: {exc}") from None
    genes = sorted({g for s in sets for g in s})
    extra = frame.loc[keep].drop(columns=[genes_column, value_column]).reset_index(drop=True)
    return PhenotypeTable(name=name or label, sets=sets, genes=genes,
                          values=values.to_numpy(dtype=np.float64)[keep],
                          value_column=value_column, extra=extra)


# ---- gene features ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneFeatures:
    """Feature vectors for named genes: ``matrix[i]`` belongs to ``genes[i]``."""

    genes: list[str]
    matrix: np.ndarray
    source: str

    def lookup(self, genes: list[str]) -> tuple[np.ndarray, list[str]]:
        """Rows for ``genes`` (zeros where absent) and the list of genes that have none."""
        index = {g: i for i, g in enumerate(self.genes)}
        out = np.zeros((len(genes), self.matrix.shape[1]), dtype=np.float32)
        missing = []
        for j, g in enumerate(genes):
            if g in index:
                out[j] = self.matrix[index[g]]
            else:
                missing.append(g)
        return out, missing


def standardise_columns(matrix: np.ndarray) -> np.ndarray:
    """Each column to mean 0, sd 1 (constant columns to 0), as float32."""
    sd = matrix.std(axis=0)
    return ((matrix - matrix.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def read_feature_table(path: str | Path) -> GeneFeatures:
    """A genes × features CSV/TSV: first column gene names, then numeric columns.

    Columns are standardised (mean 0, sd 1) so no feature dominates by its units.
    """
    path = Path(path)
    frame, label = _read_frame(path)
    if frame.shape[1] < 2:
        raise DataError(f"{label} needs a gene column followed by at least one feature column.")
    genes = frame.iloc[:, 0].astype(str).str.strip()
    if genes.duplicated().any():
        raise DataError(f"{label} lists gene '{genes[genes.duplicated()].iloc[0]}' twice.")
    numeric = frame.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    if numeric.isna().any().any():
        col = numeric.columns[numeric.isna().any()][0]
        raise DataError(f"Feature column '{col}' of {label} has empty or non-numeric values.")
    return GeneFeatures(genes=genes.tolist(), source=f"table:{label}",
                        matrix=standardise_columns(numeric.to_numpy(dtype=np.float64)))
