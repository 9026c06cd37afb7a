"""Schema of a run folder's JSON files, checked before anything reads them.

Every field of ``config.json`` and ``metrics.json`` that the code reads has a declared type
here. A folder written before the schema existed has no ``schema_version`` and is read as
version 1 (same fields); :data:`SCHEMA_VERSION` is what :func:`core.runs.store.save_run`
writes now, and the one version :func:`core.runs.store.load_run` and
:func:`core.runs.store.list_runs` check against (through :func:`read_run_json`). A folder that fails the check is not a run: it is listed as unreadable with the
reason (:func:`unreadable_runs`) so that it can be deleted, and never reaches a page.

The module also bounds the memory a run may make the server allocate: the JSON files are read
with a byte cap, and :func:`check_module_size` refuses a config whose implied model is larger
than :data:`MAX_MODEL_BYTES` or than its ``model.pt`` before the module is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import DataError

#: Version written into ``config.json['schema_version']``; folders without it are version 1.
SCHEMA_VERSION = 2
#: Largest ``config.json`` / ``metrics.json`` read (a real one is a few kB; gene names of a
#: 40k-gene TF-VAE make ~1 MB).
MAX_JSON_BYTES = 32 * 1024 ** 2
#: Largest float32 parameter memory a config may imply (a β-VAE on 30k genes with the default
#: 1024-wide first layer needs ~0.25 GB).
MAX_MODEL_BYTES = 1024 ** 3
#: Name of the file holding the creating session (issue 19, item 9).
OWNER_FILE = "owner.txt"
#: Present while a run is not finished (issue 19, durability): queued, training, or stopped
#: (killed, cancelled, server restarted) with a checkpoint to resume from. A finished run has
#: none, so every run written before the file existed is complete.
STATUS_FILE = "status.json"

Check = Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_pos_int(v: Any) -> bool:
    return _is_int(v) and v > 0


def _is_nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _list_of(check: Check) -> Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_dict(v: Any) -> bool:
    return isinstance(v, dict)


_TYPE_NAMES: dict[Check, str] = {}


def _named(check: Check, name: str) -> Check:
    _TYPE_NAMES[check] = name
    return check


STR = _named(_is_str, "a string")
OPT_STR = _named(_opt(_is_str), "a string or null")
POS_INT = _named(_is_pos_int, "a positive integer")
NONNEG_INT = _named(_is_nonneg_int, "a non-negative integer")
INT = _named(_is_int, "an integer")
OPT_NUM = _named(_opt(_is_num), "a number or null")
OBJ = _named(_is_dict, "an object")
OPT_OBJ = _named(_opt(_is_dict), "an object or null")
STR_LIST = _named(_list_of(_is_str), "a list of strings")
OPT_STR_LIST = _named(_opt(_list_of(_is_str)), "a list of strings or null")
POS_INT_LIST = _named(_list_of(_is_pos_int), "a list of positive integers")
NONNEG_INT_LIST = _named(_list_of(_is_nonneg_int), "a list of non-negative integers")
BOOL = _named(lambda v: isinstance(v, bool), "true or false")

#: Top-level ``config.json`` fields read by the code (all optional except ``model``).
CONFIG_FIELDS: dict[str, Check] = {
    "schema_version": POS_INT, "model": STR, "mode": STR, "seed": INT, "module": OPT_OBJ,
    "settings": OBJ, "train": OBJ, "spec": OBJ, "tfs": STR_LIST, "data": OBJ,
}
DATA_FIELDS: dict[str, Check] = {
    "name": STR, "fingerprint": STR, "n_obs": NONNEG_INT, "n_vars": NONNEG_INT,
    "label_key": OPT_STR, "batch_key": OPT_STR, "batch_categories": OPT_STR_LIST,
}
SETTINGS_FIELDS: dict[str, Check] = {"likelihood": STR, "mask_source": OPT_STR}
SPEC_FIELDS: dict[str, Check] = {k: STR for k in ("condition_key", "control", "stimulated",
                                                  "cell_type_key", "holdout")}
MODULE_FIELDS: dict[str, Check] = {
    "n_input": POS_INT, "n_latent": POS_INT, "hidden": POS_INT_LIST, "tf_names": STR_LIST,
    "tf_gene_index": NONNEG_INT_LIST, "gene_names": OPT_STR_LIST, "n_batch": NONNEG_INT,
}
#: ``metrics.json`` fields with a fixed type (others: any JSON, numbers for NUMERIC_PREFIXES).
METRIC_FIELDS: dict[str, Check] = {"message": OPT_STR, "complete": BOOL, "stopped": OPT_STR,
                                   "device": OPT_STR}
#: Metric name prefixes whose values are drawn as numbers.
NUMERIC_PREFIXES = ("ari_", "nmi_", "knn_", "silhouette_", "batch_mixing", "n_epochs_run",
                    "best_epoch", "train_seconds", "total_seconds", "final_", "r2_", "val_")


#: ``status.json`` fields (``state`` is always ``"incomplete"`` in schema 2).
STATUS_FIELDS: dict[str, Check] = {
    "state": STR, "model": STR, "dataset": STR, "epoch": NONNEG_INT, "n_epochs": NONNEG_INT,
    "phase": STR, "reason": OPT_STR, "updated": OPT_NUM, "job": OPT_STR,
}


def _check_fields(obj: dict[str, Any], fields: dict[str, Check], where: str) -> None:
    for key, check in fields.items():
        if key in obj and not check(obj[key]):
            raise DataError(f"{where}['{key}'] should be {_TYPE_NAMES[check]}, "
                            f"not {type(obj[key]).__name__}.")


def validate_config(config: Any) -> int:
    """Check ``config.json`` against the schema and return its version (1 when absent).

    Raises
    ------
    DataError
        One line naming the first field of the wrong type.
    """
    if not isinstance(config, dict):
        raise DataError(f"config.json should be an object, not {type(config).__name__}.")
    if "model" not in config:
        raise DataError("config.json has no 'model' field.")
    _check_fields(config, CONFIG_FIELDS, "config")
    version = config.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise DataError(f"written by a newer version (run schema {version}, this one reads "
                        f"≤ {SCHEMA_VERSION}); update scVAE Studio to open it.")
    for key, fields in (("data", DATA_FIELDS), ("settings", SETTINGS_FIELDS),
                        ("spec", SPEC_FIELDS), ("module", MODULE_FIELDS)):
        if isinstance(config.get(key), dict):
            _check_fields(config[key], fields, f"config['{key}']")
    if config["model"] in ("betavae", "tfvae") and not isinstance(config.get("module"), dict):
        raise DataError(f"config['module'] is missing for a '{config['model']}' run.")
    return int(version)


def validate_metrics(metrics: Any) -> None:
    """Check ``metrics.json``: an object, with numbers where numbers are drawn."""
    if not isinstance(metrics, dict):
        raise DataError(f"metrics.json should be an object, not {type(metrics).__name__}.")
    _check_fields(metrics, METRIC_FIELDS, "metrics")
    for key, value in metrics.items():
        if key in METRIC_FIELDS:
            continue
        if key.startswith(NUMERIC_PREFIXES) and not OPT_NUM(value):
            raise DataError(f"metrics['{key}'] should be a number or null, "
                            f"not {type(value).__name__}.")


def read_json(path: Path, *, required: bool) -> Any:
    """Parse a run's JSON file with a size cap; ``{}`` when optional and absent."""
    if not path.is_file():
        if required:
            raise DataError(f"{path.parent.name} is not a run folder (no {path.name}).")
        return {}
    if path.stat().st_size > MAX_JSON_BYTES:
        raise DataError(f"{path.name} is over {MAX_JSON_BYTES // 1024 ** 2} MB; not a run file.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path.name} is damaged: {str(exc)[:100]}") from None


