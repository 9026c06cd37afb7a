"""Regenerate the shipped example runs: ``.venv/bin/python docs/make_example_runs.py``.

Writes ``assets/example_runs/example-tfvae-kang_pbmc`` and ``example-betavae-kang_pbmc``: a
small TF-VAE and β-VAE trained on the default dataset (kang_pbmc, default preprocessing, so
their data fingerprint matches what a fresh session loads), so that the Embedding, Network and
Perturb pages can be tried within seconds of opening the app (issue 21, item 2). The pages list
them for every session, read-only (:func:`core.runs.example_runs_root`).

They are kept small (< 3 MB together, ``du -sh assets/example_runs``): a 32-wide encoder, 30
TFs with 5% of the TF→gene weights kept, a 16-wide β-VAE, and the weights stored as float16
(``load_state_dict`` casts them back to float32; the reloaded model re-encodes the saved latent
to within 1e-2, checked by ``tests/unit/runs/test_example_runs.py``). Full-size models of the
default settings are 15-30 MB each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "assets" / "example_runs"
COMMON = ["--data", "kang_pbmc", "--label-key", "cell_type", "--device", "cpu", "--seed", "0"]
RUNS = {
    "example-tfvae-kang_pbmc": ["--model", "tfvae", "--hidden", "32", "--max-tfs", "30",
                                "--mask-sparsity", "5"],
    "example-betavae-kang_pbmc": ["--model", "betavae", "--hidden", "16", "--latent", "10",
                                  "--epochs", "100", "--beta-schedule", "constant"],
}


def _half_weights(path: Path) -> None:
    """Store the float tensors of ``model.pt`` as float16 (halves the file)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)


def _umaps(path: Path) -> None:
    """Save the UMAPs the pages draw first (Embedding: latent and PCA at the page's defaults,
    which are :func:`umap`'s; Perturb: the TF latent), so opening a run computes none."""
    import numpy as np

    from core.analysis.embeddings import umap
    from core.runs import load_run

    run = load_run(path)
    names = {"umap_vae_nn15_md0.5": run.latent, "umap_pca_nn15_md0.5": run.arrays["pca"]}
    if run.model == "tfvae":
        names["umap_tf"] = run.latent
    for name, source in names.items():
        np.save(path / f"{name}.npy", umap(source).astype(np.float32), allow_pickle=False)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, args in RUNS.items():
        target = OUT / name
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "core", "train", *COMMON, *args,
                        "--out", str(target)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        _half_weights(target / "model.pt")
        _umaps(target)
        print(f"wrote {target}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--umaps-only"]:
        for name in RUNS:
            _umaps(OUT / name)
    else:
        main()
