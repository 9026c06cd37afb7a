"""An on-disk cache of preprocessed bundled datasets, so a server's first view is instant.

Preprocessing the default dataset took 2.5 s on a quiet machine and 10–40 s on two busy cores
(issue 21); reading the cached result back takes ~0.2 s. Entries are keyed by the SHA-256 of
the source file, the preprocessing settings and the source of ``core/data/preprocess.py``, so a
changed file, setting or algorithm never returns a stale result. Only files shipped with the
app are cached: uploaded data never touches the disk cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from core.data import preprocess as preprocess_module
from core.data.preprocess import PreprocessConfig, preprocess
from core.data.registry import ASSETS_DIR

if TYPE_CHECKING:
    from anndata import AnnData

CACHE_ENV = "SCVAE_CACHE_DIR"


def cache_root() -> Path | None:
    """``$SCVAE_CACHE_DIR`` (``none`` turns the cache off) or ``~/.cache/scvae_studio``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None and value.strip().lower() in ("", "none", "off"):
        return None
    if value:
        return Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scvae_studio"


def bundled_source(name: str) -> Path | None:
    """The file a bundled dataset is read from, or ``None`` (generated or downloaded data)."""
    path = ASSETS_DIR / "datasets" / f"{name}.h5ad"
    return path if path.is_file() else None


@lru_cache(maxsize=32)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(source: Path, config: PreprocessConfig) -> str:
    """Key of a preprocessed ``source`` file: file checksum + settings + preprocessing code.

    Parameters
    ----------
    source
        The data file that was read.
    config
        Preprocessing settings.

    Returns
    -------
    str
        A hex digest (safe as a file name).
    """
    stat = source.stat()
    code = Path(preprocess_module.__file__).read_bytes()
    parts = [_file_sha256(str(source), stat.st_mtime_ns, stat.st_size),
             json.dumps(config.to_dict(), sort_keys=True),
             hashlib.sha256(code).hexdigest()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def cached_preprocess(adata: AnnData, config: PreprocessConfig, *, source: Path | None,
                      root: Path | None = None) -> tuple[AnnData, bool]:
    """``preprocess(adata, config)``, read from / written to the disk cache when possible.

    Parameters
    ----------
    adata
        The data as read from ``source``.
    config
        Preprocessing settings.
    source
        The file ``adata`` was read from; ``None`` (e.g. an upload) skips the cache.
    root
        Cache folder; default :func:`cache_root`.

    Returns
    -------
    tuple[AnnData, bool]
        The preprocessed data and whether it came from the cache. A cache that cannot be read
        or written is ignored (the data is preprocessed as usual).
    """
    import anndata

    root = root if root is not None else cache_root()
    if source is None or root is None:
        return preprocess(adata, config), False
    path = root / "preprocessed" / f"{source.stem}-{cache_key(source, config)}.h5ad"
    if path.is_file():
        try:
            return anndata.read_h5ad(path), True
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # truncated or foreign file: rebuild it
    out = preprocess(adata, config)
    _write_atomic(out, path)
    return out, False


def _write_atomic(adata: AnnData, path: Path) -> None:
    """Write ``adata`` to ``path`` via a temporary file, so readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".h5ad.part", dir=path.parent)
        os.close(fd)
        try:
            adata.write_h5ad(tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - a cache must never break loading (full disk, odd uns)
        return
