"""Benchmark page: PCA, Harmony, the β-VAEs, the TF-VAE, SCVI (when installed) and the user's
own embeddings on the same cells, scored with scIB metrics over several seeds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.benchmark import METRIC_TITLES, best_per_column, metric_columns
from core.data.io import read_bytes
from core.data.preprocess import categorical_columns
from core.data.registry import DATASETS
from core.pl.benchmark import metric_bars, scib_table
from core.recipes.benchmark import (
    BATCH_METHODS,
    METHOD_TITLES,
    METHODS,
    BenchmarkResult,
    BenchmarkSettings,
    default_methods,
    embedding_from_other,
    load_benchmark,
    recommended_betavae,
    run_benchmark,
    save_benchmark,
    scvi_model_embedding,
)
from core.runs import default_runs_root
from ui.downloads import figure_downloads, table_download
from ui.jobs import last_job, progress_panel, submit
from ui.messages import run_safely
from ui.state import require_dataset

KIND = "benchmark"
#: A folder on the server whose scvi-tools model folders the page may load (set by the admin).
TRUSTED_MODELS_ENV = "SCVAE_TRUSTED_MODELS_DIR"

st.title("Benchmark")
st.caption("Every method embeds the same cells; each embedding is scored with the integration "
           "community's metrics (scib-metrics: Leiden NMI/ARI, silhouette, isolated labels, "
           "cLISI, kNN accuracy; with a batch column iLISI, kBET, graph connectivity and batch "
           "silhouette), aggregated as scIB does (total = 0.6 bio + 0.4 batch), mean ± sd "
           "over seeds.")
ds = require_dataset()
adata = ds.adata
best_vae = recommended_betavae(adata)
st.info(f"For this data the recommended β-VAE is **{METHOD_TITLES[best_vae]}**: "
        + ("X holds raw counts, and on counts the NB likelihood scored higher on the panel "
           "(zeisel_cortex bio conservation 0.728 vs 0.695, 3 seeds, CPU). With a batch column "
           "it also beat Harmony on PCA on the panel's count data (papalexi_controls total "
           "0.431 vs 0.427)." if best_vae == "betavae_nb"
           else "X holds log-normalised values, and on such data the Gaussian likelihood "
           "scored higher on the panel (symphony_pbmc total 0.746 vs NB 0.730, 3 seeds, where "
           "exact counts were in a layer).")
        + " On log data with a batch column, Harmony on PCA scored a higher total than "
          "either β-VAE (symphony_pbmc 0.774 vs 0.746; kang_pbmc, condition as batch, 0.745 "
          "vs 0.718); Harmony on the β-VAE latent came within 0.01 (0.765 and 0.736, one "
          "H100): compare them here.",
        icon=":material/recommend:")

# ---- settings --------------------------------------------------------------------------------
labels = categorical_columns(ds.raw) or list(adata.obs.columns)
info = DATASETS.get(ds.name)
c = st.columns([2, 2, 1, 1])
label_key = c[0].selectbox("Cell-type column", labels, key="bench_label",
                           index=labels.index(ds.label_key) if ds.label_key in labels else 0)
batch_options = ["(none)"] + [x for x in labels if x != label_key]
default_batch = info.batch_key if info and info.batch_key in batch_options else "(none)"
batch_key = c[1].selectbox("Batch column (optional)", batch_options, key="bench_batch",
                           index=batch_options.index(default_batch))
batch_key = None if batch_key == "(none)" else batch_key
seeds = c[2].number_input("Seeds", 1, 10, 3, key="bench_seeds")
epochs = c[3].number_input("Max epochs", 1, 1000, 100, key="bench_epochs")
available = default_methods()
methods = st.multiselect("Methods", [m for m in METHODS if m in available], key="bench_methods",
                         default=[m for m in available if m not in BATCH_METHODS or batch_key],
                         format_func=lambda m: METHOD_TITLES.get(m, m))
if "scvi" not in available:
    st.caption("scvi-tools' SCVI is compared when scvi-tools is installed on the server "
               "(an optional extra: `pip install scvi-tools`).")

# ---- bring your own embedding ----------------------------------------------------------------
extra: dict[str, object] = {}
with st.expander("Bring your own embedding"):
    st.markdown("Score an embedding from another tool beside ours: an AnnData (.h5ad) of the "
                "same cells (matched by obs name) with the embedding in `obsm` under any key. "
                "An uploaded file is only read as data. **scvi-tools model folders are never "
                "loaded from an upload** — loading one unpickles objects, which can run code — "
                f"only from the folder the server's owner trusts (`${TRUSTED_MODELS_ENV}`) or "
                "with `python -m core benchmark --scvi-model DIR`.")
    own = [k for k in adata.obsm.keys()]
    picked_own = st.multiselect("Embeddings already in the loaded data (obsm)", own,
                                key="bench_obsm")
    for key in picked_own:
        extra[f"obsm:{key}"] = adata.obsm[key]
    upload = st.file_uploader("AnnData with an embedding in obsm", type=["h5ad"],
                              key="bench_upload")
    if upload is not None:
        other = run_safely(lambda: read_bytes(upload.getvalue(), upload.name).adata,
                           action="reading the uploaded AnnData")
        if other is not None and len(other.obsm):
            up_key = st.selectbox("obsm key", list(other.obsm.keys()), key="bench_upload_key")
            emb = run_safely(lambda: embedding_from_other(adata, other, up_key),
                             action="matching the embedding to the loaded cells")
            if emb is not None:
                extra[f"obsm:{Path(upload.name).stem}:{up_key}"] = emb
                st.caption(f"`{up_key}`: {emb.shape[1]} dimensions for all "
                           f"{adata.n_obs:,} cells.")
        elif other is not None:
            st.warning("The uploaded file has no obsm embedding.")
    trusted = os.environ.get(TRUSTED_MODELS_ENV)
    folders = sorted(p for p in Path(trusted).iterdir() if (p / "model.pt").is_file()) \
        if trusted and Path(trusted).is_dir() else []
    scvi_dirs = st.multiselect("scvi-tools model folders (trusted server folder)",
                               [str(p) for p in folders], key="bench_scvi_models",
                               disabled=not folders,
                               help=f"Folders with model.pt under ${TRUSTED_MODELS_ENV}"
                                    + ("" if trusted else " (not set on this server)"))

settings = run_safely(lambda: BenchmarkSettings.from_dict(
    {"methods": tuple(methods) + tuple(extra) + tuple(f"obsm:scvi:{Path(d).name}"
                                                      for d in scvi_dirs),
     "seeds": int(seeds), "epochs": int(epochs)}), action="checking the settings")


def _job(progress, cancel) -> BenchmarkResult:
    data = adata.copy() if extra or scvi_dirs else adata
    for name, emb in extra.items():
        data.obsm[name.removeprefix("obsm:")] = emb
    for folder in scvi_dirs:
        data.obsm[f"scvi:{Path(folder).name}"] = scvi_model_embedding(folder, data)
    out = default_runs_root() / ".benchmarks" / f"{time.strftime('%Y%m%d-%H%M%S')}-{ds.name}"
    result = run_benchmark(data, label_key=label_key, batch_key=batch_key, dataset=ds.name,
                           settings=settings, progress=progress,
                           cancel=cancel)
    save_benchmark(result, out)
    return result


running = progress_panel(KIND)
if st.button("Run benchmark", key="bench_run", type="primary", icon=":material/play_arrow:",
             disabled=bool(running) or settings is None):
    submit(KIND, _job, label=f"Benchmark on {ds.name}")
    st.rerun()
job = last_job(KIND)
if job is not None and job.status == "failed":
    st.error(f"{job.label} failed: {job.error}", icon=":material/error:")

# ---- results ---------------------------------------------------------------------------------
root = default_runs_root() / ".benchmarks"
saved = sorted((p for p in root.glob("*") if (p / "table.json").is_file()), reverse=True) \
    if root.is_dir() else []
if not saved:
    if not running:
        st.info("No benchmark yet: pick the columns and methods and **Run benchmark** (PCA "
                "and Harmony take seconds; each trained method a minute or more per seed on "
                "CPU).")
    st.stop()
folder = st.selectbox("Benchmark", saved, key="bench_saved", format_func=lambda p: p.name)
result = run_safely(lambda: load_benchmark(folder), action="reading the benchmark")
if result is None or result.table.empty:
    st.stop()
with_batch = result.info.get("batch_key") is not None
cols = [c for c in metric_columns(with_batch) if c in result.table.columns]
titles = {m: METHOD_TITLES.get(m, m.removeprefix("obsm:")) for m in result.table.index}
st.caption(f"{result.info.get('dataset')} · {result.info.get('n_obs'):,} cells · labels "
           f"`{result.info.get('label_key')}` · batch `{result.info.get('batch_key') or '—'}` · "
           f"{int(result.table['n_seeds'].max())} seed(s)")
shown = result.table[cols].rename(index=titles, columns=METRIC_TITLES)
best = best_per_column(shown, list(shown.columns))
st.dataframe(shown.style.format("{:.3f}", na_rep="—").highlight_max(
    axis=0, props="font-weight: bold; background-color: #dcd3f0;"), width="stretch",
    key="bench_table")
st.caption("Bold: the best method per column (every metric: higher is better). "
           + " · ".join(f"{METRIC_TITLES.get(c, c)}: {best[METRIC_TITLES.get(c, c)]}"
                        for c in ("bio_conservation", "batch_correction", "total")
                        if METRIC_TITLES.get(c, c) in best))
if result.skipped:
    st.caption("Not run: " + "; ".join(f"{METHOD_TITLES.get(m, m)} ({why})"
                                       for m, why in result.skipped.items()))
d = st.columns(3)
with d[0]:
    table_download(result.table.reset_index(), f"benchmark_{folder.name}", key="dl_bench_table",
                   label="Table (CSV)")
with d[1]:
    table_download(result.per_seed, f"benchmark_{folder.name}_per_seed", key="dl_bench_seeds",
                   label="Per seed (CSV)")
with d[2]:
    st.download_button("Table (JSON)", data=lambda: (folder / "table.json").read_bytes(),
                       file_name=f"benchmark_{folder.name}.json", mime="application/json",
                       key="dl_bench_json", icon=":material/download:", on_click="ignore")
fig = scib_table(result.table, cols, titles=titles)
st.plotly_chart(fig, width="stretch", key="bench_scib_fig")
figure_downloads(fig, f"benchmark_{folder.name}_table", key="dl_bench_fig")
bars = metric_bars(result.table, cols, titles=titles)
st.plotly_chart(bars, width="stretch", key="bench_bars_fig")
figure_downloads(bars, f"benchmark_{folder.name}_bars", key="dl_bench_bars")
st.caption("The trained models are saved as runs (one per method and seed): open them on the "
           "Embedding page. Seeds: " + ", ".join(
               str(x) for x in pd.unique(result.per_seed["seed"])))
