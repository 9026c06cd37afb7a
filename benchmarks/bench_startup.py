"""App cold start: seconds from launching ``streamlit run app.py`` to ``/_stcore/health`` = ok.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeats N]``; prints one JSON object.
Uses the end-to-end test harness (a real server on a free port).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from conftest import start_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            proc, _url, seconds = start_server(Path(tmp))
            proc.terminate()
            proc.wait(timeout=10)
            times.append(seconds)
    print(json.dumps({"benchmark": "cold_start", "health_ok_s": [round(t, 2) for t in times],
                      "median_s": round(statistics.median(times), 2)}, indent=2))


if __name__ == "__main__":
    main()
