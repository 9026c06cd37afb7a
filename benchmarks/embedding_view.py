"""Embedding page at scale (issue 20), timed in headless Chromium: seconds from opening the page
to the first chart, to the UMAP of the VAE latent, and the time of two interactions (a zoom of
the WebGL scatter, and a colour change that reruns the page). Prints JSON.

A synthetic dataset of ``--cells`` cells (20 cell types, 50 genes) and a run with a structured
10-dim latent and PCA are written to a temporary folder; a fresh server opens it as the
session's dataset (a small wrapper script at the repository root, removed afterwards). Usage::

    nice -n 10 python benchmarks/embedding_view.py --cells 7480 --out results/embedding_view_7k.json
    nice -n 10 python benchmarks/embedding_view.py --cells 1000000 --out ...
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, wait_idle  # noqa: E402

WRAPPER = ROOT / "_bench_embedding_app.py"
_WRAPPER_CODE = '''
import os
import streamlit as st
from ui.state import DATASET_KEY, LoadedDataset, set_dataset


@st.cache_resource
def _dataset():
    import anndata as ad
    from core.data.preprocess import PreprocessConfig
    a = ad.read_h5ad(os.environ["BENCH_H5AD"])
    return LoadedDataset(name="atlas", token="bench:atlas", raw=a, adata=a,
                         config=PreprocessConfig(), label_key="cell_type")


if DATASET_KEY not in st.session_state:
    set_dataset(_dataset())
exec(compile(open("app.py").read(), "app.py", "exec"))
'''


def _server(tmp: Path, h5ad: Path):
    """``streamlit run`` the wrapper on ``h5ad``; (process, url) once /_stcore/health is ok."""
    import os
    import subprocess
    import urllib.request

    port = _free_port()
    env = {**os.environ, "SCVAE_RUNS_DIR": str(tmp / "runs"), "BENCH_H5AD": str(h5ad),
           "SCVAE_DEFAULT_DATASET": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(WRAPPER), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
        stdout=open(tmp / "streamlit.log", "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError((tmp / "streamlit.log").read_text()[-2000:])


def make_data(folder: Path, n: int, seed: int = 0) -> Path:
    """Write the dataset (``atlas.h5ad``) and its run under ``folder/runs``; the .h5ad path."""
    import anndata as ad

    from core.models.vae import BetaVAE
    from core.runs import data_fingerprint, save_run

    rng = np.random.default_rng(seed)
    types = rng.integers(0, 20, n)
    centres = rng.normal(scale=4.0, size=(20, 10)).astype(np.float32)
    latent = centres[types] + rng.normal(size=(n, 10)).astype(np.float32)
    x = (latent[:, :5] @ rng.normal(size=(5, 50)).astype(np.float32)).astype(np.float32)
    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type{t}" for t in types]),
                        "group": pd.Categorical([f"g{t % 5}" for t in types])},
                       index=[f"c{i}" for i in range(n)])
    a = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"gene{j}" for j in range(50)]))
    path = folder / "atlas.h5ad"
    a.write_h5ad(path)
    m = BetaVAE(50, 10, [8])
    save_run(folder / "runs" / "20260101-000000-betavae-atlas-aaaaaa", module=m,
             history=pd.DataFrame({"epoch": [1], "train_recon": [1.0], "train_kl": [1.0],
                                   "beta": [1.0]}),
             config={"model": "betavae", "module": m.init_kwargs,
                     "data": {"name": "atlas", "fingerprint": data_fingerprint(a),
                              "label_key": "cell_type"}},
             metrics={"n_epochs_run": 1}, latent=latent,
             arrays={"pca": (latent + rng.normal(size=latent.shape)).astype(np.float32)})
    return path


def time_page(browser, url: str, shot: Path | None) -> dict:
    """Open the Embedding page; first chart, UMAP chart, zoom and colour-change seconds."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    t0 = time.perf_counter()
    page.goto(f"{url}/embedding")
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=600_000)
    first = time.perf_counter() - t0
    page.locator(".gtitle", has_text="UMAP of the VAE latent").first.wait_for(timeout=600_000)
    umap_s = time.perf_counter() - t0
    page.locator(".gtitle", has_text="UMAP of PCA").first.wait_for(timeout=600_000)
    both = time.perf_counter() - t0
    # Zoom: Plotly.relayout on the VAE scatter resolves once WebGL has redrawn.
    zoom = page.evaluate("""async () => {
        const gd = document.querySelectorAll('.js-plotly-plot')[0];
        const t = performance.now();
        await window.Plotly.relayout(gd, {'xaxis.range': [-2, 2], 'yaxis.range': [-2, 2]});
        return (performance.now() - t) / 1000; }""") if page.evaluate(
        "() => !!window.Plotly") else None
    # Colour change, once the page has finished (scores, DE, history): done when the legend
    # shows the new groups.
    wait_idle(page, timeout=600_000)
    page.get_by_text("Display and scoring settings").first.wait_for()
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="obs column").first
    box.click()
    t1 = time.perf_counter()
    page.get_by_role("option", name="group").first.click()
    page.locator(".legendtext", has_text="g0").first.wait_for(timeout=600_000)
    recolour = time.perf_counter() - t1
    page.wait_for_timeout(1500)
    if shot is not None:
        page.screenshot(path=str(shot), full_page=False)
    page.close()
    return {"first_chart_s": round(first, 2), "umap_vae_chart_s": round(umap_s, 2),
            "both_umaps_s": round(both, 2),
            "zoom_redraw_s": None if zoom is None else round(zoom, 3),
            "colour_change_rerun_s": round(recolour, 2)}


def main() -> None:
    """Write the data, start the server on it, time the page, print JSON."""
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=7480)
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        h5ad = make_data(tmp, args.cells)
        made = time.perf_counter() - t0
        WRAPPER.write_text(_WRAPPER_CODE)
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            proc, url = _server(tmp, h5ad)
            try:
                result = time_page(browser, url, args.screenshot)
            finally:
                proc.terminate()
                proc.wait(timeout=20)
            browser.close()
        finally:
            WRAPPER.unlink(missing_ok=True)
    out = {"benchmark": "embedding_view", "cells": args.cells, "data_written_s": round(made, 1),
           **result}
    emit(out, args.out)


def emit(out: dict, path: Path | None) -> None:
    """Print ``out`` as JSON, and write it to ``path`` when one is given."""
    text = json.dumps(out, indent=2)
    print(text)
    if path:
        path.write_text(text + "\n")


if __name__ == "__main__":
    main()
