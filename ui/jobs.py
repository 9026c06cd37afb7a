"""Background jobs in the UI: the server-wide registry, the live progress panel, run pickers.

Pages submit work with :func:`submit` and draw :func:`progress_panel`; the panel is an
``st.fragment`` that polls the job's thread-safe :class:`~core.training.progress.Progress`
every second, so only the panel reruns while training. Streamlit is never called from the
worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from core.pl.figures import history_curves
from core.runs import Run, data_fingerprint, default_runs_root, import_run_archive, list_runs
from core.runs.schema import set_owner
from core.training.jobs import Job, JobRegistry, JobTarget
from ui.state import LoadedDataset, session_id

SELECTED_RUN_KEY = "selected_run"


@st.cache_resource
def registry() -> JobRegistry:
    """One job registry per server; at most one job trains at a time, others queue."""
    return JobRegistry(max_running=1)


def owner_id() -> str:
    """Who owns the runs this session creates: the signed-in user, else the session."""
    try:
        if st.user.is_logged_in:
            return f"user:{st.user.get('email') or st.user.get('sub')}"
    except (AttributeError, KeyError):   # no authentication configured
        pass
    return f"session:{session_id()}"


def submit(kind: str, target: JobTarget, *, label: str, phases: list[str] | None = None) -> Job:
    """Start ``target(progress, cancel)`` in the background as this session's job.

    A run it returns is recorded as this session's (:func:`owner_id`): only it may delete it.
    """
    owner = owner_id()

    def owned(progress, cancel):
        result = target(progress, cancel)
        if isinstance(result, Run):
            set_owner(result.path, owner)
        return result

    return registry().submit(session_id(), kind, owned, label=label, phases=phases)


def active_job(kind: str | None = None) -> Job | None:
    """This session's queued or running job (of one kind), if any."""
    return registry().active(session_id(), kind)


def last_job(kind: str | None = None) -> Job | None:
    """This session's newest job of ``kind``, whatever its status."""
    jobs = registry().jobs(session_id(), kind)
    return jobs[0] if jobs else None


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "estimating…"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _draw_progress(job: Job, curve_terms: Sequence[str]) -> None:
    snap = job.progress.snapshot()
    phases = snap["phases"]
    phase_txt = (f"phase {snap['phase_index'] + 1}/{len(phases)}: **{snap['phase']}**"
                 if len(phases) > 1 else f"**{snap['phase']}**")
    if job.status == "queued":
        st.info("Queued: another training job is using the device; this one starts next.",
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
        current = registry().get(session_id(), job.id)
        if current is None:
            return
        if not current.active:
            if on_finish is not None:
                on_finish(current)
            st.rerun()
        _draw_progress(current, curve_terms)
        if st.button("Cancel", key=f"cancel_{kind}", icon=":material/stop_circle:"):
            current.cancel()
            st.toast("Cancelling… the job stops within one epoch.")

    _panel()
    return job


def job_outcome(kind: str) -> None:
    """Tell the user how this session's last job of ``kind`` ended (once per job)."""
    job = last_job(kind)
    if job is None or job.active:
        return
    seen = st.session_state.setdefault("_seen_jobs", set())
    if job.id in seen:
        return
    seen.add(job.id)
    run = job.result if isinstance(job.result, Run) else None
    if job.status == "failed":
        st.error(f"{job.label} failed: {job.error}", icon=":material/error:")
    elif job.status == "cancelled":
        st.warning(f"{job.label} was cancelled." + (" The weights trained so far were saved."
                                                     if run is not None else ""))
    elif run is not None:
        msg = run.metrics.get("message") or ""
        st.success(f"{job.label} finished: run `{run.id}`. {msg}", icon=":material/check:")
        st.session_state[SELECTED_RUN_KEY] = run.id


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
    wanted = st.session_state.get(SELECTED_RUN_KEY)
    if key not in st.session_state or st.session_state[key] not in ids:
        st.session_state[key] = wanted if wanted in ids else ids[0]
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox(label, ids, key=key, format_func=lambda i: run_label(by_id[i]))
    st.session_state[SELECTED_RUN_KEY] = chosen
    return by_id[chosen]


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
