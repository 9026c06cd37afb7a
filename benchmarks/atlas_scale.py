"""Atlas scale (issue 20): a sparse counts ``.h5ad`` on disk → streamed preprocessing → training
→ latent for all cells, with each step's time and the peak RSS (``VmHWM``). Prints JSON.

The file is written in chunks (benchmarks/atlas_data.py) under ``--tmp`` unless ``--data``
names one. The backed path runs in a fresh interpreter so its VmHWM is its own. With
``--compare-in-memory`` the same epochs also run on the counts held in memory as CSR through the
in-memory Rows (the "in-memory figure" of issue 20) in a second fresh interpreter.

Imports: numpy, scipy, pandas, h5py, anndata, scanpy (HVG helpers), scikit-learn, torch, umap is
not used. Usage (CPU target, this machine)::

    OMP_NUM_THREADS=2 nice -n 10 python benchmarks/atlas_scale.py --cells 1000000 --epochs 1 \
        --out benchmarks/results/atlas_scale_cpu.json

GPU target (lead, H100/H200)::

    python benchmarks/atlas_scale.py --device cuda --epochs 10 --batch-size 1024 \
        --compare-in-memory --out benchmarks/results/atlas_scale_gpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
def hwm_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status")
                if l.startswith("VmHWM")) / 1024
import torch
torch.set_num_threads(int(sys.argv[7]))
from core.recipes.betavae_backed import train_betavae_backed
from core.training.trainer import TrainConfig
path, out, device, mode = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[8]
epochs, bs = int(sys.argv[5]), int(sys.argv[6])
score_cells = int(sys.argv[9])
base = hwm_mb()
t0 = time.perf_counter()
train = TrainConfig(epochs=epochs, batch_size=bs, device=device, patience=None)
if mode == "in_memory":
    # The in-memory figure: counts already in memory, preprocessed X as plain device rows.
    import numpy as np, scipy.sparse as sp
    from core.data.backed import BackedCounts
    from core.recipes.betavae import BetaVAESettings, build_module
    from core.recipes.betavae_backed import load_backed
    from core.training.trainer import fit, encode_mean
    from core.training.device_data import CSRRows, TransformedRows, lazy_transform
    from core.device import pick_device
    src = BackedCounts(path)
    lazy, counts = load_backed(src, None, resident=True)
    dev = pick_device(device)
    x = TransformedRows(CSRRows(counts, dev), lazy_transform(lazy, dev), lazy.n_vars)
    settings = BetaVAESettings().to_dict()
    from core.recipes.betavae import _schedule_of
    m = build_module(settings, lazy.n_vars, 0)
    # Preprocessed X densely on the device, as the in-memory path trains (if it fits).
    n = x.n
    dense = torch.cat([x.rows(torch.arange(s, min(n, s + 65536), device=dev))
                       for s in range(0, n, 65536)])
    del x
    from core.training.device_data import DenseRows
    rows = DenseRows(np.zeros((1, 1), np.float32), dev)
    rows.tensor, rows.n, rows.shape = dense, n, tuple(dense.shape)
    res = fit(m, {"x": rows}, config=train, schedule=_schedule_of(settings, epochs))
    h = res.history
    per_epoch = h["seconds"].diff().fillna(h["seconds"]).round(3).tolist()
    print(json.dumps({"mode": mode, "epoch_seconds": per_epoch,
                      "peak_rss_mb": round(hwm_mb(), 1)}))
    sys.exit(0)
run = train_betavae_backed(path, train=train, run_dir=out, resident=(mode == "memory"),
                           label_key="cell_type", score_cells=score_cells)
h = run.history
print(json.dumps({"mode": "backed_" + mode, "timings": run.metrics["timings"],
                  "epoch_seconds": h["seconds"].diff().fillna(h["seconds"]).round(3).tolist(),
                  "total_s": round(time.perf_counter() - t0, 1),
                  "peak_rss_mb": round(hwm_mb(), 1), "rss_after_imports_mb": round(base, 1),
                  "ari_kmeans_vae": run.metrics.get("ari_kmeans_vae"),
                  "ari_kmeans_pca": run.metrics.get("ari_kmeans_pca"),
                  "scored_cells": run.metrics.get("scored_cells"),
                  "latent_shape": list(run.latent.shape)}))
"""


def _child(path: Path, out: Path, args: argparse.Namespace, mode: str) -> dict:
    """Run one configuration in a fresh interpreter; its JSON line."""
    cmd = [sys.executable, "-c", _CHILD, str(ROOT), str(path), str(out), args.device,
           str(args.epochs), str(args.batch_size), str(args.threads), mode, str(args.score_cells)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        return {"mode": mode, "error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    """Write (or reuse) the file, run the backed path (and the in-memory one), print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--data", type=Path, default=None, help="reuse this .h5ad")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--score-cells", type=int, default=5000)
    ap.add_argument("--reads", choices=["memory", "disk"], default="memory")
    ap.add_argument("--compare-in-memory", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from atlas_data import write_counts

    result: dict = {"benchmark": "atlas_scale", "cells": args.cells, "genes": args.genes,
                    "device": args.device, "epochs": args.epochs, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = args.data
        if path is None:
            path = Path(tmp) / "atlas.h5ad"
            result["write"] = write_counts(path, args.cells, args.genes, density=args.density)
        result["file_gb"] = round(path.stat().st_size / 1e9, 2)
        t0 = time.perf_counter()
        result["backed"] = _child(path, Path(tmp) / "run", args, args.reads)
        result["backed"]["wall_s"] = round(time.perf_counter() - t0, 1)
        if args.compare_in_memory:
            result["in_memory"] = _child(path, Path(tmp) / "run_mem", args, "in_memory")
            b, m = result["backed"].get("epoch_seconds"), result["in_memory"].get(
                "epoch_seconds")
            if b and m:
                tail = lambda s: sorted(s[1:] or s)[len(s[1:] or s) // 2]  # noqa: E731
                result["epoch_ratio_backed_vs_in_memory"] = round(tail(b) / tail(m), 2)
        if args.keep and args.data is None:
            kept = args.tmp / "atlas_kept.h5ad"
            path.rename(kept)
            result["kept"] = str(kept)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
