"""Run folders: ``config.json``, ``metrics.json``, ``history.csv``, ``model.pt``, ``latent.npy``.

A run folder holds everything needed to redraw every figure without retraining; modules are
rebuilt from ``config['module']`` and loaded with ``weights_only=True``.

``config.json`` carries ``schema_version`` (:data:`SCHEMA_VERSION`). Version 1 is every run
written before the key existed (same files and keys); :func:`load_run` reads those as version 1.
A future change of the folder's layout bumps the version and adds its upgrade to
:func:`load_run`, so old runs keep opening. The version and the validator of every field the
code reads live in :mod:`core.runs.schema`; loading, listing and importing all go through it.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.data.limits import copy_member
from core.errors import DataError
from core.runs.schema import (
    MAX_JSON_BYTES,
    SCHEMA_VERSION,
    STATUS_FILE,
    check_module_size,
    read_run_json,
    read_status,
)

RUNS_ENV = "SCVAE_RUNS_DIR"
#: Example runs shipped with the app (issue 21): listed for every session, never written to.
EXAMPLE_RUNS_DIR = Path(__file__).resolve().parents[2] / "assets" / "example_runs"


def default_runs_root() -> Path:
    """``$SCVAE_RUNS_DIR`` or ``./runs``."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def example_runs_root() -> Path:
    """The shipped example runs (``assets/example_runs``, see ``docs/make_example_runs.py``)."""
    return EXAMPLE_RUNS_DIR


def is_example_run(path: str | Path) -> bool:
    """Whether ``path`` is one of the shipped example runs (read-only)."""
    return Path(path).resolve().parent == EXAMPLE_RUNS_DIR.resolve()


def new_run_dir(model: str, dataset: str, root: str | Path | None = None) -> Path:
    """A fresh, unique, sortable folder name: ``<time>-<model>-<dataset>-<random>``."""
    root = Path(root) if root is not None else default_runs_root()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)[:40] or "data"
    path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{safe}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def check_npy(path: Path) -> None:
    """Refuse a ``.npy`` whose header declares more data than the file holds, or objects.

    Read before :func:`numpy.load`, which allocates the declared shape first (a 70-byte file
    declaring 1e6 × 1e6 float32 asked for 3.6 TiB, issue 19 fault suite).
    """
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
            data_bytes = path.stat().st_size - fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataError(f"{path.name} is damaged ({' '.join(str(exc).split())[:80]})") from None
    if dtype.hasobject:
        raise DataError(f"{path.name} holds Python objects, not numbers; it is not loaded.")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need != data_bytes:
        raise DataError(f"{path.name} is damaged (its header declares {need:,} bytes of data, "
                        f"the file holds {data_bytes:,}).")


def _load_npy(path: Path, run_id: str, what: str) -> np.ndarray:
    try:
        check_npy(path)
        return np.load(path, allow_pickle=False)
    except DataError as exc:
        raise DataError(f"Run {run_id}: {exc}; delete the run and train it again.") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"Run {run_id}: {what} is damaged ({str(exc)[:80]}); "
                        "delete the run and train it again.") from None