def read_run_json(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, metrics)`` of a run folder, both validated.

    Raises
    ------
    DataError
        ``"Run <name>: <reason>"`` when a file is missing, damaged or of the wrong shape.
    """
    try:
        config = read_json(path / "config.json", required=True)
        validate_config(config)
        metrics = read_json(path / "metrics.json", required=False)
        validate_metrics(metrics)
    except DataError as exc:
        raise DataError(f"Run {path.name}: {exc}") from None
    return config, metrics


def implied_weight_bytes(module: dict[str, Any]) -> int:
    """A lower bound of the float32 bytes of the weights a ``config['module']`` builds.

    Counts the encoder's layers and, for a TF-VAE, the TF→gene layer: enough to refuse a
    config that declares a huge model before any tensor is allocated.
    """
    widths = [module.get("n_input", 0), *module.get("hidden", [])]
    n_latent = module.get("n_latent") or len(module.get("tf_names") or [])
    params = sum(a * b for a, b in zip(widths, widths[1:])) + widths[-1] * n_latent * 2
    if "tf_names" in module:
        params += n_latent * module.get("n_input", 0)
    return 4 * int(params)


def check_module_size(config: dict[str, Any], weights: Path | None) -> None:
    """Refuse a module that would be too large, or larger than its saved weights.

    Parameters
    ----------
    config
        A validated ``config.json``.
    weights
        The run's ``model.pt`` (its size is compared with the implied weights, which may be
        stored as float16), if any.
    """
    module = config.get("module")
    if not isinstance(module, dict):
        return
    need = implied_weight_bytes(module)
    if need > MAX_MODEL_BYTES:
        raise DataError(f"config['module'] describes a model of {need / 1024 ** 3:.1f} GB "
                        f"(over {MAX_MODEL_BYTES / 1024 ** 3:.0f} GB); it is not loaded.")
    # Weights may be stored as float16 (the shipped example runs, docs/make_example_runs.py;
    # load_state_dict casts them back), i.e. half the float32 size implied here.
    if weights is not None and weights.is_file() and weights.stat().st_size < need // 2:
        raise DataError(f"model.pt ({weights.stat().st_size:,} bytes) is smaller than the "
                        f"model config.json describes ({need:,} bytes): the run is damaged and "
                        "does not load.")


@dataclass(frozen=True)
class Unreadable:
    """A folder in the runs directory that is not a usable run, and why."""

    path: Path
    reason: str

    @property
    def id(self) -> str:
        """Folder name."""
        return self.path.name


def read_status(path: Path) -> dict[str, Any] | None:
    """The validated ``status.json`` of a run folder, or ``None`` for a finished run.

    Raises
    ------
    DataError
        When the file is damaged or of the wrong shape.
    """
    f = Path(path) / STATUS_FILE
    if not f.exists():
        return None
    status = read_json(f, required=True)
    if not isinstance(status, dict) or status.get("state") != "incomplete":
        raise DataError(f"Run {Path(path).name}: {STATUS_FILE} is not a run status.")
    try:
        _check_fields(status, STATUS_FIELDS, "status")
    except DataError as exc:
        raise DataError(f"Run {Path(path).name}: {exc}") from None
    return status


def write_status(path: Path, **fields: Any) -> None:
    """Mark ``path`` incomplete (atomically), updating the fields given."""
    import os
    import time

    f = Path(path) / STATUS_FILE
    try:
        status = read_status(path) or {}
    except DataError:
        status = {}
    status.update(fields, state="incomplete", updated=time.time())
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, f)


def clear_status(path: Path) -> None:
    """Mark ``path`` finished (a complete run)."""
    (Path(path) / STATUS_FILE).unlink(missing_ok=True)


@dataclass(frozen=True)
class Incomplete:
    """A run folder that is not finished: its status (epoch, reason) and owner."""

    path: Path
    status: dict[str, Any]

    @property
    def id(self) -> str:
        """Folder name."""
        return self.path.name

    @property
    def owner(self) -> str | None:
        """Who may resume or delete it."""
        return owner_of(self.path)


def incomplete_runs(root: Path) -> list[Incomplete]:
    """Unfinished run folders under ``root`` (newest first); a damaged status is unreadable."""
    if not Path(root).is_dir():
        return []
    found = []
    for p in sorted(Path(root).iterdir(), reverse=True):
        if p.is_dir() and not p.name.startswith("."):
            try:
                status = read_status(p)
            except (DataError, OSError):
                continue
            if status is not None:
                found.append(Incomplete(p, status))
    return found


def unreadable_runs(root: Path) -> list[Unreadable]:
    """Folders under ``root`` that look like runs but fail validation (or have a hidden name).

    Imports still being unpacked (``.import-*``) are not listed.
    """
    if not root.is_dir():
        return []
    found = []
    for p in sorted(root.iterdir()):
        if not p.is_dir() or p.name.startswith(".import-"):
            continue
        if not (p / "config.json").exists() and not (p / STATUS_FILE).exists():
            continue
        try:
            if read_status(p) is not None:
                continue                    # unfinished: listed by incomplete_runs
            read_run_json(p)
        except (DataError, OSError) as exc:
            found.append(Unreadable(p, str(exc)))
            continue
        if p.name.startswith("."):
            found.append(Unreadable(p, f"Run {p.name}: a name starting with '.' is hidden."))
    return found


def owner_of(path: Path) -> str | None:
    """The session (or user) that created the run, or ``None`` when not recorded."""
    f = Path(path) / OWNER_FILE
    try:
        return f.read_text(encoding="utf-8").strip()[:200] or None if f.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def set_owner(path: Path, owner: str) -> None:
    """Record ``owner`` as the creator of the run folder ``path``."""
    (Path(path) / OWNER_FILE).write_text(owner, encoding="utf-8")
