"""Deleting runs: only the owner deletes a run; unreadable folders are listed and removable.

Issue 19, items 1 and 9. A run's owner is recorded in the folder when a job of this app
creates it or a .zip adds it (:func:`ui.jobs.owner_id`); runs without an owner (from the CLI
or an older version) and other sessions' runs are read-only here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.runs import default_runs_root, delete_run, is_example_run
from core.runs.schema import owner_of, unreadable_runs
from ui.jobs import owner_id


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
