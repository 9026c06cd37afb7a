"""Time reading and default preprocessing of each bundled dataset; prints one JSON object.

Run: ``.venv/bin/python benchmarks/bench_data.py [--repeats N]``. Figures are medians in seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.io import read  # noqa: E402
from core.data.preprocess import preprocess  # noqa: E402
from core.data.registry import DATASETS  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for name in DATASETS:
        read_s, loaded = timed(lambda n=name: read(n), args.repeats)
        pp_s, processed = timed(lambda a=loaded.adata: preprocess(a), args.repeats)
        results[name] = {
            "shape": list(loaded.adata.shape),
            "processed_shape": list(processed.shape),
            "read_s": round(read_s, 3),
            "preprocess_s": round(pp_s, 3),
        }
    print(json.dumps({"benchmark": "data", "python": platform.python_version(),
                      "repeats": args.repeats, "datasets": results}, indent=2))


if __name__ == "__main__":
    main()
