"""Showing errors to users: a clear message, never a raw traceback.

Actions that change the session's data run in widget callbacks (before the script reruns), so
that everything drawn afterwards, the sidebar included, shows the new state. A callback cannot
place a message next to its button, so it records the message under a key and the page shows
it where it belongs with :func:`show_feedback`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from core.errors import ScvaeError

T = TypeVar("T")
_ICONS = {"error": ":material/error:", "success": ":material/check:",
          "info": ":material/info:"}


def error_message(exc: Exception, *, action: str) -> str:
    """The text shown for ``exc``: its own message for user errors, a plain summary otherwise."""
    if isinstance(exc, ScvaeError):
        return str(exc)
    # unexpected: say so plainly; the traceback goes to the server log
    logging.getLogger("scvae").error("Unexpected error while %s", action, exc_info=exc)
    return (f"Something went wrong while {action}: {type(exc).__name__}: {exc}. "
            "Your loaded data and runs are unchanged; the server log has the details.")


def run_safely(fn: Callable[[], T], *, action: str, feedback_key: str | None = None) -> T | None:
    """Call ``fn``; on failure show a message (no traceback) and return ``None``.

    Parameters
    ----------
    fn
        What to do.
    action
        What it was, for the message (e.g. ``"loading the file"``).
    feedback_key
        Record the message for :func:`show_feedback` instead of drawing it now (for callbacks).
    """
    try:
        return fn()
    except Exception as exc:  # every failure becomes a message
        text = error_message(exc, action=action)
        if feedback_key:
            set_feedback(feedback_key, "error", text)
        else:
            st.error(text, icon=_ICONS["error"])
    return None


def set_feedback(key: str, kind: str, text: str) -> None:
    """Record a message (``kind`` ``"error"``, ``"success"`` or ``"info"``) for the next draw."""
    st.session_state[f"_feedback_{key}"] = (kind, text)


def show_feedback(key: str) -> None:
    """Draw, once, the message recorded under ``key``, if any."""
    recorded = st.session_state.pop(f"_feedback_{key}", None)
    if recorded:
        kind, text = recorded
        getattr(st, kind)(text, icon=_ICONS[kind])
