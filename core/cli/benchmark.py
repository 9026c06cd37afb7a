"""``python -m core benchmark --data NAME_OR_PATH --label-key K [--batch-key K] [--methods …]
[--seeds 3] [--device …] --out DIR``.

Embeds the same cells with every method (PCA, Harmony with a batch, the β-VAE Gaussian and
NB, the TF-VAE's μ, SCVI when scvi-tools is installed, and any ``--obsm`` embedding or
``--scvi-model`` folder of the user's), scores each with scIB metrics over the seeds, and
writes ``table.csv``, ``per_seed.csv``, ``table.json``, ``scib_table.html`` and
``metric_bars.html`` into ``DIR``; prints the table as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.types import positive_int


def _write_figures(result, out: Path) -> None:
    from core.analysis.benchmark import metric_columns
    from core.pl.benchmark import metric_bars, scib_table
    from core.pl.export import figure_html
    from core.recipes.benchmark import METHOD_TITLES

    cols = metric_columns(result.info["batch_key"] is not None)
    (out / "scib_table.html").write_text(figure_html(
        scib_table(result.table, cols, titles=METHOD_TITLES)))
    (out / "metric_bars.html").write_text(figure_html(
        metric_bars(result.table, cols, titles=METHOD_TITLES)))


def _methods(args: argparse.Namespace, adata) -> tuple[str, ...]:
    from core.recipes.benchmark import default_methods, scvi_model_embedding

    methods = list(args.methods.split(",")) if args.methods else list(default_methods())
    methods += [f"obsm:{k}" for k in args.obsm or []]
    for i, folder in enumerate(args.scvi_model or []):
        key = f"X_scvi_model_{i}" if len(args.scvi_model) > 1 else "X_scvi_model"
        adata.obsm[key] = scvi_model_embedding(folder, adata)
        methods.append(f"obsm:{key}")
    return tuple(m.strip() for m in methods if m.strip())


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, write the tables and figures, print the table as JSON."""
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.errors import ConfigError
    from core.recipes.benchmark import BenchmarkSettings, run_benchmark, save_benchmark

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"Output folder {out} exists and is not empty; choose a new one.")
    loaded = read(args.data)
    for notice in loaded.notices:
        print(f"note: {notice}", file=sys.stderr)
    adata = preprocess(loaded.adata)
    settings = BenchmarkSettings.from_dict(
        {"methods": _methods(args, adata), "seeds": args.seeds, "device": args.device,
         **({"epochs": args.epochs} if args.epochs else {}),
         **({"n_latent": args.n_latent} if args.n_latent else {})})
    result = run_benchmark(adata, label_key=args.label_key, batch_key=args.batch_key,
                           dataset=loaded.name, settings=settings, runs_root=out / "runs")
    if result.table.empty:
        raise ConfigError("No method could run on this data: "
                          + "; ".join(f"{m}: {w}" for m, w in result.skipped.items()))
    save_benchmark(result, out)
    _write_figures(result, out)
    records = json.loads(result.table.reset_index().to_json(orient="records"))
    print(json.dumps({"out": str(out), "skipped": result.skipped, "table": records}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``python -m core benchmark ...``."""
    p = sub.add_parser("benchmark", help="scIB-style benchmark of embedding methods")
    p.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                   help="bundled dataset name or a file (.h5ad, 10x .h5/.zip, CSV/TSV)")
    p.add_argument("--label-key", required=True, metavar="K", help="obs column of cell types")
    p.add_argument("--batch-key", default=None, metavar="K",
                   help="obs column of batches (adds Harmony and the batch metrics)")
    p.add_argument("--methods", default=None, metavar="A,B",
                   help="pca, harmony, betavae_gaussian, betavae_nb, betavae_harmony, tfvae, scvi "
                        "(default: all available)")
    p.add_argument("--obsm", action="append", metavar="KEY",
                   help="also score the embedding in adata.obsm[KEY] (repeatable)")
    p.add_argument("--scvi-model", action="append", metavar="DIR",
                   help="also score a saved scvi-tools model folder (trusted paths only: "
                        "loading it unpickles objects)")
    p.add_argument("--seeds", type=positive_int, default=3)
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="cap on training epochs of every trained method (100)")
    p.add_argument("--n-latent", type=positive_int, default=None,
                   help="dimensions of PCA, Harmony, β-VAE, SCVI (10)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    p.add_argument("--out", required=True, metavar="DIR", help="folder for tables and figures")
    p.set_defaults(func=run)
