"""Reading single-cell data from bundled names, paths and uploaded bytes.

Supported: ``.h5ad``; 10x ``.h5``; a ``.zip`` holding a 10x ``matrix.mtx(.gz)`` with
``features.tsv(.gz)`` (or ``genes.tsv``) and ``barcodes.tsv(.gz)``; CSV/TSV (optionally ``.gz``)
with cells as rows and genes as columns. Every failure is a :class:`~core.errors.DataError`.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.data import limits
from core.data.registry import DATASETS, load_bundled
from core.data.table import read_table_sparse
from core.data.validate import validate
from core.errors import DataError

if TYPE_CHECKING:
    from anndata import AnnData

#: Mirrors ``server.maxUploadSize`` in ``.streamlit/config.toml`` (megabytes).
MAX_UPLOAD_MB = 2000
SUPPORTED_SUFFIXES = (".h5ad", ".h5", ".zip", ".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz",
                      ".txt.gz")
SUPPORTED_TEXT = (".h5ad, 10x .h5, .zip of a 10x matrix.mtx(.gz) + features/genes + barcodes, "
                  "or CSV/TSV(.gz) with cells as rows and genes as columns")


@dataclass
class LoadResult:
    """A validated AnnData plus notices about what was fixed while reading it."""

    adata: AnnData
    name: str
    notices: list[str] = field(default_factory=list)


def _suffix(filename: str) -> str:
    name = filename.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix or name


def read(source: str | Path, *, transpose: bool = False) -> LoadResult:
    """Read a bundled dataset by name, or a file by path.

    Parameters
    ----------
    source
        A bundled dataset name (see :func:`core.data.registry.list_datasets`) or a path.
    transpose
        For CSV/TSV only: the file has genes as rows and cells as columns.

    Returns
    -------
    LoadResult
        The validated AnnData (``uns['dataset_name']`` set), its display name and notices.
    """
    if isinstance(source, str) and source in DATASETS:
        adata = load_bundled(source)
        return LoadResult(adata=adata, name=source, notices=validate(adata))
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"'{source}' is neither a bundled dataset ({', '.join(DATASETS)}) nor an existing file."
        )
    return read_path(path, transpose=transpose)


def check_upload_size(n_bytes: int) -> None:
    """Raise if an upload is larger than :data:`MAX_UPLOAD_MB`."""
    # Same unit as Streamlit's server.maxUploadSize (MB of 1024 × 1024 bytes).
    if n_bytes > MAX_UPLOAD_MB * 1024 * 1024:
        raise DataError(
            f"The file is {n_bytes / 1024**2:,.0f} MB, over the {MAX_UPLOAD_MB:,} MB upload "
            "limit. Subset it (e.g. to highly variable genes) or use the CLI with a path."
        )


#: Characters of an uploaded file's name that markdown, emoji/icon codes or LaTeX would read
#: (a name like ``![x](http://host/a.png).csv`` drew an image from another host, issue 19).
_MARKUP = re.compile(r"[\[\]<>`*$:\\|~#!{}^\x00-\x1f\x7f]")


def plain_name(filename: str) -> str:
    """An uploaded file's name as plain text: its base name, markup characters → ``_``."""
    base = re.split(r"[\\/]", filename)[-1]
    return _MARKUP.sub("_", base).strip()[:120] or "upload"


def read_bytes(data: bytes, filename: str, *, transpose: bool = False) -> LoadResult:
    """Read an uploaded file given its bytes and original name (the name picks the reader).

    The name is shown and stored as :func:`plain_name` of it.
    """
    check_upload_size(len(data))
    filename = plain_name(filename)
    suffix = _suffix(filename)
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(_unsupported(filename))
    with tempfile.TemporaryDirectory(prefix="scvae_upload_") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        result = read_path(path, transpose=transpose, display_name=filename)
        # h5ad may be read lazily; make sure everything is in memory before the file goes.
        result.adata = result.adata.to_memory() if result.adata.isbacked else result.adata
    return result


