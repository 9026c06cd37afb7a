"""Runs that form an ensemble: the same recipe and settings on the same data, other seeds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _recipe_key(run: Any) -> tuple[str, str, str, str]:
    cfg = run.config
    return (str(run.model), str(cfg.get("data", {}).get("fingerprint")),
            repr(sorted((cfg.get("settings") or {}).items())),
            repr(sorted((cfg.get("module") or {}).items())))


def ensemble_members(run: Any, runs: Iterable[Any], *, max_members: int | None = None
                     ) -> list[Any]:
    """``run`` first, then every other run of the same recipe with a seed not yet included.

    Parameters
    ----------
    run
        The run the user picked.
    runs
        Candidates (e.g. :func:`core.runs.list_runs` of the same model), newest first.
    max_members
        Keep at most this many (the picked run included).

    Returns
    -------
    list
        Runs with the same model, data fingerprint, settings and module arguments as ``run``
        and pairwise different seeds.
    """
    key = _recipe_key(run)
    members, seeds = [run], {run.config.get("seed")}
    for other in runs:
        if max_members is not None and len(members) >= max_members:
            break
        seed = other.config.get("seed")
        if other.path != run.path and seed not in seeds and _recipe_key(other) == key:
            members.append(other)
            seeds.add(seed)
    return members
