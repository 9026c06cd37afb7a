"""Background jobs in the UI: a thin client of the job queue, the live panel, run pickers.

β-VAE and TF-VAE jobs are processes (:mod:`core.jobs`): the page writes a job spec into the
queue of the runs directory (:func:`submit_spec`), makes sure worker processes run
(:func:`ensure_workers`), and reads the job's progress from its run folder. So a reload, a new
tab with the same address, or a restarted server finds the job again: it is looked up by its
owner (:func:`owner_id`, which the address carries as ``?sid=``). scGen and phenotype jobs
still run as threads of this server (:func:`submit`, :class:`core.training.jobs.JobRegistry`):
their inputs (uploaded tables, a trained run's features) are not yet described by a spec.

:func:`progress_panel` is an ``st.fragment`` that polls the job every second, so only the
panel reruns while training. Streamlit is never called from a worker.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.jobs.queue import JobQueue, JobRecord, waiting_times
from core.pl.figures import history_curves
from core.runs import Run, data_fingerprint, default_runs_root, import_run_archive, list_runs
from core.runs.schema import set_owner
from core.training.jobs import Job, JobRegistry, JobTarget
from ui.state import LoadedDataset, session_id

SELECTED_RUN_KEY = "selected_run"
#: Job kinds that run as worker processes; the others are threads of this server.
PROCESS_KINDS = ("betavae", "tfvae")
#: Jobs that train at once (one worker process each): ``SCVAE_JOB_SLOTS``, default 1 (one
#: GPU, or this machine's two CPU cores, is shared; two jobs on 2 cores each take twice as
#: long); 0: the app starts no worker (``python -m core worker`` processes serve the queue,
#: e.g. one per GPU). A worker with nothing to do exits after ``SCVAE_WORKER_IDLE_EXIT``
#: seconds (600); the app starts one again for the next job.
SLOTS_ENV, IDLE_ENV = "SCVAE_JOB_SLOTS", "SCVAE_WORKER_IDLE_EXIT"
#: A finished job's outcome is announced to sessions that open the page within this time.
OUTCOME_SECONDS = 900


@st.cache_resource
def registry() -> JobRegistry:
    """One thread-job registry per server (scGen, phenotype); one job at a time."""
    return JobRegistry(max_running=1)


def job_slots() -> int:
    """How many workers the app keeps for the queue (``SCVAE_JOB_SLOTS``, 0–16)."""
    try:
        return min(16, max(0, int(os.environ.get(SLOTS_ENV, "1"))))
    except ValueError:
        return 1


def queue() -> JobQueue:
    """The job queue of the runs directory."""
    return JobQueue(default_runs_root())


@st.cache_resource
def _started_workers() -> list:
    """Worker processes this server started (polled so that an exited one is reaped)."""
    return []


def ensure_workers() -> int:
    """Start worker processes until :func:`job_slots` are alive; returns how many started.

    A file lock keeps two sessions (or two servers on one runs directory) from starting
    workers for the same slot.
    """
    from core.jobs.worker import start_worker

    procs = _started_workers()
    procs[:] = [p for p in procs if p.poll() is None]      # reap the exited ones
    root = default_runs_root()
    try:
        idle = float(os.environ.get(IDLE_ENV, "600"))
    except ValueError:
        idle = 600.0
    with open(queue().folder / "workers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = job_slots() - len(queue().live_workers())
        for _ in range(max(0, missing)):
            procs.append(start_worker(root, idle_exit=idle))
    return max(0, missing)


def owner_id() -> str:
    """Who owns the runs this session creates: the signed-in user, else the session."""
    try:
        if st.user.is_logged_in:
            return f"user:{st.user.get('email') or st.user.get('sub')}"
    except (AttributeError, KeyError):   # no authentication configured
        pass
    return f"session:{session_id()}"


class _FileProgress:
    """``snapshot()`` of a process job: read from its run folder."""

    def __init__(self, record: JobRecord) -> None:
        self.record = record

    def snapshot(self) -> dict[str, Any]:
        return self.record.progress()


@dataclass
class ProcessJob:
    """A queued or running worker job, with the attributes the panels read from a thread
    :class:`~core.training.jobs.Job`."""

    record: JobRecord

    id = property(lambda self: self.record.id)
    kind = property(lambda self: self.record.kind)
    label = property(lambda self: self.record.label)
    owner = property(lambda self: self.record.owner)
    created = property(lambda self: self.record.created)
    progress = property(lambda self: _FileProgress(self.record))

    @property
    def status(self) -> str:
        """queued, running, done, failed, cancelled or interrupted."""
        return self.record.status

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.record.active

    @property
    def error(self) -> str:
        """Why it failed, was cancelled or interrupted."""
        return self.record.error

    @property
    def result(self) -> Run | None:
        """The finished run."""
        from core.errors import DataError
        from core.runs import load_run

        if self.record.status != "done":
            return None
        try:
            return load_run(self.record.run_dir)
        except DataError:
            return None

    def cancel(self) -> None:
        """Ask the worker to stop (within one batch); the run keeps its checkpoint."""
        queue().cancel(self.record.id, self.record.owner)


AnyJob = Job | ProcessJob


def submit_spec(spec: Any, *, run_dir: Path | None = None, resume: bool = False) -> ProcessJob:
    """Queue a :class:`~core.jobs.spec.JobSpec` as this session's job and start a worker."""
    from dataclasses import replace

    job = queue().submit(replace(spec, owner=owner_id()), run_dir=run_dir, resume=resume)
    ensure_workers()
    return ProcessJob(job)


