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
DETECT_DELAY_S = 2.0


def _detect_device() -> None:
    from core.device import describe_device

    try:
        label = describe_device("auto")
    except Exception as exc:  # noqa: BLE001 - a status line must never break the app
        label = f"unknown ({exc})"
    _DEVICE["label"] = label


def device_label() -> str | None:
    """The compute device's name, or ``None`` while it is still being detected."""
    with _LOCK:
        if "label" not in _DEVICE and "thread" not in _DEVICE:
            _DEVICE["thread"] = "started"
            # Started a moment later, so the import does not compete with the first page draw.
            timer = threading.Timer(DETECT_DELAY_S, _detect_device)
            timer.daemon = True
            timer.start()
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
    label = device_label()
    st.markdown(f"**Device:** {label or 'detecting…'}")
    line = job_line()
    if line:
        st.caption(line)


def sidebar_status() -> None:
    """Draw the device and job lines, refreshing every 2 s while either can change."""
    busy = device_label() is None or job_line() is not None
    st.fragment(_status_lines, run_every=2.0 if busy else None)()