class Run:
    """A run folder. ``history``, ``latent`` and ``arrays`` are read on first use, so listing
    many runs only parses their small JSON files. Extra arrays are ``<name>.npy`` files and
    extra tables ``<name>.csv`` files (``tables``)."""

    def __init__(self, path: Path, config: dict[str, Any], metrics: dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = config
        self.metrics = metrics
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Run({self.path.name!r}, model={self.model!r})"

    @property
    def id(self) -> str:
        """Folder name."""
        return self.path.name

    @property
    def schema_version(self) -> int:
        """Run-folder schema version (1 for runs written before the version was recorded)."""
        return int(self.config.get("schema_version", 1))

    @property
    def read_only(self) -> bool:
        """A shipped example run: arrays computed later stay in memory (:meth:`save_array`)."""
        return is_example_run(self.path)

    @property
    def model(self) -> str:
        """Model name, e.g. ``betavae``."""
        return str(self.config.get("model", "?"))

    @property
    def history(self) -> pd.DataFrame:
        """Loss terms per epoch (``history.csv``)."""
        if "history" not in self._cache:
            p = self.path / "history.csv"
            try:
                self._cache["history"] = (pd.read_csv(p) if p.is_file() and p.stat().st_size > 1
                                          else pd.DataFrame())
            except (ValueError, UnicodeDecodeError, OSError):   # damaged: draw no curves
                self._cache["history"] = pd.DataFrame()
        return self._cache["history"]

    @property
    def latent(self) -> np.ndarray | None:
        """Latent means per cell (``latent.npy``), if saved."""
        if "latent" not in self._cache:
            p = self.path / "latent.npy"
            self._cache["latent"] = (_load_npy(p, self.id, "latent.npy") if p.is_file()
                                     else None)
        return self._cache["latent"]

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every other ``<name>.npy`` of the folder by name."""
        if "arrays" not in self._cache:
            self._cache["arrays"] = {p.stem: _load_npy(p, self.id, p.name)
                                     for p in sorted(self.path.glob("*.npy"))
                                     if p.stem != "latent"}
        return self._cache["arrays"]

    def table(self, name: str) -> pd.DataFrame | None:
        """The table ``<name>.csv`` saved with the run, if any."""
        p = self.path / f"{name}.csv"
        return pd.read_csv(p) if p.is_file() else None

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Add (or replace) ``<name>.npy`` in the folder, e.g. a UMAP computed later.

        For a :attr:`read_only` run the array is only kept in memory with the others.
        """
        if self.read_only:
            self.arrays[name] = np.asarray(array)
            return
        np.save(self.path / f"{name}.npy", np.asarray(array), allow_pickle=False)
        self._cache.pop("arrays", None)

    def load_module(self, module_classes: dict[str, type[nn.Module]] | None = None) -> nn.Module:
        """Rebuild the module from ``config['module']`` and load ``model.pt`` (CPU, eval)."""
        if module_classes is None:
            from core.models import registry
            module_classes = registry.module_classes()
        cls = module_classes.get(self.model)
        if cls is None:
            raise DataError(f"Run {self.id} has unknown model '{self.model}'.")
        check_module_size(self.config, self.path / "model.pt")
        try:
            module = cls(**self.config["module"])
            state = torch.load(self.path / "model.pt", map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except (TypeError, ValueError, KeyError, RuntimeError, OSError, EOFError,
                pickle.UnpicklingError) as exc:
            raise DataError(f"Run {self.id}: the model does not load ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:100]}).") from None
        return module.eval()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_run(path: str | Path, *, config: dict[str, Any], metrics: dict[str, Any],
             history: pd.DataFrame, module: nn.Module | None = None,
             latent: np.ndarray | None = None, arrays: dict[str, np.ndarray] | None = None,
             tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write a run folder (creating it) and return its path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {"schema_version": SCHEMA_VERSION, **config}
    (path / "config.json").write_text(json.dumps(config, indent=2, default=_json_default))
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
    history.to_csv(path / "history.csv", index=False)
    if module is not None:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        torch.save(state, path / "model.pt")
    if latent is not None:
        np.save(path / "latent.npy", np.asarray(latent, dtype=np.float32))
    for name, arr in (arrays or {}).items():
        np.save(path / f"{name}.npy", np.asarray(arr), allow_pickle=False)
    for name, table in (tables or {}).items():
        table.to_csv(path / f"{name}.csv", index=False)
    return path


def load_run(path: str | Path) -> Run:
    """Read a run folder written by :func:`save_run`, validated (:mod:`core.runs.schema`)."""
    path = Path(path)
    status = read_status(path)
    if status is not None:
        raise DataError(f"Run {path.name} is not finished (epoch {status.get('epoch', 0)} of "
                        f"{status.get('n_epochs', '?')}); resume it or delete it.")
    if not (path / "config.json").is_file():
        raise DataError(f"{path} is not a run folder (no config.json).")
    config, metrics = read_run_json(path)
    config.setdefault("schema_version", 1)
    return Run(path=path, config=config, metrics=metrics)


def list_runs(root: str | Path | None = None, *, model: str | None = None,
              fingerprint: str | None = None, examples: bool = False) -> list[Run]:
    """Runs under ``root``, newest first; optionally only one model or one dataset fingerprint.

    With ``examples`` the shipped example runs (:func:`example_runs_root`) that pass the same
    filters follow them.

    Folders that cannot be read are skipped (a half-written run must not break the page);
    :func:`core.runs.schema.unreadable_runs` lists them with the reason.
    """
    root = Path(root) if root is not None else default_runs_root()
    runs = []
    for p in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if (p.name.startswith(".") or not (p / "config.json").is_file()
                or (p / STATUS_FILE).exists()):
            continue            # hidden (an import being unpacked) or not finished
        try:
            run = load_run(p)
        except (DataError, OSError, ValueError):
            continue
        if model is not None and run.model != model:
            continue
        if fingerprint is not None and run.config.get("data", {}).get("fingerprint") != fingerprint:
            continue
        runs.append(run)
    if examples and root.resolve() != EXAMPLE_RUNS_DIR.resolve():
        runs += list_runs(EXAMPLE_RUNS_DIR, model=model, fingerprint=fingerprint)
    return runs


def run_archive(path: str | Path) -> bytes:
    """The run folder as .zip bytes (``<folder>/<file>`` entries): model weights, config,
    metrics, history, latent and every saved array and table.

    Unzipped into a runs directory (``$SCVAE_RUNS_DIR`` or ``./runs``) it is listed by the app
    and read by :func:`load_run` and the CLI, as on the machine that trained it.
    """
    import io
    import zipfile

    path = load_run(path).path          # a DataError when it is not a run folder
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.iterdir()):
            if f.is_file():
                zf.write(f, arcname=f"{path.name}/{f.name}")
    return buffer.getvalue()


#: Largest total (uncompressed) size of an imported run archive, counted as it unpacks.
MAX_ARCHIVE_BYTES = 2 * 1024 ** 3
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def import_run_archive(data: bytes, root: str | Path | None = None) -> Run:
    """Unpack a run archive (:func:`run_archive`) into the runs directory and return the run.

    The archive must hold one run folder of plain files (as :func:`run_archive` writes it)
    with a ``config.json`` whose model loads from its ``model.pt``. Anything else, a name
    that is already a run there, or more than :data:`MAX_ARCHIVE_BYTES` unpacked, is a
    :class:`DataError` that says what is wrong; nothing is written then.
    """
    import io
    import tempfile
    import zipfile

    root = Path(root) if root is not None else default_runs_root()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError("The file is not a .zip archive; upload the run folder .zip that "
                        "scVAE Studio's 'Model (run folder, .zip)' button downloads.") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        parts = [i.filename.split("/") for i in infos]
        folders = {p[0] for p in parts}
        if (not infos or len(folders) != 1 or any(len(p) != 2 for p in parts)
                or not all(_SAFE_NAME.match(n) for p in parts for n in p)):
            raise DataError("This .zip is not a run folder: it should hold one folder of files "
                            "(config.json, model.pt, ...) as the 'Model (run folder, .zip)' "
                            "download writes it.")
        name = folders.pop()
        if name.startswith("."):
            raise DataError(f"The run folder '{name}' in the .zip has a hidden name (starting "
                            "with '.'); rename the folder and zip it again.")
        if f"{name}/config.json" not in {i.filename for i in infos}:
            raise DataError(f"The folder '{name}' in the .zip has no config.json, so it is not "
                            "a run folder.")
        if sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
            raise DataError("The archive unpacks to more than "
                            f"{MAX_ARCHIVE_BYTES / 1024 ** 3:.2g} GB; that is not a run folder.")
        target = root / name
        if target.exists():
            raise DataError(f"A run named '{name}' is already in the runs folder ({root}); "
                            "delete it there first to replace it.")
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".import-"))   # hidden from list_runs
        try:
            left = MAX_ARCHIVE_BYTES           # counted as unpacked: headers can lie
            config_info = zf.getinfo(f"{name}/config.json")
            copy_member(zf, config_info, tmp / "config.json", MAX_JSON_BYTES)
            for info in infos:
                if info is not config_info:   # and no member beyond 200× its packed size
                    cap = min(left, max(64 * 1024 ** 2, 200 * info.compress_size))
                    left -= copy_member(zf, info, tmp / Path(info.filename).name, cap)
            run = load_run(tmp)
            for npy in tmp.glob("*.npy"):     # headers only: a page loads them later
                check_npy(npy)
            check_module_size(run.config, tmp / "model.pt")
            if (tmp / "model.pt").is_file():
                run.load_module()
            tmp.rename(target)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            text = " ".join(str(exc).replace(tmp.name, name).split())
            if isinstance(exc, DataError):
                raise DataError(text) from None
            # damaged weights, or a model this version cannot build
            raise DataError(f"The run '{name}' in the .zip does not load: {text[:200]}") from exc
    return load_run(target)


