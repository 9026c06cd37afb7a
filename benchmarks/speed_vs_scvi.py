"""CPU training speed: our β-VAE vs scvi-tools SCVI, epochs per second; prints JSON.

Both train on the CPU with the same number of torch threads, batch size 128, 90% of the cells
(validation every epoch for ours, none for SCVI). Datasets: ``kang_pbmc`` (1975 × 6998; X is
log-normalised, so SCVI gets round(expm1(X)) as pseudo-counts: only the shape matters for
speed) and ``zeisel_cortex`` (3005 × 200 raw counts). Ours: the Gaussian β-VAE with the
product default layers (1024-512-256), and — the like-for-like comparison of the issue —
the Gaussian, NB and ZINB β-VAE with SCVI's layer sizes (one hidden layer of 128, 10 latent;
SCVI's own default likelihood is ZINB).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/speed_vs_scvi.py [--epochs 10] [--threads 1]
        [--repeats 3] [--scvi-python /tmp/scvi-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ours(adata: Any, likelihood: str, epochs: int, hidden: list[int] | None = None
         ) -> dict[str, Any]:
    """Epochs/s of :func:`fit` with the product defaults (no scoring, no saving)."""
    from core.models.vae import BetaVAE
    from core.recipes.betavae import BETAVAE_TRAIN_DEFAULTS, model_defaults
    from core.training.inputs import model_input, model_inputs
    from core.training.trainer import fit

    settings = model_defaults(likelihood)
    if hidden is not None:
        settings = {**settings, "hidden": hidden}
    inputs = model_inputs(adata, model_input(adata), likelihood=likelihood)
    module = BetaVAE(adata.n_vars, settings["n_latent"], settings["hidden"],
                     dropout=settings["dropout"], input_dropout=settings["input_dropout"],
                     likelihood=likelihood)
    config = replace(BETAVAE_TRAIN_DEFAULTS, epochs=epochs, patience=None, device="cpu")
    result = fit(module, inputs.data, config=config)
    return {"likelihood": likelihood, "hidden": settings["hidden"], "epochs": epochs,
            "train_seconds": result.train_seconds,
            "epochs_per_second": epochs / result.train_seconds}


def scvi(scvi_python: str, counts: Any, epochs: int, threads: int) -> dict[str, Any]:
    """Epochs/s of SCVI (defaults: 1 hidden layer of 128, 10 latent) in its own venv."""
    import anndata

    if not Path(scvi_python).exists():
        return {"error": f"{scvi_python} not found (see benchmarks/requirements.txt)"}
    with tempfile.TemporaryDirectory() as tmp:
        h5ad = Path(tmp) / "counts.h5ad"
        anndata.AnnData(X=sp.csr_matrix(counts, dtype=np.float32)).write_h5ad(h5ad)
        proc = subprocess.run(
            [scvi_python, str(ROOT / "benchmarks" / "scvi_reference.py"), str(h5ad),
             str(Path(tmp) / "latent"), "--epochs", str(epochs), "--seeds", "0",
             "--threads", str(threads)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats; the JSON reports medians and ranges")
    parser.add_argument("--scvi-python", default="/tmp/scvi-venv/bin/python")
    args = parser.parse_args()
    import torch

    from core.data.io import read
    from core.data.preprocess import preprocess

    torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"threads": args.threads, "device": "cpu", "epochs": args.epochs}
    for name in ("kang_pbmc", "zeisel_cortex"):
        adata = preprocess(read(name).adata)
        if "counts" in adata.layers:
            counts = adata.layers["counts"]
        else:  # log-normalised X: pseudo-counts of the same shape (speed only)
            raw = read(name).adata[:, adata.var_names].X
            counts = sp.csr_matrix(raw).expm1().rint()
        if "counts" not in adata.layers:  # NB/ZINB on the same pseudo-counts SCVI gets
            adata_counts = adata.copy()
            adata_counts.layers["counts"] = sp.csr_matrix(counts, dtype=np.float32)
        else:
            adata_counts = adata
        # Ours with the product default layers, then with SCVI's (one hidden layer of 128,
        # 10 latent); SCVI's own default likelihood is ZINB, the strictly like-for-like row.
        runs = {"betavae_gaussian": (adata, "gaussian", None),
                "betavae_gaussian_128": (adata, "gaussian", [128]),
                "betavae_nb": (adata_counts, "nb", [128]),
                "betavae_zinb": (adata_counts, "zinb", [128])}
        reps: list[dict[str, Any]] = []
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits all
            rep = {"scvi": scvi(args.scvi_python, counts, args.epochs, args.threads)}
            rep.update({key: ours(data, lik, args.epochs, hidden)
                        for key, (data, lik, hidden) in runs.items()})
            reps.append(rep)
        entry: dict[str, Any] = {"n_obs": adata.n_obs, "n_vars": adata.n_vars,
                                 "repeats": reps}
        if all("epochs_per_second" in rep["scvi"] for rep in reps):
            entry["epochs_per_second_median"] = {
                key: float(np.median([rep[key]["epochs_per_second"] for rep in reps]))
                for key in ("scvi", *runs)}
            ratios = {key: [rep[key]["epochs_per_second"] / rep["scvi"]["epochs_per_second"]
                            for rep in reps] for key in runs}  # within a repeat
            entry["speedup_vs_scvi"] = {key: float(np.median(r)) for key, r in ratios.items()}
            entry["speedup_vs_scvi_range"] = {key: [round(min(r), 3), round(max(r), 3)]
                                              for key, r in ratios.items()}
        out[name] = entry
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
