"""CSV/TSV read in chunks of rows into a sparse matrix (issue 19, item 3).

``pd.read_csv`` of a whole dense table peaks at about 20× the file (an 800 MB CSV: 15.8 GB).
Here the table is parsed about :data:`CHUNK_BYTES` of float64 values at a time, each chunk is turned
into CSR at once (single-cell tables are mostly zeros) and the chunks are stacked at the end.
What a file needs is then about 16 bytes per non-zero value (float32 + int32 column index,
twice while the chunks are stacked) plus one chunk; the reader counts it as it goes and stops
with a :class:`~core.errors.DataError` that says what to do as soon as it would pass
:func:`core.data.limits.memory_budget_bytes`. :func:`table_memory_bound` states the most a file
of a given size can need (every value non-zero) before anything is read.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data import limits
from core.errors import DataError

#: Float64 bytes of one parsed chunk (rows per chunk = this / 8 / columns, at least
#: MIN_CHUNK_ROWS). pandas holds ~4× a chunk while parsing it: 32 MB chunks added 139 MB to the
#: peak of a 7.7 MB CSV, 4 MB chunks 39 MB, 1 MB chunks 31 MB (benchmarks/csv_memory.py).
CHUNK_BYTES = 4 * 1024 ** 2
#: Fewest rows per chunk (a 30k-gene table would otherwise parse 17 rows at a time).
MIN_CHUNK_ROWS = 64
#: Bytes held per non-zero value while the chunks are stacked: float32 value and int32 index,
#: in the chunks and in the stacked copy (measured: benchmarks/csv_memory.py).
BYTES_PER_NONZERO = 16
#: A value takes at least 2 bytes of text (a digit and a separator).
MIN_TEXT_BYTES_PER_VALUE = 2


def table_memory_bound(n_text_bytes: int) -> int:
    """Most bytes reading a table of ``n_text_bytes`` can need (every value non-zero)."""
    return n_text_bytes // MIN_TEXT_BYTES_PER_VALUE * BYTES_PER_NONZERO + 4 * CHUNK_BYTES


def table_header(path: Path, sep: str) -> list[str]:
    """The first line of a (possibly gzipped) table, split as the csv module would."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", errors="replace") as fh:
            return next(csv.reader(io.StringIO(fh.readline()), delimiter=sep), [])
    except (OSError, EOFError):
        return []


@dataclass
class _Stack:
    """CSR chunks, their row names, and the bytes they hold."""

    name: str
    budget: int
    parts: list[sp.csr_matrix] = field(default_factory=list)
    rows: list[pd.Index] = field(default_factory=list)
    nnz: int = 0

    def add(self, values: np.ndarray, index: pd.Index) -> None:
        part = sp.csr_matrix(values.astype(np.float32, copy=False))
        self.nnz += part.nnz
        need = self.nnz * BYTES_PER_NONZERO + 4 * CHUNK_BYTES
        if need > self.budget:
            n_rows = sum(len(r) for r in self.rows) + len(index)
            raise DataError(
                f"'{self.name}' needs more than {need / 1024 ** 3:,.1f} GB of memory as a sparse "
                f"matrix (stopped after {n_rows:,} rows); this server can give "
                f"{self.budget / 1024 ** 3:,.1f} GB. {limits.FIX}")
        self.parts.append(part)
        self.rows.append(index)


def _numeric(chunk: pd.DataFrame, name: str) -> np.ndarray:
    """The chunk as float64, or a DataError naming the first non-numeric value."""
    text_cols = [c for c, t in enumerate(chunk.dtypes) if not pd.api.types.is_numeric_dtype(t)]
    if not text_cols:
        return chunk.to_numpy(dtype=np.float64)
    values = chunk.apply(pd.to_numeric, errors="coerce")
    bad = (values.isna() & chunk.notna()).to_numpy()
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"'{name}' has a non-numeric value '{chunk.iat[row, col]}' at cell "
            f"'{chunk.index[row]}', gene '{chunk.columns[col]}'. The file must hold numbers "
            "only, with cell names in the first column and gene names in the first row.")
    return values.to_numpy(dtype=np.float64)


def _columns(header: list[str], n_values: int, name: str) -> pd.Index:
    """Gene names for rows of ``n_values`` values: the header after its corner cell, or the
    whole header when it has no corner cell (R's ``write.csv`` of a matrix)."""
    if n_values == len(header) - 1:
        return pd.Index(header[1:])
    if n_values == len(header):
        return pd.Index(header)
    raise DataError(f"'{name}' has {len(header):,} names in its first row but {n_values + 1:,} "
                    "fields in its second. Write cell names in the first column and gene "
                    "names in the first row, one per column.")


def read_table_sparse(path: Path, name: str, *, sep: str,
                      budget: int | None = None) -> tuple[sp.csr_matrix, pd.Index, pd.Index]:
    """``(matrix, row_names, column_names)`` of a CSV/TSV, read in chunks into CSR.

    Parameters
    ----------
    path, name
        The file and the name shown in messages.
    sep
        Field separator.
    budget
        Bytes the matrix may take (default :func:`core.data.limits.memory_budget_bytes`).

    Raises
    ------
    DataError
        A table that does not parse, holds text, or would need more than ``budget``.
    """
    header = table_header(path, sep)
    budget = limits.memory_budget_bytes() if budget is None else budget
    chunk_rows = max(MIN_CHUNK_ROWS, CHUNK_BYTES // 8 // max(1, len(header) - 1))
    stack = _Stack(name, budget)
    columns: pd.Index | None = None
    try:
        # header=None: the names come from table_header, as they are. pandas renaming repeated
        # names (1, 1.1, 1.2, ...) is quadratic: a 10 MB header of 5 M columns ran > 240 s.
        with pd.read_csv(path, sep=sep, header=None, skiprows=1, index_col=0,
                         chunksize=chunk_rows) as reader:
            for chunk in reader:
                columns = _columns(header, chunk.shape[1], name) if columns is None else columns
                chunk.columns = columns
                stack.add(_numeric(chunk, name), chunk.index)
    except DataError:
        raise
    except pd.errors.EmptyDataError:          # a header line only: an empty matrix
        pass
    except Exception as exc:
        raise DataError(
            f"Could not parse '{name}' as a {'comma' if sep == ',' else 'tab'}-separated table "
            f"({type(exc).__name__}: {str(exc)[:120]}).") from exc
    if columns is None:                       # a header line only
        columns = pd.Index(header[1:])
    matrix = (sp.vstack(stack.parts, format="csr") if stack.parts
              else sp.csr_matrix((0, len(columns)), dtype=np.float32))
    rows = stack.rows[0].append(stack.rows[1:]) if stack.rows else pd.Index([])
    return matrix, rows.rename(None), columns.rename(None)
