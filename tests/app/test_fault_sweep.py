"""Issue 19 target: the cheap cases of the fault sweep (benchmarks/fault_cases.py) — readers,
run import, run folders and the CLI — each refused with one line or accepted, never a
traceback, and under 1 GB of peak growth. benchmarks/fault_suite.py runs every case (bombs,
training options, pages) and writes benchmarks/results/fault_suite.json.

The cases run in one worker interpreter (as the suite runs them), so a crash or a runaway
allocation fails this test rather than the test session.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import fault_cases  # noqa: E402
import fault_suite  # noqa: E402


def test_cheap_fault_cases_are_refused_in_one_line_or_accepted():
    names = [c.name for c in fault_cases.CASES if c.cheap]
    assert len(names) >= 162
    rows = fault_suite.run_cases(names)
    failed = [(r["case"], r["expected"], r["got"], r["message"][:120]) for r in rows
              if not r["ok"]]
    assert failed == []
    summary = fault_suite.summary(rows)
    assert summary["tracebacks"] == summary["crashes"] == summary["multi_line_or_path"] == 0
    assert summary["max_grown_mb_refused"] < fault_suite.MEMORY_TARGET_MB
    assert {r["category"] for r in rows} >= {"10x zip", "CSV/TSV", "h5ad/h5", "run import",
                                            "run folder", "CLI options", "file names"}
