"""Cell metadata from a table beside a matrix upload (issue 21, item 5).

A CSV/TSV (optionally ``.gz``) with one row per cell: the first column (or a column named
``cell``, ``cell_id``, ``barcode``, ``obs_names`` or ``index``) holds the cell ids of the
matrix, the other columns become ``obs`` columns. Every failure is a one-line
:class:`~core.errors.DataError` that says what to fix.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import DataError

if TYPE_CHECKING:
    from anndata import AnnData

#: Largest metadata file read (a 1M-cell table with a dozen columns is ~100 MB).
MAX_METADATA_BYTES = 512 * 1024 ** 2
#: Column names taken as the cell-id column (case-insensitive); else the first column.
ID_COLUMNS = ("cell", "cell_id", "cellid", "barcode", "barcodes", "obs_names", "index")


def read_cell_metadata(data: bytes, filename: str) -> pd.DataFrame:
    """Parse a metadata table; return it indexed by cell id (strings), ids checked unique.

    Parameters
    ----------
    data
        The file's bytes (CSV, TSV or either gzip-compressed).
    filename
        Its name, for messages and to pick the separator (``.tsv``/``.txt``: tab).
    """
    if len(data) > MAX_METADATA_BYTES:
        raise DataError(f"'{filename}' is {len(data) / 1024 ** 2:,.0f} MB, over the "
                        f"{MAX_METADATA_BYTES // 1024 ** 2} MB limit for a metadata table.")
    name = filename.lower().removesuffix(".gz")
    sep = "\t" if name.endswith((".tsv", ".txt")) else ","
    try:
        table = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False,
                            compression="gzip" if filename.lower().endswith(".gz") else None)
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"'{filename}' is not a readable CSV/TSV table "
                        f"({str(exc).splitlines()[0][:80]}).") from None
    if table.shape[1] < 2 or len(table) == 0:
        raise DataError(f"'{filename}' needs a cell-id column and at least one metadata column, "
                        "with one row per cell.")
    lower = {str(c).lower(): c for c in table.columns}
    id_col = next((lower[c] for c in ID_COLUMNS if c in lower), table.columns[0])
    ids = table[id_col].astype(str).str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(f"'{filename}' has {dup.nunique():,} duplicated cell ids in column "
                        f"'{id_col}' (e.g. '{dup.iloc[0]}'); each cell must appear once.")
    return table.drop(columns=id_col).set_index(pd.Index(ids, name=None))


def add_cell_metadata(adata: AnnData, meta: pd.DataFrame, *, filename: str) -> list[str]:
    """Join ``meta`` (from :func:`read_cell_metadata`) into ``adata.obs`` by cell id, in place.

    Columns become categorical (numbers stay numeric); a column already in ``obs`` is replaced.
    Returns notices (cells without a row, rows without a cell). No id in common, or fewer than
    half of the cells found, is a :class:`DataError` (a wrong file or id column).
    """
    cells = pd.Index(adata.obs_names.astype(str))
    found = cells.isin(meta.index)
    n_found = int(found.sum())
    if n_found == 0:
        raise DataError(f"None of the {len(meta):,} cell ids in '{filename}' match the matrix's "
                        f"cell ids (e.g. '{meta.index[0]}' vs '{cells[0]}'); its id column must "
                        "hold the same barcodes.")
    if n_found < len(cells) / 2:
        raise DataError(f"Only {n_found:,} of the matrix's {len(cells):,} cells have a row in "
                        f"'{filename}' (e.g. '{cells[~found][0]}' has none); check that it "
                        "belongs to this matrix.")
    joined = meta.reindex(cells)
    for col in joined.columns:
        values = joined[col].replace("", pd.NA)
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():          # every given value a number
            is_int = bool((numeric.dropna() % 1 == 0).all())
            adata.obs[str(col)] = (numeric.astype("Int64") if is_int else numeric).to_numpy()
        else:
            adata.obs[str(col)] = pd.Categorical(values.to_numpy())
    notices = [f"Added {joined.shape[1]} cell annotation column(s) from '{filename}': "
               + ", ".join(map(str, joined.columns[:8])) + ("…" if joined.shape[1] > 8 else "")
               + "."]
    if n_found < len(cells):
        notices.append(f"{len(cells) - n_found:,} cells have no row in '{filename}'; their "
                       "annotations are empty.")
    extra = len(meta) - n_found
    if extra:
        notices.append(f"{extra:,} rows of '{filename}' match no cell of the matrix and were "
                       "ignored.")
    return notices