def dataset_spec(ds: LoadedDataset, kind: str, **fields: Any) -> tuple[Any, Path]:
    """``(spec, run folder)`` for training ``kind`` on the session's dataset.

    A bundled dataset is named with its preprocessing settings (the worker preprocesses it
    the same way, from the disk cache); any other data is written, preprocessed, into the
    run folder as ``input.h5ad`` (removed when the run finishes).
    """
    from dataclasses import replace

    from core.jobs.spec import JobSpec
    from core.runs import delete_run, new_run_dir

    bundled = ds.token.startswith("bundled:")
    spec = JobSpec.from_dict({
        "kind": kind, "data": ds.token.split(":", 1)[1] if bundled else "input.h5ad",
        "dataset": ds.name, "preprocess": ds.config.to_dict() if bundled else None,
        "label_key": ds.label_key, "owner": owner_id(), **fields}).check()
    run_dir = new_run_dir(kind, ds.name, default_runs_root())
    if not bundled:
        try:
            ds.adata.write_h5ad(run_dir / "input.h5ad")
        except Exception:
            delete_run(run_dir)
            raise
        spec = replace(spec, data=str(run_dir / "input.h5ad"))
    return spec, run_dir


def submit(kind: str, target: JobTarget, *, label: str, phases: list[str] | None = None) -> Job:
    """Start ``target(progress, cancel)`` in a thread of this server as this session's job.

    A run it returns is recorded as this session's (:func:`owner_id`): only it may delete it.
    """
    owner = owner_id()

    def owned(progress, cancel):
        result = target(progress, cancel)
        if isinstance(result, Run):
            set_owner(result.path, owner)
        return result

    return registry().submit(session_id(), kind, owned, label=label, phases=phases)


def _process_jobs(kind: str | None) -> list[ProcessJob]:
    if kind is not None and kind not in PROCESS_KINDS:
        return []
    root = default_runs_root()
    if not JobQueue.exists(root):
        return []
    return [ProcessJob(r) for r in queue().jobs(owner_id(), kind=kind, limit=20)]


def _all_jobs(kind: str | None) -> list[AnyJob]:
    jobs: list[AnyJob] = [*registry().jobs(session_id(), kind), *_process_jobs(kind)]
    return sorted(jobs, key=lambda j: j.created, reverse=True)


def active_job(kind: str | None = None) -> AnyJob | None:
    """This session's (owner's) queued or running job (of one kind), if any."""
    return next((j for j in _all_jobs(kind) if j.active), None)


def last_job(kind: str | None = None) -> AnyJob | None:
    """This session's newest job of ``kind``, whatever its status."""
    jobs = _all_jobs(kind)
    return jobs[0] if jobs else None


def _current(job: AnyJob) -> AnyJob | None:
    if isinstance(job, ProcessJob):
        q = queue()
        if job.status == "running":
            q.recover()                     # its worker died: the job ends "interrupted"
        record = q.get(job.id)
        return ProcessJob(record) if record is not None else None
    return registry().get(session_id(), job.id)


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "estimating…"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _draw_progress(job: AnyJob, curve_terms: Sequence[str]) -> None:
    snap = job.progress.snapshot()
    phases = snap["phases"]
    phase_txt = (f"phase {snap['phase_index'] + 1}/{len(phases)}: **{snap['phase']}**"
                 if len(phases) > 1 else f"**{snap['phase']}**")
    if job.status == "queued":
        st.info(f"Queued: {queue_position(job)} The job starts when a worker is free.",
                icon=":material/hourglass_top:")
    st.progress(min(1.0, snap["fraction"]),
                text=f"{job.label} · {phase_txt} · epoch {snap['epoch']}/{snap['n_epochs']} · "
                     f"ETA {_fmt_eta(snap['eta_seconds'])}")
    terms = snap["terms"]
    shown = {k: v for k, v in terms.items() if k in ("beta", "train_loss", "train_recon",
                                                     "train_kl", "val_loss")}
    if shown:
        cols = st.columns(len(shown))
        for col, (k, v) in zip(cols, shown.items()):
            col.metric(k.replace("_", " "), f"{v:.3g}")
    if snap["message"]:
        st.caption(snap["message"])
    hist = pd.DataFrame(snap["history"])
    if len(hist) > 1:
        hist = hist[hist["phase"] == snap["phase"]] if "phase" in hist else hist
        st.plotly_chart(history_curves(hist, terms=curve_terms, height=260), width="stretch",
                        key=f"live_curve_{job.id}")


