"""Which runs form an ensemble with a picked run."""

from __future__ import annotations

from types import SimpleNamespace

from core.runs.ensemble import ensemble_members


def _run(path, seed, fingerprint="f1", l1=10.0, model="tfvae"):
    return SimpleNamespace(path=path, model=model, config={
        "seed": seed, "data": {"fingerprint": fingerprint}, "settings": {"l1": l1},
        "module": {"hidden": [8]}})


def test_members_share_recipe_and_data_with_other_seeds():
    picked = _run("a", 0)
    others = [_run("b", 1), _run("c", 1), _run("d", 2, fingerprint="f2"), _run("e", 3, l1=1.0),
              _run("f", 4, model="betavae"), _run("g", 0), _run("h", 5), picked]
    got = [r.path for r in ensemble_members(picked, others)]
    assert got == ["a", "b", "h"]
    assert [r.path for r in ensemble_members(picked, others, max_members=2)] == ["a", "b"]
