"""Peak memory and time of reading a dense count CSV: whole-table pandas parse (before issue 19)
vs the chunked sparse reader (core/data/table.py). Prints JSON.

Each read runs in a fresh interpreter; "grown_mb" is its peak RSS (``VmHWM``) after the read
minus the peak after the imports. (``ru_maxrss`` is not used: Linux carries the parent's RSS
into a child's ``ru_maxrss`` across fork/exec, which hid the reader's growth.) Usage::

    python benchmarks/csv_memory.py --cells 20000 --genes 2000 [--out results/csv_memory.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import sys, time
from pathlib import Path
import numpy as np, pandas as pd, anndata, scipy.sparse
from core.data.io import read_path
def hwm_kb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
path, mode = Path(sys.argv[1]), sys.argv[2]
before = hwm_kb()
t0 = time.perf_counter()
if mode == "dense_pandas":      # what core.data.io did before issue 19 item 3
    df = pd.read_csv(path, index_col=0)
    x = scipy.sparse.csr_matrix(df.apply(pd.to_numeric, errors="coerce").to_numpy(np.float32))
else:
    x = read_path(path).adata.X
print((hwm_kb() - before) / 1024,
      time.perf_counter() - t0, x.nnz)
"""


def measure(path: Path, mode: str) -> dict:
    """Peak RSS growth (MB), seconds and non-zeros of one read in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return {"grown_mb": round(float(out[0]), 1), "seconds": round(float(out[1]), 2),
            "nnz": int(out[2])}


def main() -> None:
    """Write a Poisson(0.5) count CSV, read it both ways, print the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.csv"
        rng = np.random.default_rng(0)
        counts = rng.poisson(0.5, size=(args.cells, args.genes)).astype(np.int32)
        pd.DataFrame(counts, index=[f"c{i}" for i in range(args.cells)],
                     columns=[f"G{j}" for j in range(args.genes)]).to_csv(path)
        del counts
        size_mb = path.stat().st_size / 1024 ** 2
        result = {"cells": args.cells, "genes": args.genes, "file_mb": round(size_mb, 1),
                  "nonzero_fraction": round(1 - np.exp(-0.5), 3)}
        for mode in ("dense_pandas", "chunked_sparse"):
            r = measure(path, mode)
            result[mode] = {**r, "x_file": round(r["grown_mb"] / size_mb, 1)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
