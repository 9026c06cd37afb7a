"""Idle server CPU while another process creates and deletes files in the checkout (issue 21).

Starts ``streamlit run app.py`` (the repository's ``.streamlit/config.toml`` applies), waits for
``/_stcore/health``, lets it settle, then for ``--seconds`` a child process creates and deletes
small files under ``runs/.idle_cpu_churn`` in the checkout while the server's CPU time
(user + system, from ``/proc``) is sampled. No browser is connected.

Run: ``.venv/bin/python benchmarks/idle_cpu.py [--seconds 60] [--watcher auto]``; prints JSON
(``--watcher auto`` overrides the config to show the development default for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHURN = ("import os, sys, time\n"
         "d = sys.argv[1]; os.makedirs(d, exist_ok=True); i = 0\n"
         "while True:\n"
         "    p = os.path.join(d, f'f{i % 200}.txt')\n"
         "    with open(p, 'w') as f: f.write('x' * 100)\n"
         "    if i % 2: os.remove(p)\n"
         "    i += 1; time.sleep(0.002)\n")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(tmp: Path, watcher: str | None) -> tuple[subprocess.Popen, str]:
    """Start the app on a free port; return the process and its URL once healthy."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = ["--server.fileWatcherType", watcher] if watcher else []
    env = {**os.environ, "SCVAE_RUNS_DIR": str(tmp / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.address", "127.0.0.1", *extra],
                            cwd=ROOT, env=env, stdout=open(tmp / "log.txt", "w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become healthy")


def measure(seconds: float, watcher: str | None) -> dict:
    """CPU share of one core used by the idle server while files churn in the checkout."""
    churn_dir = ROOT / "runs" / ".idle_cpu_churn"
    with tempfile.TemporaryDirectory() as tmp:
        proc, _ = start(Path(tmp), watcher)
        churn = subprocess.Popen([sys.executable, "-c", CHURN, str(churn_dir)])
        try:
            time.sleep(5)  # settle: imports done, watcher (if any) started
            c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(proc.pid), time.perf_counter()
        finally:
            churn.kill()
            churn.wait()
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(churn_dir, ignore_errors=True)
        log = (Path(tmp) / "log.txt").read_text()
    return {"watcher": watcher or "config", "seconds": round(t1 - t0, 1),
            "server_cpu_s": round(c1 - c0, 3),
            "cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 2),
            "inotify_overflow_lines": log.count("overflow")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--watcher", default=None,
                        help="override server.fileWatcherType (e.g. auto) for a before/after")
    args = parser.parse_args()
    result = {"benchmark": "idle_server_cpu", **measure(args.seconds, args.watcher),
              "load_average_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
