"""The benchmark panel (issue 18): every method on five real datasets, scIB metrics, JSON.

Datasets (no simulated data):
- ``symphony_pbmc``: 3 10x chemistries as batch (``donor``), ``cell_type`` (9 types).
- ``kang_pbmc``: ``condition`` (control / IFN-β) as batch, ``cell_type``.
- ``zeisel_cortex``: ``level1class``, no batch.
- ``pbmc68k_reduced``: ``bulk_labels``, no batch.
- ``papalexi_controls``: the 1,923 non-targeting cells of the bundled CRISPR screen
  (``target_assigned == 'non-targeting'``), batch = ``bio_rep`` (3 replicates). THP-1 is one
  cell line with no cell-type labels (and the 299 genes hold no cell-cycle markers to call
  phases), so the label is ``grna_max``, which of the 9 non-targeting guides a cell got: a
  NEGATIVE-CONTROL label that no embedding should separate. Its bio scores measure noise; it
  is in the panel for its batch (replicate) metrics and to show that no method invents
  structure.

The "default β-VAE" the targets are about is :func:`default_betavae` (NB when the data carry
raw counts, Gaussian otherwise). Targets: its bio conservation ≥ PCA's on every dataset,
≥ SCVI's on the panel mean; with a batch column its total ≥ Harmony's.

CPU (2 shared cores, ~25 min):
    nice -n 10 python benchmarks/bench_panel.py --seeds 1 --epochs 40
GPU (the full run; SCVI needs scvi-tools in the environment):
    python benchmarks/bench_panel.py --device cuda --seeds 3 --save
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: name → (bundled dataset, label column, batch column or None, cell filter)
PANEL = {
    "symphony_pbmc": ("symphony_pbmc", "cell_type", "donor", None),
    "kang_pbmc": ("kang_pbmc", "cell_type", "condition", None),
    "zeisel_cortex": ("zeisel_cortex", "level1class", None, None),
    "pbmc68k_reduced": ("pbmc68k_reduced", "bulk_labels", None, None),
    "papalexi_controls": ("papalexi_eccite", "grna_max", "bio_rep",
                          ("target_assigned", "non-targeting")),
}


def panel_data(name: str):
    """The preprocessed AnnData of a panel dataset (default preprocessing)."""
    from core.data.io import read
    from core.data.preprocess import preprocess

    bundled, _, _, keep = PANEL[name]
    adata = read(bundled).adata
    if keep is not None:
        adata = adata[adata.obs[keep[0]] == keep[1]].copy()
        adata.obs = adata.obs.apply(lambda c: c.cat.remove_unused_categories()
                                    if hasattr(c, "cat") else c)
    return preprocess(adata)


def default_betavae(adata) -> str:
    """The β-VAE the product recommends for this data (see core.recipes.benchmark)."""
    from core.recipes.benchmark import recommended_betavae

    return recommended_betavae(adata)


def _rows(result) -> dict:
    table = result.table
    return {m: {k: (None if v != v else round(float(v), 4)) for k, v in row.items()}
            for m, row in table.iterrows()}


def _targets(panel: dict) -> dict:
    out, bio_vae, bio_scvi = {}, [], []
    for name, res in panel.items():
        rows = res["methods"]
        default = res["default_betavae"] = ("betavae_nb" if res["x_kind"] == "counts"
                                            else "betavae_gaussian")
        if default not in rows or "pca" not in rows:
            continue
        vae = rows[default]
        t = {"default": default,
             "bio_minus_pca": round(vae["bio_conservation"] - rows["pca"]["bio_conservation"], 4)}
        if "harmony" in rows:
            t["total_minus_harmony"] = round(vae["total"] - rows["harmony"]["total"], 4)
            if "betavae_harmony" in rows:  # Harmony on the β-VAE latent vs on PCA
                t["betavae_harmony_total_minus_harmony"] = round(
                    rows["betavae_harmony"]["total"] - rows["harmony"]["total"], 4)
        if "scvi" in rows:
            bio_vae.append(vae["bio_conservation"])
            bio_scvi.append(rows["scvi"]["bio_conservation"])
        out[name] = t
    if bio_scvi:
        out["panel_mean_bio_minus_scvi"] = round(
            sum(bio_vae) / len(bio_vae) - sum(bio_scvi) / len(bio_scvi), 4)
    return out


def _merge(args: argparse.Namespace) -> None:
    """One panel JSON from several partial outputs (targets recomputed)."""
    parts = [json.loads(Path(f).read_text()) for f in args.merge]
    panel = {k: v for p in parts for k, v in p["panel"].items()}
    out = {"settings": parts[0]["settings"], "device": parts[0]["device"],
           "seconds_total": round(sum(p["seconds_total"] for p in parts), 1),
           "note": "merged from runs in parallel processes: " + ", ".join(
               ",".join(p["panel"]) for p in parts),
           "targets": _targets(panel), "panel": panel}
    _emit(out, args.save)


def _emit(out: dict, save: bool) -> None:
    text = json.dumps(out, indent=1)
    print(text)
    if save:
        path = Path(__file__).resolve().parent / "results" / "panel.json"
        path.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(PANEL))
    parser.add_argument("--methods", default=None, help="comma list (default: all available)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="merge outputs of runs on parts of the panel (no training)")
    parser.add_argument("--save", action="store_true",
                        help="write benchmarks/results/panel.json")
    args = parser.parse_args()
    if args.merge:
        return _merge(args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    if args.device == "cpu" or not torch.cuda.is_available():
        torch.set_num_threads(1)
    from core.recipes.benchmark import BenchmarkSettings, run_benchmark

    kw = {"seeds": args.seeds, "epochs": args.epochs, "device": args.device}
    if args.methods:
        kw["methods"] = tuple(args.methods.split(","))
    settings = BenchmarkSettings.from_dict(kw)
    panel, started = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_panel_") as runs:
        for name in args.datasets.split(","):
            t0 = time.perf_counter()
            adata = panel_data(name)
            _, label, batch, _ = PANEL[name]
            res = run_benchmark(adata, label_key=label, batch_key=batch, dataset=name,
                                settings=settings, runs_root=runs)
            panel[name] = {"n_obs": adata.n_obs, "n_vars": adata.n_vars, "label_key": label,
                           "batch_key": batch, "x_kind": res.info["x_kind"],
                           "default_betavae": default_betavae(adata),
                           "methods": _rows(res), "skipped": res.skipped,
                           "seconds": round(time.perf_counter() - t0, 1)}
            print(f"# {name}: {panel[name]['seconds']} s", file=sys.stderr, flush=True)
    out = {"settings": settings.to_dict(), "device": args.device,
           "seconds_total": round(time.perf_counter() - started, 1),
           "targets": _targets(panel), "panel": panel}
    _emit(out, args.save)


if __name__ == "__main__":
    main()
