"""Size checks made BEFORE reading: declared sizes, unpacked sizes, implied memory.

A 417-byte 10x .zip can declare a 2e9 × 2e9 matrix and a 525 kB zip can unpack to 360 MB
(issue 19); the readers call these checks on headers and stream archive members through
:class:`CappedReader`, so a refused input never makes the server allocate what it declares.
The memory budget is half of the memory available now, or ``$SCVAE_MEMORY_BUDGET_MB``.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import IO

from core.errors import DataError

BUDGET_ENV = "SCVAE_MEMORY_BUDGET_MB"
#: Largest unpacked size of a small text member of an archive (features / barcodes lists).
MAX_TEXT_MEMBER_BYTES = 512 * 1024 ** 2
#: Longest line of a MatrixMarket coordinate entry ("row col value"), used to bound its size.
MAX_MTX_LINE_BYTES = 80
#: Memory per gene or barcode name held by pandas (a Python str of ~20 characters, its
#: pointer and index entry).
BYTES_PER_NAME = 120
#: What to do with an input this server cannot hold.
FIX = "Convert it to .h5ad (sparse) or use the CLI with a path on a machine with more memory."


def memory_budget_bytes() -> int:
    """Bytes a single input may make the server allocate.

    ``$SCVAE_MEMORY_BUDGET_MB`` when set, else half of ``MemAvailable`` (Linux) or of
    physical memory.
    """
    env = os.environ.get(BUDGET_ENV)
    if env:
        return int(float(env) * 1024 ** 2)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def check_memory(need: int, what: str) -> None:
    """Raise a :class:`DataError` when ``need`` bytes exceed :func:`memory_budget_bytes`."""
    budget = memory_budget_bytes()
    if need > budget:
        raise DataError(f"{what} needs about {need / 1024 ** 3:,.1f} GB of memory; this server "
                        f"can give {budget / 1024 ** 3:,.1f} GB. {FIX}")


class CappedReader(io.RawIOBase):
    """A read-only stream that raises :class:`DataError` after ``limit`` bytes.

    Counts the bytes actually produced (a zip header's declared size can lie).
    """

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        super().__init__()
        self._raw, self._limit, self._name, self.count = raw, limit, name, 0

    def readable(self) -> bool:  # noqa: D102 - io protocol
        return True

    def readinto(self, buffer) -> int:  # noqa: D102 - io protocol
        data = self._raw.read(len(buffer))
        self.count += len(data)
        if self.count > self._limit:
            raise DataError(f"'{self._name}' unpacks to more than {self._limit:,} bytes, more "
                            "than its header declares or than this server accepts.")
        buffer[:len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """``prefix`` bytes, then the rest of ``raw`` (puts a parsed header back)."""

    def __init__(self, prefix: bytes, raw: IO[bytes]) -> None:
        super().__init__()
        self._prefix, self._raw = prefix, raw

    def readable(self) -> bool:  # noqa: D102 - io protocol
        return True

    def readinto(self, buffer) -> int:  # noqa: D102 - io protocol
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n], self._prefix = self._prefix[:n], self._prefix[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def prefixed(prefix: bytes, raw: IO[bytes]) -> io.BufferedReader:
    """A stream of ``prefix`` followed by what is left of ``raw``."""
    return io.BufferedReader(_Prefixed(prefix, raw), buffer_size=1024 * 1024)


def capped(raw: IO[bytes], limit: int, name: str) -> io.BufferedReader:
    """``raw`` as a buffered stream that refuses to yield more than ``limit`` bytes."""
    return io.BufferedReader(CappedReader(raw, limit, name), buffer_size=1024 * 1024)


def copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int) -> int:
    """Stream one archive member to ``dest``, at most ``limit`` bytes; returns bytes written."""
    with zf.open(info) as raw, open(dest, "wb") as out:
        stream = capped(raw, limit, info.filename)
        shutil.copyfileobj(stream, out, 1024 * 1024)
    return dest.stat().st_size


def parse_mtx_header(stream: IO[bytes], name: str) -> tuple[int, int, int, bytes]:
    """``(rows, cols, entries, header_bytes)`` of a MatrixMarket coordinate file.

    Reads only the banner, comments and size line; ``header_bytes`` is what was consumed,
    to be put back in front of the rest of the stream.
    """
    consumed = []
    for _ in range(10_000):
        line = stream.readline(4096)
        consumed.append(line)
        if not line:
            break
        text = line.strip()
        if not text or text.startswith(b"%"):
            continue
        parts = text.split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            break
        rows, cols, entries = (int(p) for p in parts)
        return rows, cols, entries, b"".join(consumed)
    raise DataError(f"'{name}' is not a MatrixMarket coordinate matrix (no 'rows cols entries' "
                    "line). Zip Cell Ranger's unmodified matrix.mtx(.gz).")


def check_mtx(rows: int, cols: int, entries: int, *, n_features: int, n_barcodes: int,
              name: str) -> int:
    """Check a matrix.mtx header against its feature and barcode lists and the memory budget.

    Returns the most bytes the entries may take as text (for :func:`capped`).
    """
    if (rows, cols) != (n_features, n_barcodes):
        raise DataError(f"In '{name}', matrix.mtx is {rows:,} genes × {cols:,} cells but "
                        f"features lists {n_features:,} genes and barcodes {n_barcodes:,} "
                        "cells.")
    if entries > rows * cols:
        raise DataError(f"In '{name}', matrix.mtx declares {entries:,} values, more than "
                        f"{rows:,} × {cols:,}.")
    # COO read (int32 row, col + float64 value) then CSR (float32, int32 indices, indptr)
    check_memory(entries * 24 + (rows + cols) * 16, f"'{name}' ({entries:,} values)")
    return entries * MAX_MTX_LINE_BYTES


def check_hdf5(path: Path, name: str) -> None:
    """Refuse an .h5ad / .h5 whose datasets declare more bytes than the memory budget.

    Walks the HDF5 tree reading only shapes and dtypes (no data).
    """
    import h5py

    total = 0

    def visit(_: str, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            total += int(obj.size) * obj.dtype.itemsize

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except (OSError, ValueError, RuntimeError):
        return        # not HDF5 or damaged: the reader says so with its own message
    check_memory(total, f"'{name}'")