def begin_run(model: str, dataset: str, *, run_dir: str | Path | None = None,
              runs_root: str | Path | None = None, n_epochs: int = 0,
              resume: bool = False) -> Path:
    """The folder a recipe trains into, marked unfinished (``status.json``) until
    :func:`end_run`; a new folder under ``runs_root`` unless ``run_dir`` is given."""
    from core.runs.schema import write_status

    path = Path(run_dir) if run_dir else new_run_dir(model, dataset, runs_root)
    if resume and not path.is_dir():
        raise DataError(f"{path} is not a run folder to resume.")
    path.mkdir(parents=True, exist_ok=True)
    write_status(path, model=model, dataset=str(dataset), n_epochs=int(n_epochs),
                 **({} if resume else {"epoch": 0}))
    return path


def run_checkpointer(path: Path, *, every: int | None = None, resume: bool = False):
    """A :class:`~core.training.checkpoint.Checkpointer` for the run folder ``path`` that
    records each checkpoint's phase and epoch in ``status.json``."""
    from core.runs.schema import write_status
    from core.training.checkpoint import CHECKPOINT_EVERY, Checkpointer

    return Checkpointer(path, every=int(every or CHECKPOINT_EVERY), resume=resume,
                        on_save=lambda phase, epoch: write_status(path, phase=phase,
                                                                  epoch=epoch))


def end_run(path: str | Path) -> None:
    """Mark the run finished: drop its status and checkpoint (the run files are saved)."""
    from core.runs.schema import clear_status
    from core.training.checkpoint import clear_checkpoint

    clear_status(Path(path))
    clear_checkpoint(Path(path))
    (Path(path) / "progress.json").unlink(missing_ok=True)


def delete_run(path: str | Path) -> None:
    """Remove a run folder (never a shipped example run: a :class:`DataError`)."""
    if is_example_run(path):
        raise DataError(f"{Path(path).name} is an example run shipped with the app; it cannot "
                        "be deleted.")
    shutil.rmtree(path, ignore_errors=True)