def progress_panel(kind: str, *, curve_terms: Sequence[str] = ("train_recon", "train_kl"),
                   on_finish: Callable[[Job], None] | None = None) -> Job | None:
    """Show this session's active job of ``kind`` with live progress and a Cancel button.

    Polls once a second inside a fragment; when the job ends it reruns the whole page once
    (after calling ``on_finish(job)``), so the runs list and results refresh.

    Returns the active job, or ``None`` when nothing is running.
    """
    job = active_job(kind)
    if job is None:
        return None

    @st.fragment(run_every=1.0)
    def _panel() -> None:
        current = _current(job)
        if current is None:
            return
        if not current.active:
            if on_finish is not None:
                on_finish(current)
            st.rerun()
        _draw_progress(current, curve_terms)
        if st.button("Cancel", key=f"cancel_{kind}", icon=":material/stop_circle:"):
            current.cancel()
            st.toast("Cancelling… the job stops within one batch"
                     + (" and keeps its checkpoint to resume." if isinstance(current, ProcessJob)
                        else "."))
        if isinstance(current, ProcessJob):
            queue_section(min_rows=2)

    _panel()
    return job


def queue_section(min_rows: int = 1) -> None:
    """The job queue table, when it has at least ``min_rows`` jobs (the live panel shows
    it from 2: its own job, and others')."""
    line = queue_table()
    if len(line) >= min_rows:
        st.markdown("**Job queue** (every session's and the CLI's jobs on this runs folder)")
        st.dataframe(line, hide_index=True, width="stretch")


def job_outcome(kind: str) -> None:
    """Tell the user how this session's last job of ``kind`` ended (once per job)."""
    job = last_job(kind)
    if job is None or job.active:
        return
    seen = st.session_state.setdefault("_seen_jobs", set())
    if job.id in seen:
        return
    seen.add(job.id)
    finished = getattr(getattr(job, "record", job), "finished", None)
    if finished is not None and time.time() - finished > OUTCOME_SECONDS:
        return
    run = job.result if isinstance(job.result, Run) else None
    if job.status == "failed":
        st.error(f"{job.label} failed: {job.error}", icon=":material/error:")
    elif job.status in ("cancelled", "interrupted"):
        kept = isinstance(job, ProcessJob) and (job.record.run_dir / "checkpoint.pt").exists()
        st.warning(f"{job.label} was {job.status}."
                   + (" It is kept unfinished with its checkpoint: resume or delete it under "
                      "'Unfinished runs'." if kept else
                      " The weights trained so far were saved." if run is not None else ""))
    elif run is not None:
        msg = run.metrics.get("message") or ""
        st.success(f"{job.label} finished: run `{run.id}`. {msg}", icon=":material/check:")
        st.session_state[SELECTED_RUN_KEY] = run.id


def queue_position(job: AnyJob) -> str:
    """``"position 2 of 3 · starts in ≈ 40 s."``-style text for a queued process job."""
    if not isinstance(job, ProcessJob):
        return "another training job is using the device."
    line = queue().line()
    waiting = [j for j in line if j.status == "queued"]
    ids = [j.id for j in waiting]
    if job.id not in ids:
        return ""
    ends = waiting_times(line, max(1, job_slots()))
    ahead = ids.index(job.id)
    start = ends.get(ids[ahead - 1]) if ahead else min(
        (ends[j.id] for j in line if j.status == "running"), default=0.0)
    when = f" · starts in ≈ {_fmt_eta(start)}" if start is not None and math.isfinite(
        start) else ""
    return f"position {ahead + 1} of {len(ids)} in the queue{when}."


def queue_table() -> pd.DataFrame:
    """The running and queued jobs of the runs directory: position, job, status, ETA.

    Other owners' jobs show no label (only that a job of theirs holds a place).
    """
    root = default_runs_root()
    if not JobQueue.exists(root):
        return pd.DataFrame()
    line = queue().line()
    ends = waiting_times(line, max(1, job_slots()))
    me = owner_id()
    rows, position = [], 0
    for job in line:
        snap = job.progress() if job.status == "running" else {}
        if job.status == "queued":
            position += 1
        eta = ends.get(job.id, math.nan)
        rows.append({
            "position": position if job.status == "queued" else 0,
            "job": job.label if job.owner == me else "another session's job",
            "status": job.status,
            "epoch": f"{snap['epoch']}/{snap['n_epochs']}" if snap.get("n_epochs") else "",
            "ends in": _fmt_eta(eta) if math.isfinite(eta) else "–",
        })
    return pd.DataFrame(rows)


