"""Run folders: save, load, list, import and archive them; fingerprints; the schema version.

A run is a folder (``config.json``, ``metrics.json``, ``history.csv``, ``model.pt``,
``latent.npy`` and further ``<name>.npy`` / ``<name>.csv``); see ARCHITECTURE.md for the
schema and its versions.
"""

from core.runs.config import run_config
from core.runs.data import run_data
from core.runs.fingerprint import data_fingerprint, run_matches
from core.runs.store import (
    MAX_ARCHIVE_BYTES,
    RUNS_ENV,
    SCHEMA_VERSION,
    Run,
    begin_run,
    default_runs_root,
    delete_run,
    end_run,
    example_runs_root,
    import_run_archive,
    is_example_run,
    list_runs,
    load_run,
    new_run_dir,
    run_archive,
    run_checkpointer,
    save_run,
)

__all__ = ["MAX_ARCHIVE_BYTES", "RUNS_ENV", "SCHEMA_VERSION", "Run", "begin_run",
           "data_fingerprint", "default_runs_root", "delete_run", "end_run",
           "example_runs_root", "import_run_archive", "is_example_run", "list_runs", "load_run",
           "new_run_dir", "run_archive", "run_checkpointer", "run_config", "run_data",
           "run_matches", "save_run"]
