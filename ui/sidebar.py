"""The sidebar's status lines: the compute device and this session's training job.

Neither may slow the first view: ``torch`` (imported by the device check and by the job
registry) took 6 s of CPU on a busy server, more than the whole Data page, so the device is
detected in a background thread after the page is drawn, and the job registry is only asked
once something has imported it (no job can exist before). The lines are an ``st.fragment``
that refreshes itself while the device is being detected or a job runs, so the job line
follows the training panel instead of staying at "starting" (issue 21).
"""

from __future__ import annotations

import sys
import threading

import streamlit as st

_DEVICE: dict[str, str] = {}
_LOCK = threading.Lock()
_RUNS_KEY = "_sidebar_status_runs"


def _detect_device() -> None:
    from core.device import describe_device

    try:
        label = describe_device("auto")
    except Exception as exc:  # noqa: BLE001 - a status line must never break the app
        label = f"unknown ({exc})"
    _DEVICE["label"] = label


def device_label(*, detect: bool = True) -> str | None:
    """The compute device's name, or ``None`` while it is still being detected.

    Parameters
    ----------
    detect
        Start the detection thread if it has not started yet.
    """
    with _LOCK:
        if detect and "label" not in _DEVICE and "thread" not in _DEVICE:
            _DEVICE["thread"] = "started"
            threading.Thread(target=_detect_device, name="device-detect", daemon=True).start()
    return _DEVICE.get("label")


def job_line() -> str | None:
    """``"Training: <label> · <phase> · epoch e/n"`` for this session's active job, if any."""
    if "ui.jobs" not in sys.modules:  # nothing imported the registry: no job can exist
        return None
    from ui.jobs import active_job

    job = active_job()
    if job is None:
        return None
    snap = job.progress.snapshot()
    if job.status == "queued":
        where = "queued"
    elif snap["n_epochs"]:
        where = f"{snap['phase']} · epoch {snap['epoch']}/{snap['n_epochs']}"
    else:
        where = f"{snap['phase'] or 'starting'}"
    return f"Training: {job.label} · {where}"


def _status_lines() -> None:
    # Inline in the full script run the count is 1; detection starts on the fragment's own
    # rerun, after the page has been drawn, so torch's import never competes with it.
    st.session_state[_RUNS_KEY] = st.session_state.get(_RUNS_KEY, 0) + 1
    label = device_label(detect=st.session_state[_RUNS_KEY] > 1)
    st.markdown(f"**Device:** {label or 'detecting…'}")
    line = job_line()
    if line:
        st.caption(line)


def sidebar_status() -> None:
    """Draw the device and job lines, refreshing every 2 s while either can change."""
    st.session_state[_RUNS_KEY] = 0
    busy = device_label(detect=False) is None or job_line() is not None
    st.fragment(_status_lines, run_every=2.0 if busy else None)()