def read_path(path: Path, *, transpose: bool = False,
              display_name: str | None = None) -> LoadResult:
    """Read a file, picking the reader from its extension, and validate it."""
    name = display_name or path.name
    suffix = _suffix(name)
    if path.stat().st_size == 0:
        raise DataError(f"'{name}' is an empty file (0 bytes). Upload the file again.")
    readers = {".h5ad": _read_h5ad, ".h5": _read_10x_h5, ".zip": _read_10x_zip}
    if suffix in (".h5ad", ".h5"):
        limits.check_hdf5(path, name)
    if suffix in readers:
        adata = readers[suffix](path, name)
    elif suffix in (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz"):
        adata = _read_table(path, name, transpose=transpose)
    else:
        raise DataError(_unsupported(name))
    adata.uns["dataset_name"] = Path(name).name
    adata.strings_to_categoricals()
    notices = validate(adata)
    return LoadResult(adata=adata, name=Path(name).name, notices=notices)


def _unsupported(name: str) -> str:
    return f"'{name}' has an unsupported file type. Upload {SUPPORTED_TEXT}."


def _read_h5ad(path: Path, name: str) -> AnnData:
    import anndata

    try:
        adata = anndata.read_h5ad(path)
        if sp.issparse(adata.X):      # an indptr past the data reads fine and breaks later
            adata.X.check_format(full_check=False)
        return adata
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError… for broken files
        raise DataError(
            f"Could not read '{name}' as .h5ad: the file is truncated, corrupt or not an AnnData "
            f"file ({type(exc).__name__}). Re-export it with adata.write_h5ad() and upload again."
        ) from exc


def _is_anndata(path: Path) -> bool:
    """Whether an HDF5 file is an AnnData file (e.g. an .h5ad renamed .h5)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("encoding-type") == "anndata" or {"obs", "var"} <= set(f.keys())
    except (OSError, ValueError):
        return False


def _read_10x_h5(path: Path, name: str) -> AnnData:
    import scanpy as sc

    if _is_anndata(path):             # an .h5ad renamed .h5: read it as what it is
        return _read_h5ad(path, name)
    try:
        adata = sc.read_10x_h5(path)
    except Exception as exc:
        detail = " ".join(str(exc).replace(str(path), name).split())[:120]
        raise DataError(
            f"Could not read '{name}' as a 10x Genomics .h5 matrix ({type(exc).__name__}: "
            f"{detail}). Upload the filtered_feature_bc_matrix.h5 written by Cell Ranger, "
            "or an .h5ad."
        ) from exc
    return adata  # duplicated symbols are made unique, with a notice, by validate()


def _find_member(names: list[str], stems: tuple[str, ...]) -> str | None:
    for member in names:
        base = member.rsplit("/", 1)[-1]
        if base.startswith("._"):  # macOS resource forks inside zips
            continue
        for stem in stems:
            if base in (stem, stem + ".gz"):
                return member
    return None


def _open_member(zf: zipfile.ZipFile, member: str):
    raw = zf.open(member)
    return gzip.open(raw) if member.endswith(".gz") else raw


#: Longest line of a features / barcodes list (bounds the bytes read for the declared rows).
MAX_LIST_LINE_BYTES = 1024


def _read_list(zf: zipfile.ZipFile, member: str, declared: int, name: str) -> pd.DataFrame:
    """A features / barcodes list, read no further than the ``declared`` rows of matrix.mtx.

    A list of 200 M one-letter lines packs to 400 kB and parsed whole took 1.5 GB
    (issue 19 fault suite), so the read stops one row past the declared count.
    """
    cap = min(limits.MAX_TEXT_MEMBER_BYTES, (declared + 1) * MAX_LIST_LINE_BYTES)
    what = "genes" if "barcodes" not in member else "cells"
    too_long = DataError(f"In '{name}', {member.rsplit('/', 1)[-1]} lists more {what} than "
                         f"matrix.mtx declares ({declared:,}). Zip the three files of one Cell "
                         "Ranger matrix folder together.")
    with _open_member(zf, member) as fh:
        try:
            table = pd.read_csv(limits.capped(fh, cap, member), sep="\t", header=None,
                                dtype=str, nrows=declared + 1)
        except DataError:          # over ~1 kB per declared row
            raise too_long from None
    if len(table) > declared:
        raise too_long
    return table


def _read_10x_zip(path: Path, name: str) -> AnnData:
    import anndata
    from scipy.io import mmread

    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"'{name}' is not a valid .zip archive (truncated or corrupt).") from exc
    with zf:
        members = zf.namelist()
        mtx = _find_member(members, ("matrix.mtx",))
        feats = _find_member(members, ("features.tsv", "genes.tsv"))
        barcodes = _find_member(members, ("barcodes.tsv",))
        missing = [n for n, m in (("matrix.mtx(.gz)", mtx), ("features.tsv(.gz) or genes.tsv",
                                  feats), ("barcodes.tsv(.gz)", barcodes)) if m is None]
        if missing:
            raise DataError(
                f"'{name}' does not hold a 10x matrix: missing {', '.join(missing)}. Zip the "
                "three files of Cell Ranger's filtered_feature_bc_matrix folder together."
            )
        try:
            with _open_member(zf, mtx) as fh:      # the declared size first: it bounds the rest
                rows, cols, entries, header = limits.parse_mtx_header(fh, name)
            limits.check_memory((rows + cols) * limits.BYTES_PER_NAME,
                                f"'{name}' (matrix.mtx declares {rows:,} genes × {cols:,} cells)")
            features = _read_list(zf, feats, rows, name)
            cells = _read_list(zf, barcodes, cols, name)
            cap = limits.check_mtx(rows, cols, entries, n_features=len(features),
                                   n_barcodes=len(cells), name=name)
            with _open_member(zf, mtx) as fh:
                fh.read(len(header))
                stream = limits.prefixed(header, limits.capped(fh, cap, "matrix.mtx"))
                matrix = sp.csr_matrix(mmread(stream).T)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"Could not read the 10x files inside '{name}' ({type(exc).__name__}: "
                f"{str(exc)[:120]}). Check that they are the unmodified Cell Ranger outputs."
            ) from exc
    if matrix.shape != (len(cells), len(features)):
        raise DataError(
            f"In '{name}', matrix.mtx is {matrix.shape[1]} genes × {matrix.shape[0]} cells but "
            f"features lists {len(features)} genes and barcodes {len(cells)} cells."
        )
    symbol_col = 1 if features.shape[1] > 1 else 0
    var = pd.DataFrame({"gene_ids": features[0].to_numpy()},
                       index=pd.Index(features[symbol_col].to_numpy(), name=None))
    obs = pd.DataFrame(index=pd.Index(cells[0].to_numpy(), name=None))
    return anndata.AnnData(X=matrix.astype(np.float32), obs=obs, var=var)


def _read_table(path: Path, name: str, *, transpose: bool) -> AnnData:
    """A CSV/TSV read in chunks into a sparse matrix (:mod:`core.data.table`)."""
    import anndata

    sep = "," if ".csv" in name.lower() else "\t"
    matrix, rows, columns = read_table_sparse(path, name, sep=sep)
    if len(columns) == 0 and len(rows) > 0:
        raise DataError(
            f"'{name}' has a single column. Use {'commas' if sep == ',' else 'tabs'} between "
            "values, cell names in the first column and gene names in the first row."
        )
    if transpose:
        matrix, rows, columns = matrix.T.tocsr(), columns, rows
    obs = pd.DataFrame(index=pd.Index(rows).astype(str))
    var = pd.DataFrame(index=pd.Index(columns).astype(str))
    return anndata.AnnData(X=matrix, obs=obs, var=var)
