"""Deleting runs: only the owner deletes a run; unreadable folders are listed and removable.

Issue 19, items 1 and 9. A run's owner is recorded in the folder when a job of this app
creates it or a .zip adds it (:func:`ui.jobs.owner_id`); runs without an owner (from the CLI
or an older version) and other sessions' runs are read-only here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.jobs.queue import JobQueue
from core.runs import default_runs_root, delete_run, is_example_run
from core.runs.schema import incomplete_runs, owner_of, unreadable_runs
from ui.jobs import owner_id, queue, submit_spec


def delete_control(path: Path, *, key: str) -> None:
    """A 'Delete run' popover for the owner of ``path``; a read-only note for anyone else."""
    if is_example_run(path):
        st.caption(":material/lock: Read-only: an example run shipped with the app.")
        return
    owner = owner_of(path)
    if owner != owner_id():
        st.caption(":material/lock: Read-only: "
                   + ("created by another session." if owner else
                      "created outside this app (delete it on the server)."))
        return
    with st.popover("Delete run", icon=":material/delete:"):
        st.write(f"Delete `{path.name}` and its files? This cannot be undone.")
        if st.button("Delete", key=key, type="primary"):
            delete_run(path)
            st.toast(f"Deleted {path.name}")
            st.rerun()


def unreadable_section() -> None:
    """List folders of the runs directory that are not usable runs, with the reason."""
    bad = unreadable_runs(default_runs_root())
    if not bad:
        return
    with st.expander(f"Unreadable run folders ({len(bad)})", icon=":material/warning:"):
        st.caption("These folders are not valid runs (damaged or of an unknown shape); they are "
                   "not opened. Delete them, or fix them on the server.")
        for i, item in enumerate(bad):
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            c1.text(item.reason)            # st.text: a file name is never read as markdown
            if c2.button("Delete", key=f"delete_unreadable_{i}", icon=":material/delete:"):
                delete_run(item.path)
                st.toast(f"Deleted {item.id}")
                st.rerun()


def _unfinished_text(status: dict) -> str:
    done, total = status.get("epoch", 0), status.get("n_epochs", "?")
    phase = status.get("phase")
    where = (f"checkpoint after epoch {done} of {total}" + (f" ({phase})" if phase and
                                                             phase != "train" else "")
             if done else "no checkpoint yet (resuming starts it again)")
    reason = status.get("reason")
    return (f"{status.get('model', '?')} on {status.get('dataset', '?')} · {where}"
            + (f" · {reason}" if reason else ""))


def unfinished_section(models: tuple[str, ...] = ("betavae",)) -> None:
    """Unfinished runs of ``models`` that no job is training: the owner resumes or deletes.

    Issue 19 (durability): a run killed (``kill -9``, a restart) or cancelled keeps its
    checkpoint; Resume queues it again and it finishes with the epochs it would have had.
    """
    root = default_runs_root()
    if JobQueue.exists(root):
        queue().recover()                  # jobs of workers that died: unfinished here
    busy = ({str(j.run_dir) for j in queue().jobs(active=True)}
            if JobQueue.exists(root) else set())
    items = [i for i in incomplete_runs(root)
             if i.status.get("model") in models and str(i.path) not in busy]
    if not items:
        return
    me = owner_id()
    with st.expander(f"Unfinished runs ({len(items)})", expanded=True,
                     icon=":material/pending_actions:"):
        st.caption("Training of these runs stopped before the end (cancelled, the worker was "
                   "killed, or the server restarted). Resume continues from the last checkpoint "
                   "and ends with the same number of epochs.")
        for i, item in enumerate(items):
            c1, c2, c3 = st.columns([6, 1, 1], vertical_alignment="center")
            c1.markdown(f"`{item.id}`")
            c1.text(_unfinished_text(item.status))   # st.text: names never read as markdown
            if item.owner != me:
                c2.caption(":material/lock: another session's")
                continue
            if c2.button("Resume", key=f"resume_run_{i}", icon=":material/play_arrow:"):
                _resume(item.path)
            if c3.button("Delete", key=f"delete_unfinished_{i}", icon=":material/delete:"):
                delete_run(item.path)
                st.toast(f"Deleted {item.id}")
                st.rerun()


def _resume(path: Path) -> None:
    from core.jobs.spec import load_spec
    from ui.messages import run_safely

    if run_safely(lambda: submit_spec(load_spec(path), run_dir=path, resume=True),
                  action="resuming the run") is not None:
        st.rerun()
