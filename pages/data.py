"""Data page: pick or upload a dataset, look at it, preprocess it, choose the label column."""

from __future__ import annotations

import streamlit as st

from core.data.io import LoadResult, read_bytes
from core.data.preprocess import PreprocessConfig, qc_metrics, summarize
from core.data.registry import DATASETS, list_datasets
from core.plots import category_bar, qc_histograms
from ui.downloads import figure_downloads, h5ad_download
from ui.messages import run_safely
from ui.state import build_dataset, get_dataset, load_bundled_dataset, set_dataset

UPLOAD_TYPES = ["h5ad", "h5", "zip", "csv", "tsv", "txt", "gz"]
AUTO_ON_OFF = {"Auto": None, "On": True, "Off": False}

st.title("Data")

# ---- choose the data --------------------------------------------------------------------------
source = st.radio("Source", ["Bundled dataset", "Upload a file"], horizontal=True,
                  key="data_source", label_visibility="collapsed")
if source == "Bundled dataset":
    table = list_datasets()
    st.dataframe(table, hide_index=True, width="stretch")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.selectbox("Bundled dataset", list(DATASETS), key="bundled_name")
    if c2.button("Load dataset", key="load_bundled", type="primary", width="stretch"):
        loaded = run_safely(lambda: load_bundled_dataset(name), action=f"loading {name}")
        if loaded is not None:
            set_dataset(loaded)
            st.toast(f"Loaded {name}", icon=":material/check:")
else:
    st.caption("An .h5ad; a 10x .h5; a .zip of a 10x folder (matrix.mtx(.gz), features.tsv(.gz) "
               "or genes.tsv, barcodes.tsv(.gz)); or a CSV/TSV(.gz) with cells as rows and genes "
               "as columns. Up to 2 GB.")
    upload = st.file_uploader("Expression file", type=UPLOAD_TYPES, key="upload_file")
    transpose = st.checkbox("The table has genes as rows and cells as columns",
                            key="upload_transpose")
    if st.button("Load file", key="load_upload", type="primary", disabled=upload is None):
        def _load() -> object:
            result = read_bytes(upload.getvalue(), upload.name, transpose=transpose)
            return build_dataset(result, token=f"upload:{upload.file_id}:{transpose}")

        loaded = run_safely(_load, action=f"reading {upload.name}")
        if loaded is not None:
            set_dataset(loaded)
            st.toast(f"Loaded {upload.name}", icon=":material/check:")

ds = get_dataset()
if ds is None:
    st.info("Load a bundled dataset or upload a file to begin.")
    st.stop()

# ---- what is loaded ---------------------------------------------------------------------------
st.header(f"`{ds.name}`", divider="gray")
summary = summarize(ds.raw)
kind_text = {"counts": "raw counts", "log-normalized": "log-normalised values",
             "normalized": "normalised (not logged) values", "scaled": "scaled values"}
m = st.columns(4)
m[0].metric("Cells", f"{ds.raw.n_obs:,}")
m[1].metric("Genes", f"{ds.raw.n_vars:,}")
m[2].metric("X holds", kind_text[summary["x_kind"]])
m[3].metric("Genes after preprocessing", f"{ds.adata.n_vars:,}")
for notice in ds.notices:
    st.info(notice, icon=":material/info:")

left, right = st.columns([2, 3])
with left:
    st.subheader("Cell annotations")
    obs_rows = [{"column": k, "type": v["type"], "categories": v["n_categories"]}
                for k, v in summary["obs_columns"].items()]
    st.dataframe(obs_rows, hide_index=True, width="stretch", height=260)
    options = ds.label_options
    if options:
        index = options.index(ds.label_key) if ds.label_key in options else 0
        label = st.selectbox("Label column used for scoring (ARI/NMI)", options, index=index,
                             key="label_key",
                             help="Known cell labels that clustering of the latent is scored "
                                  "against on the Embedding page.")
        ds.label_key = label
    else:
        st.warning("No categorical column with 2–200 values: clustering scores need known "
                   "labels, so ARI/NMI will not be shown.")
