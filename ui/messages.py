"""Showing errors to users: a clear message, never a raw traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from core.errors import ScvaeError

T = TypeVar("T")


def run_safely(fn: Callable[[], T], *, action: str) -> T | None:
    """Call ``fn``; on failure show a message (details folded away) and return ``None``.

    Parameters
    ----------
    fn
        What to do.
    action
        What it was, for the message (e.g. ``"loading the file"``).
    """
    try:
        return fn()
    except ScvaeError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:  # unexpected: say so plainly; the traceback goes to the server log
        logging.getLogger("scvae").exception("Unexpected error while %s", action)
        st.error(f"Something went wrong while {action}: {type(exc).__name__}: {exc}. "
                 "Your loaded data and runs are unchanged; the server log has the details.",
                 icon=":material/error:")
    return None