@st.cache_data(ttl=5, show_spinner=False)
def _fingerprint(token: str, _adata: Any) -> str:
    return data_fingerprint(_adata)


def dataset_fingerprint(ds: LoadedDataset) -> str:
    """Fingerprint of the session's preprocessed data (cached per load and settings)."""
    return _fingerprint(f"{ds.token}:{ds.config!r}", ds.adata)


def runs_for(ds: LoadedDataset, model: str | Sequence[str] | None = None) -> list[Run]:
    """Runs under the runs directory trained on exactly this data (newest first)."""
    fp = dataset_fingerprint(ds)
    models = [model] if isinstance(model, str) else model
    return [r for r in list_runs(default_runs_root(), fingerprint=fp, examples=True)
            if models is None or r.model in models]


def run_picker(ds: LoadedDataset, model: str | Sequence[str] | None, *, key: str,
               label: str = "Run") -> Run | None:
    """A selectbox over this dataset's runs; defaults to the last run trained or opened."""
    runs = runs_for(ds, model)
    if not runs:
        return None
    ids = [r.id for r in runs]
    follow_selected(key, ids)
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox(label, ids, key=key, format_func=lambda i: run_label(by_id[i]))
    st.session_state[SELECTED_RUN_KEY] = st.session_state[f"_{key}_followed"] = chosen
    return by_id[chosen]


def follow_selected(key: str, ids: list[str]) -> None:
    """Point the run selectbox ``key`` at the last run trained or opened (SELECTED_RUN_KEY)
    when that changed since the widget last followed it; the user's own pick stays otherwise
    (a keyed selectbox ignores its ``index`` once it has a value)."""
    wanted, seen = st.session_state.get(SELECTED_RUN_KEY), f"_{key}_followed"
    if wanted in ids and st.session_state.get(seen) != wanted:
        st.session_state[key] = wanted
    elif st.session_state.get(key) not in ids:
        st.session_state[key] = ids[0]
    st.session_state[seen] = wanted


def run_label(run: Run) -> str:
    """Short description of a run for pickers and tables."""
    m = run.metrics
    ari = m.get("ari_kmeans_vae")
    ari_txt = f" · ARI {ari:.3f}" if isinstance(ari, float) else ""
    example = " · example (read-only)" if run.read_only else ""
    return f"{run.id} · {m.get('n_epochs_run', '?')} ep{ari_txt}{example}"


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: id, model, epochs, training and total time (training plus scoring
    and saving: the total is what the user waited), device, ARI/NMI of the latent vs PCA."""
    rows = []
    for r in runs:
        m = r.metrics
        rows.append({
            "run": r.id, "model": r.model, "epochs": m.get("n_epochs_run"),
            "training (s)": m.get("train_seconds"), "total (s)": m.get("total_seconds"),
            "device": m.get("device"),
            "ARI (latent)": m.get("ari_kmeans_vae"), "ARI (PCA)": m.get("ari_kmeans_pca"),
            "NMI (latent)": m.get("nmi_kmeans_vae"), "stopped": m.get("stopped"),
        })
    return pd.DataFrame(rows)


def import_run_section(ds: LoadedDataset) -> None:
    """'Add a run from a .zip': unpack a downloaded run folder into the runs directory."""
    from ui.messages import run_safely, set_feedback, show_feedback

    with st.expander("Add a run from a .zip", icon=":material/upload:"):
        st.caption("A run folder downloaded with 'Model (run folder, .zip)' on this or another "
                   "scVAE Studio server: it is unpacked into the runs directory and listed with "
                   "the data it was trained on.")
        upload = st.file_uploader("Run folder (.zip)", type=["zip"], key="run_zip")
        if st.button("Add run", key="run_zip_add", icon=":material/add:",
                     disabled=upload is None):
            run = run_safely(lambda: import_run_archive(upload.getvalue(), default_runs_root()),
                             action="adding the run")
            if run is not None:
                set_owner(run.path, owner_id())
                data = run.config.get("data", {})
                here = data.get("fingerprint") == dataset_fingerprint(ds)
                set_feedback(
                    "run_zip", "success" if here else "info",
                    f"Added run {run.id} ({run.model})."
                    + ("" if here else f" It was trained on '{data.get('name', '?')}' with other "
                       "cells or preprocessing, so it is listed when that data is loaded."))
                st.rerun()
        show_feedback("run_zip")
