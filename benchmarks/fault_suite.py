"""Issue 19's fault sweep as an automated suite: every case of benchmarks/fault_cases.py through
the CLI, the readers, run import, run folders and the pages; prints a table (case, expected,
got, peak memory) and writes JSON.

Cases run in worker interpreters (so a crash is a finding, not the end of the suite) with
``RLIMIT_DATA`` at 4 GB (a runaway allocation fails instead of taking the shared machine) and
``OMP_NUM_THREADS=1``. Before each case the worker resets its peak RSS (``/proc/self/clear_refs``
← 5) and after it reads ``VmHWM``: ``peak_mb`` is the interpreter's peak during the case
(imports included, ~300-500 MB), ``grown_mb`` the peak over the RSS at the case's start.

Usage::

    nice -n 10 python benchmarks/fault_suite.py [--cheap] [--only TEXT] \
        [--out benchmarks/results/fault_suite.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

#: Per-case time limit (seconds); a case past it is a "timeout" finding.
CASE_TIMEOUT = 240
#: Peak growth a refused input may cause (issue 19 target).
MEMORY_TARGET_MB = 1024
#: Address-space growth the worker may make (a runaway allocation fails, the machine stays up).
DATA_LIMIT = 4 * 1024 ** 3


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field))


def classify(case, fn_result: str | None, exc: BaseException | None) -> dict:
    """``{"got", "ok", "message"}`` of one case's outcome."""
    from fault_cases import CliRefused, _Refused

    from core.errors import ScvaeError

    if exc is None:
        got, message = "ok", fn_result or ""
        if not message.startswith("ok"):
            got = "wrong"
    elif isinstance(exc, (ScvaeError, _Refused, CliRefused)):
        got, message = "refused", str(exc)
        lines = exc.lines if isinstance(exc, CliRefused) else message.count("\n") + 1
        if "TimeoutError" in message:
            got = "timeout"
        elif lines != 1:
            got = "multi-line"
        elif "Traceback" in message or "scvae_upload_" in message or ".import-" in message:
            got = "leaks a path" if "Traceback" not in message else "traceback"
        elif isinstance(exc, CliRefused) and not message.startswith("error: "):
            got = "multi-line"
    elif isinstance(exc, MemoryError):
        got, message = "memory", f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        got = "traceback"
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        message = f"{type(exc).__name__}: {str(exc)[:200]} @ " + " < ".join(
            f"{Path(f.filename).name}:{f.lineno}" for f in frames)
    good = {"refused": got == "refused", "ok": got == "ok",
            "either": got in ("ok", "refused")}[case.expected]
    if good and got == "refused" and case.contains and case.contains not in message:
        good = False
    return {"got": got, "ok": good, "message": message.replace("\n", " ⏎ ")[:300]}


def worker(names: list[str]) -> None:
    """Run the named cases one by one, printing one JSON line each."""
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_LIMIT, DATA_LIMIT))
    import logging
    import signal
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import anndata  # noqa: F401  (imports counted before the first case)
    import torch

    torch.set_num_threads(1)
    from fault_cases import CASES

    by_name = {c.name: c for c in CASES}

    def alarm(*_):
        raise TimeoutError(f"over {CASE_TIMEOUT} s")

    signal.signal(signal.SIGALRM, alarm)
    for name in names:
        case = by_name[name]
        with tempfile.TemporaryDirectory(prefix="fault_") as tmp:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            start_kb, t0 = _status_kb("VmRSS"), time.perf_counter()
            result, exc = None, None
            signal.alarm(CASE_TIMEOUT)
            try:
                result = case.run(Path(tmp))
            except BaseException as e:  # noqa: BLE001 - every outcome is recorded
                exc = e
            finally:
                signal.alarm(0)
            seconds = time.perf_counter() - t0
            peak_kb = _status_kb("VmHWM")
            row = {"case": name, "category": case.category, "expected": case.expected,
                   **classify(case, result, exc),
                   "peak_mb": round(peak_kb / 1024, 1),
                   "grown_mb": round((peak_kb - start_kb) / 1024, 1),
                   "seconds": round(seconds, 2)}
        if row["got"] == "refused" and row["grown_mb"] >= MEMORY_TARGET_MB:
            row["ok"], row["got"] = False, "refused, >1 GB"
        print(json.dumps(row), flush=True)


def run_cases(names: list[str]) -> list[dict]:
    """Run ``names`` in worker interpreters, restarting a worker that dies."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "SCVAE_DEFAULT_DATASET": "synthetic_grn", "PYTHONWARNINGS": "ignore"}
    rows: list[dict] = []
    todo = list(names)
    while todo:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", *todo], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while todo:
            if not sel.select(timeout=CASE_TIMEOUT + 60):
                proc.kill()
                line = ""
            else:
                line = proc.stdout.readline()
            if not line:
                proc.wait()
                rows.append({"case": todo[0], "category": "?", "expected": "?", "got": "crash",
                             "ok": False, "message": f"worker ended ({proc.returncode})",
                             "peak_mb": None, "grown_mb": None, "seconds": None})
                todo.pop(0)
                break
            row = json.loads(line)
            rows.append(row)
            todo.remove(row["case"])
            _print_row(row)
        proc.wait()
    return rows


def _print_row(row: dict) -> None:
    mark = "PASS" if row["ok"] else "FAIL"
    print(f"{mark} {row['category'][:12]:12} | {row['case'][:48]:48} | {row['expected']:7} | "
          f"{row['got']:10} | {row['peak_mb'] or 0:7.0f} MB | {row['message'][:90]}",
          file=sys.stderr, flush=True)


def summary(rows: list[dict]) -> dict:
    """Counts and the largest peaks."""
    refused = [r for r in rows if r["got"] == "refused" and r["peak_mb"] is not None]
    return {
        "cases": len(rows), "passed": sum(r["ok"] for r in rows),
        "tracebacks": sum(r["got"] == "traceback" for r in rows),
        "crashes": sum(r["got"] in ("crash", "memory") for r in rows),
        "multi_line_or_path": sum(r["got"] in ("multi-line", "leaks a path") for r in rows),
        "max_peak_mb_refused": max((r["peak_mb"] for r in refused), default=None),
        "max_grown_mb_refused": max((r["grown_mb"] for r in refused), default=None),
        "max_peak_case": max(refused, key=lambda r: r["peak_mb"])["case"] if refused else None,
        "by_category": {c: f"{sum(r['ok'] for r in rows if r['category'] == c)}/"
                           f"{sum(r['category'] == c for r in rows)}"
                        for c in sorted({r["category"] for r in rows})},
    }


def main() -> None:
    """Parse the options, run the cases, print the table and the summary, write JSON."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("--cheap", action="store_true", help="only the cases of the pytest subset")
    p.add_argument("--only", default=None, help="cases whose name or category contains this")
    p.add_argument("--out", default=None, help="JSON file to write")
    args = p.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    from fault_cases import CASES

    names = [c.name for c in CASES if (c.cheap or not args.cheap) and (
        args.only is None or args.only in c.name or args.only in c.category)]
    t0 = time.perf_counter()
    rows = run_cases(names)
    result = {"summary": {**summary(rows), "seconds": round(time.perf_counter() - t0, 1)},
              "cases": rows}
    print(json.dumps(result["summary"], indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
