"""Embedding page: UMAP of the VAE latent beside PCA, clustering scores, loss history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import streamlit as st

from core.analysis.embeddings import KnnProjector, umap
from core.analysis.metrics import compare_embeddings, metrics_table
from core.analysis.subsample import DEFAULT_SUBSAMPLE, stratified_subsample
from core.pl.figures import MAX_DRAWN, embedding_scatter, history_curves, metrics_bars
from core.runs import Run
from core.tl.annotate import annotate_adata
from ui.counts import batch_metrics_section, de_section
from ui.downloads import figure_downloads, h5ad_download, run_download, table_download
from ui.jobs import run_picker
from ui.state import require_dataset

st.title("Embedding")
ds = require_dataset()
run = run_picker(ds, ("betavae", "tfvae"), key="emb_run")
if run is None:
    st.info("No trained run matches this dataset and its preprocessing yet. Train one first.")
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=32)
def _umap(run_id: str, which: str, n_neighbors: int, min_dist: float, size: int, _run: Run,
          _idx: np.ndarray) -> np.ndarray:
    """UMAP of the latent or of PCA on the cells ``_idx`` (``size`` of them); stored in the run
    folder so a restart does not recompute."""
    name = f"umap_{which}_nn{n_neighbors}_md{min_dist:g}"
    if size < _run.latent.shape[0]:
        name += f"_n{size}"
    if name in _run.arrays:
        return _run.arrays[name]
    source = _run.latent if which == "vae" else _run.arrays.get("pca")
    coords = umap(source[_idx], n_neighbors=n_neighbors, min_dist=min_dist)
    _run.save_array(name, coords)
    return coords


@st.cache_data(show_spinner=False, max_entries=32)
def _scores(run_id: str, label_key: str, resolution: float | None, size: int, _run: Run,
            _labels: np.ndarray, _idx: np.ndarray) -> dict:
    metrics, _ = compare_embeddings({"vae": _run.latent[_idx], "pca": _run.arrays["pca"][_idx]},
                                    _labels[_idx], leiden_resolution=resolution)
    return metrics


@st.cache_data(show_spinner=False, max_entries=8)
def _placed(run_id: str, size: int, _run: Run, _idx: np.ndarray, _coords: np.ndarray
            ) -> np.ndarray:
    """Every cell placed onto the subsample's UMAP (mean position of its 15 nearest
    subsampled cells in latent space)."""
    out = np.empty((_run.latent.shape[0], 2), dtype=np.float32)
    out[_idx] = _coords
    rest = np.setdiff1d(np.arange(len(out)), _idx)
    out[rest] = KnnProjector(_run.latent[_idx], _coords)(_run.latent[rest])
    return out


adata = ds.adata
if run.latent is None or run.latent.shape[0] != adata.n_obs or "pca" not in run.arrays:
    st.error("This run's saved latent does not match the loaded data; pick another run.")
    st.stop()

n_cells = int(adata.n_obs)
with st.expander("Display and scoring settings", expanded=False):
    c0, c1, c2, c3 = st.columns(4)
    size = int(c0.number_input(
        "Cells in UMAP and scores", min_value=min(n_cells, 100), max_value=n_cells,
        value=min(n_cells, DEFAULT_SUBSAMPLE), step=1000, key="emb_cells",
        help=f"A subsample stratified by the label column; {DEFAULT_SUBSAMPLE:,} by default "
             "so the first UMAP comes in seconds (the latent itself covers every cell)."))
    place_all = c0.checkbox("Place every cell on the UMAP", False, key="emb_place_all",
                            disabled=size >= n_cells,
                            help="The other cells land at the mean position of their 15 "
                                 "nearest subsampled cells in the latent.")
    n_neighbors = c1.number_input("UMAP neighbours", 2, 200, 15, key="emb_nn")
    min_dist = c2.number_input("UMAP min_dist", 0.0, 1.0, 0.5, 0.05, key="emb_md")
    auto_res = c3.checkbox("Leiden resolution: match number of labels", True, key="emb_auto_res")
    resolution = None if auto_res else c3.number_input("Leiden resolution", 0.01, 10.0, 1.0,
                                                       0.05, key="emb_res")

genes = list(map(str, adata.var_names))
obs_cols = [c for c in adata.obs.columns if adata.obs[c].nunique() < 0.5 * adata.n_obs
            or pd.api.types.is_numeric_dtype(adata.obs[c])]
label_default = ds.label_key if ds.label_key in obs_cols else (obs_cols[0] if obs_cols else None)
c1, c2 = st.columns([1, 2])
color_kind = c1.radio("Colour by", ["obs column", "gene"], horizontal=True, key="emb_color_kind")
if color_kind == "gene":
    gene = c2.selectbox("Gene", genes, key="emb_gene")
    layer = adata.layers["log1p"] if "log1p" in adata.layers else adata.X
    col = layer[:, genes.index(gene)]
    color = np.asarray(col.toarray()).ravel() if sp.issparse(col) else np.asarray(col).ravel()
    color_name = gene
else:
    color_name = c2.selectbox("obs column", obs_cols, key="emb_color_obs",
                              index=obs_cols.index(label_default) if label_default else 0)
    color = adata.obs[color_name].to_numpy()
hover_cols = [c for c in (ds.label_key, "condition", "cell_type") if c and c in adata.obs]
hover = adata.obs[list(dict.fromkeys(hover_cols))].copy()
hover.insert(0, "cell", adata.obs_names)


@st.cache_data(show_spinner=False, max_entries=8)
def _subsample(run_id: str, label_key: str | None, size: int, _obs) -> np.ndarray:
    """The stratified cells (cached: np.unique over 1M labels takes ~0.5 s per rerun)."""
    strata = _obs[label_key].astype(str).to_numpy() if label_key else None
    return stratified_subsample(len(_obs), size, strata)


idx = _subsample(run.id, ds.label_key, size, adata.obs)
dims = run.latent.shape[1]
left, right = st.columns(2)
slot_vae, slot_pca = left.empty(), right.empty()
what = f"{size:,} cells" if size == n_cells else f"{size:,} of {n_cells:,} cells (stratified)"


def _chart(slot, coords, cells, title, key):
    fig = embedding_scatter(coords, color[cells], title=title,
                            hover=hover.iloc[cells], color_name=color_name)
    slot.plotly_chart(fig, width="stretch", key=key)
    return fig


cached = f"umap_vae_nn{int(n_neighbors)}_md{float(min_dist):g}" + (
    f"_n{size}" if size < n_cells else "")
if cached not in run.arrays:  # a quick first view while UMAP runs (it takes ~10-30 s)
    z = run.latent[idx]
    z = z - z.mean(axis=0)
    quick = z @ np.linalg.svd(z, full_matrices=False)[2][:2].T
    _chart(slot_vae, quick, idx, f"First 2 PCs of the VAE latent ({what}); UMAP coming…",
           "quick_vae")
with st.status(f"UMAP of {what}…", expanded=False) as status:
    status.update(label=f"UMAP of the VAE latent, {what}…")
    umap_vae = _umap(run.id, "vae", int(n_neighbors), float(min_dist), size, run, idx)
    shown_idx, shown_vae = idx, umap_vae
    if place_all and size < n_cells:
        status.update(label=f"Placing all {n_cells:,} cells on the UMAP…")
        shown_vae = _placed(run.id, size, run, idx, umap_vae)
        shown_idx = np.arange(n_cells)
    drawn = f" · drawing {min(len(shown_idx), MAX_DRAWN):,}" if len(shown_idx) > MAX_DRAWN else ""
    fig_vae = _chart(slot_vae, shown_vae, shown_idx,
                     f"UMAP of the VAE latent ({dims} dims; {what}{drawn})", "umap_vae")
    status.update(label=f"UMAP of PCA, {what}…")
    umap_pca = _umap(run.id, "pca", int(n_neighbors), float(min_dist), size, run, idx)
    fig_pca = _chart(slot_pca, umap_pca, idx, f"UMAP of PCA ({dims} components; {what})",
                     "umap_pca")
    status.update(label=f"UMAP of {what}: done", state="complete")
with left:
    figure_downloads(fig_vae, f"{run.id}_umap_vae", key="dl_umap_vae")
with right:
    figure_downloads(fig_pca, f"{run.id}_umap_pca", key="dl_umap_pca")

# ---- scores -------------------------------------------------------------------------------------
st.subheader("Clustering against known labels")
label_key = ds.label_key
if not label_key:
    st.info("Choose a label column on the Data page to score clusters against it.")
else:
    same = (run.config.get("data", {}).get("label_key") == label_key and resolution is None
            and size == min(n_cells, run.metrics.get("scored_cells", n_cells)))
    if same and "ari_kmeans_vae" in run.metrics:
        metrics = run.metrics
    else:
        with st.spinner(f"Scoring clusters on {what}…"):
            metrics = _scores(run.id, label_key, resolution, size, run,
                              adata.obs[label_key].astype(object).to_numpy(), idx)
    table = metrics_table(metrics)
    n_labels = adata.obs[label_key].nunique()
    st.caption(f"Labels `{label_key}` ({n_labels} classes), scored on {what}. KMeans with "
               f"k = {n_labels}, mean ± sd over 3 seeds; Leiden on a 15-NN graph at the "
               "resolution that gives k clusters "
               "(or yours); kNN accuracy: 5-fold label accuracy of a 15-nearest-neighbour "
               "classifier, how well the space keeps the labels apart whatever a clustering "
               "makes of it. Δ = VAE − PCA.")
    shown = table[["metric", "vae", "vae ± sd", "pca", "pca ± sd", "Δ"]].rename(
        columns={"vae": "VAE latent", "vae ± sd": "VAE sd", "pca": "PCA", "pca ± sd": "PCA sd"})
    # Shown as text so that a missing spread reads "–" (st.dataframe shows NaN as "None").
    numbers = shown.columns[1:]
    text = shown.assign(**{c: [("–" if pd.isna(v) else f"{v:.3f}") for v in shown[c]]
                           for c in numbers})
    styled = text.style.apply(lambda _: [
        "color: #1a7f37; font-weight: 600" if v > 0 else "color: #b42318" if v < 0 else ""
        for v in shown["Δ"].fillna(0)], subset=["Δ"])
    c1, c2 = st.columns([1, 1])
    c1.dataframe(styled, hide_index=True, width="stretch", column_config={
        c: st.column_config.TextColumn(alignment="right") for c in numbers})
    table_download(shown, f"{run.id}_metrics", key="dl_metrics", label="Metrics (CSV)")
    fig_m = metrics_bars(table, title="VAE latent vs PCA")
    c2.plotly_chart(fig_m, width="stretch", key="metrics_bars")

batch_metrics_section(run)
de_section(run, ds)

# ---- history ------------------------------------------------------------------------------------
st.subheader("Training history")
hist = run.history
if hist.empty:
    st.caption("This run has no history.")
else:
    terms = [t for t in ("train_recon", "train_kl") if t in hist]
    fig_h = history_curves(hist, terms=terms, height=260,
                           title="Reconstruction and KL per epoch (β dashed, right axis)")
    st.plotly_chart(fig_h, width="stretch", key="history")
    figure_downloads(fig_h, f"{run.id}_history", key="dl_history")
    table_download(hist, f"{run.id}_history", key="dl_history_csv", label="History (CSV)")

# ---- AnnData ------------------------------------------------------------------------------------
st.subheader("Annotated AnnData")
st.caption("`obsm['X_vae']` latent means, `obsm['X_pca']`, `obsm['X_umap']` (UMAP of the "
           "latent), `obs['vae_kmeans']`/`obs['vae_leiden']` clusters, `uns['vae']['params']`.")


def _annotated():
    run.arrays["umap"] = umap_vae if size == n_cells else _placed(run.id, size, run, idx,
                                                                   umap_vae)
    return annotate_adata(adata, run)


c1, c2 = st.columns(2)
with c1:
    h5ad_download(_annotated, f"{ds.name}_{run.id}", key="dl_h5ad")
with c2:
    run_download(run, key="dl_run_betavae")