with right:
    st.subheader("Quality control")
    counts_label = ("Counts per cell" if summary["x_kind"] == "counts"
                    else "Total expression per cell (X is not counts)")
    qc_fig = qc_histograms(qc_metrics(ds.raw), counts_label=counts_label)
    st.plotly_chart(qc_fig, width="stretch", key="qc_hist")
    figure_downloads(qc_fig, f"{ds.name}_qc", key="dl_qc")

if ds.label_key:
    with st.expander(f"Cells per `{ds.label_key}`"):
        st.plotly_chart(category_bar(ds.raw.obs[ds.label_key], title=""), width="stretch",
                        key="label_bar")

# ---- preprocessing ----------------------------------------------------------------------------
st.header("Preprocessing", divider="gray")
auto = PreprocessConfig().resolved(summary["x_kind"])
st.caption(
    f"X holds {kind_text[summary['x_kind']]}, so **Auto** means: normalise "
    f"{'on' if auto.normalize else 'off'}, log1p {'on' if auto.log1p else 'off'}, scale "
    f"{'on' if auto.scale else 'off'}. Raw counts are kept in `layers['counts']`."
)
cfg = ds.config
with st.form("pp_form"):
    c = st.columns(3)
    normalize = c[0].selectbox("Normalise total", list(AUTO_ON_OFF), key="pp_normalize")
    target_sum = c[0].number_input("Target sum", min_value=1.0, value=float(cfg.target_sum),
                                   step=1000.0, format="%g", key="pp_target_sum")
    log1p = c[0].selectbox("log1p", list(AUTO_ON_OFF), key="pp_log1p")
    n_top = c[1].number_input("Highly variable genes (0 = none)", min_value=0,
                              value=int(cfg.n_top_genes or 0), step=500, key="pp_n_top")
    flavor = c[1].selectbox("HVG flavor", ["seurat", "cell_ranger"], key="pp_flavor")
    subset = c[1].checkbox("Keep only highly variable genes", value=cfg.subset_hvg,
                           key="pp_subset")
    scale = c[2].selectbox("Scale to unit variance", list(AUTO_ON_OFF), key="pp_scale")
    clip = c[2].number_input("Clip scaled values at ± (0 = no clip)", min_value=0.0,
                             value=float(cfg.clip or 0), step=1.0, key="pp_clip")
    min_cells = c[2].number_input("Drop genes seen in fewer cells than", min_value=0,
                                  value=int(cfg.min_cells), key="pp_min_cells")
    submitted = st.form_submit_button("Apply preprocessing", type="primary")
if submitted:
    new_cfg = PreprocessConfig(
        normalize=AUTO_ON_OFF[normalize], target_sum=target_sum, log1p=AUTO_ON_OFF[log1p],
        n_top_genes=int(n_top) or None, hvg_flavor=flavor, subset_hvg=subset,
        scale=AUTO_ON_OFF[scale], clip=clip or None, min_cells=int(min_cells),
    )
    result = LoadResult(adata=ds.raw, name=ds.name, notices=ds.notices)
    rebuilt = run_safely(lambda: build_dataset(result, token=ds.token, config=new_cfg,
                                               label_key=ds.label_key),
                         action="preprocessing")
    if rebuilt is not None:
        set_dataset(rebuilt)
        ds = rebuilt
        st.success("Preprocessing applied.", icon=":material/check:")

applied = ds.adata.uns.get("preprocess", {})
hvg = int(ds.adata.var["highly_variable"].sum()) if "highly_variable" in ds.adata.var else 0
st.markdown(
    f"Models read **{ds.adata.n_obs:,} cells × {ds.adata.n_vars:,} genes** "
    f"({hvg:,} flagged highly variable). Applied: normalise "
    f"{'✓' if applied.get('normalize') else '✗'}, log1p {'✓' if applied.get('log1p') else '✗'}, "
    f"scale {'✓' if applied.get('scale') else '✗'}"
    + (f" (clip ±{applied['clip']:g})" if applied.get("scale") and applied.get("clip") else "")
    + "."
)
h5ad_download(lambda: ds.adata, f"{ds.name.rsplit('.', 1)[0]}_processed", key="dl_processed",
              label="Download processed AnnData (.h5ad)")
