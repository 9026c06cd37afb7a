"""Data page: pick or upload a dataset, look at it, preprocess it, choose the label column."""

from __future__ import annotations

import streamlit as st

from core.data.io import LoadResult, plain_name, read_bytes
from core.data.metadata import add_cell_metadata, read_cell_metadata
from core.data.preprocess import (
    MAX_INTEGER_LABELS,
    PreprocessConfig,
    label_column_report,
    qc_metrics,
    summarize,
)
from core.data.registry import DATASETS, list_datasets
from core.pl.figures import category_bar, qc_histograms
from ui.downloads import figure_downloads, h5ad_download
from ui.messages import run_safely, set_feedback, show_feedback
from ui.start_here import start_here
from ui.state import (
    LoadedDataset,
    build_dataset,
    get_dataset,
    load_bundled_dataset,
    set_dataset,
)

UPLOAD_TYPES = ["h5ad", "h5", "zip", "csv", "tsv", "txt", "gz"]
AUTO_ON_OFF = {"Auto": None, "On": True, "Off": False}
LOAD_FEEDBACK, PP_FEEDBACK = "data_load", "data_preprocess"


# Callbacks run before the script, so the sidebar and the metrics below show the new dataset.
def _load_bundled() -> None:
    name = st.session_state["bundled_name"]
    loaded = run_safely(lambda: load_bundled_dataset(name), action=f"loading {name}",
                        feedback_key=LOAD_FEEDBACK)
    if loaded is not None:
        set_dataset(loaded)
        st.toast(f"Loaded {name}", icon=":material/check:")


def _load_upload() -> None:
    upload = st.session_state.get("upload_file")
    if upload is None:
        return
    transpose = bool(st.session_state.get("upload_transpose"))

    meta_file = st.session_state.get("upload_meta")

    def load() -> LoadedDataset:
        result = read_bytes(upload.getvalue(), upload.name, transpose=transpose)
        token = f"upload:{upload.file_id}:{transpose}"
        if meta_file is not None:
            meta_name = plain_name(meta_file.name)
            meta = read_cell_metadata(meta_file.getvalue(), meta_name)
            result.notices += add_cell_metadata(result.adata, meta, filename=meta_name)
            token += f":{meta_file.file_id}"
        return build_dataset(result, token=token)

    name = plain_name(upload.name)          # no markup from a file name reaches the page
    loaded = run_safely(load, action=f"reading {name}", feedback_key=LOAD_FEEDBACK)
    if loaded is not None:
        set_dataset(loaded)
        st.toast(f"Loaded {name}", icon=":material/check:")


def _apply_preprocessing() -> None:
    ds, state = get_dataset(), st.session_state
    if ds is None:
        return
    config = PreprocessConfig(
        normalize=AUTO_ON_OFF[state["pp_normalize"]], target_sum=float(state["pp_target_sum"]),
        log1p=AUTO_ON_OFF[state["pp_log1p"]], n_top_genes=int(state["pp_n_top"]) or None,
        hvg_flavor=state["pp_flavor"], subset_hvg=bool(state["pp_subset"]),
        scale=AUTO_ON_OFF[state["pp_scale"]], clip=float(state["pp_clip"]) or None,
        min_cells=int(state["pp_min_cells"]),
    )
    result = LoadResult(adata=ds.raw, name=ds.name, notices=ds.notices)
    rebuilt = run_safely(lambda: build_dataset(result, token=ds.token, config=config,
                                               label_key=ds.label_key),
                         action="preprocessing", feedback_key=PP_FEEDBACK)
    if rebuilt is not None:
        set_dataset(rebuilt)
        set_feedback(PP_FEEDBACK, "success", "Preprocessing applied.")


def _yes_no(flag: object) -> str:
    # Words, not ✓/✗: "normalise ✗" read like "normalise X" (issue 21).
    return "**on**" if flag else "off"


def _set_label_key() -> None:
    ds = get_dataset()
    if ds is not None:
        ds.label_key = st.session_state["label_key"]


st.title("Data")
_ds = get_dataset()
start_here(expanded=not st.session_state.get("_start_here_seen"),
           dataset_token=_ds.token if _ds else "",
           default_preprocessing=_ds is not None and _ds.config == PreprocessConfig())
st.session_state["_start_here_seen"] = True

# ---- choose the data --------------------------------------------------------------------------
source = st.radio("Source", ["Bundled dataset", "Upload a file"], horizontal=True,
                  key="data_source", label_visibility="collapsed")
if source == "Bundled dataset":
    table = list_datasets()
    st.dataframe(table, hide_index=True, width="stretch",
                 column_order=["name", "title", "species", "cells", "genes", "x", "label_key"],
                 column_config={"title": st.column_config.TextColumn(width="large"),
                                "x": st.column_config.TextColumn("X holds"),
                                "label_key": st.column_config.TextColumn("labels")})
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.selectbox("Bundled dataset", list(DATASETS), key="bundled_name")
    c2.button("Load dataset", key="load_bundled", type="primary", width="stretch",
              on_click=_load_bundled)
else:
    st.caption("An .h5ad; a 10x .h5; a .zip of a 10x folder (matrix.mtx(.gz), features.tsv(.gz) "
               "or genes.tsv, barcodes.tsv(.gz)); or a CSV/TSV(.gz) with cells as rows and genes "
               "as columns. Up to 2 GB.")
    upload = st.file_uploader("Expression file", type=UPLOAD_TYPES, key="upload_file")
    st.checkbox("The table has genes as rows and cells as columns", key="upload_transpose")
    st.file_uploader("Cell metadata (optional): CSV/TSV with one row per cell, cell ids in the "
                     "first column (or one named cell / barcode), annotations in the others",
                     type=["csv", "tsv", "txt", "gz"], key="upload_meta",
                     help="Adds cell types, batches or clusters to a matrix without them (a "
                          "10x folder or a CSV); the ids must be the matrix's cell barcodes.")
    st.button("Load file", key="load_upload", type="primary", disabled=upload is None,
              on_click=_load_upload)
show_feedback(LOAD_FEEDBACK)

ds = get_dataset()
if ds is None:
    st.info("Load a bundled dataset or upload a file to begin.")
    st.stop()

# ---- what is loaded ---------------------------------------------------------------------------
st.header(f"`{ds.name}`", divider="gray")
summary = summarize(ds.raw)
kind_text = {"counts": "raw counts", "log-normalized": "log-normalised values",
             "normalized": "normalised (not logged) values", "scaled": "scaled values"}
# Short values: a metric truncates what does not fit its column.
kind_short = {"counts": "raw counts", "log-normalized": "log-normalised",
              "normalized": "normalised", "scaled": "scaled"}
m = st.columns([2, 2, 3, 3])
m[0].metric("Cells", f"{ds.raw.n_obs:,}")
m[1].metric("Genes", f"{ds.raw.n_vars:,}")
m[2].metric("X holds", kind_short[summary["x_kind"]], help=kind_text[summary["x_kind"]])
m[3].metric("Genes after preprocessing", f"{ds.adata.n_vars:,}")
for notice in ds.notices:
    st.info(notice, icon=":material/info:")

left, right = st.columns([2, 3])
with left:
    st.subheader("Cell annotations")
    report = label_column_report(ds.raw)
    obs_rows = [{"column": k, "type": v["type"],   # "–": not categorical (not "None")
                 "categories": "–" if v["n_categories"] is None else f"{v['n_categories']:,}",
                 "label?": "yes" if report.get(k, "") is None else f"no: {report.get(k)}"}
                for k, v in summary["obs_columns"].items()]
    st.dataframe(obs_rows, hide_index=True, width="stretch", key="obs_table", column_config={
        "categories": st.column_config.TextColumn(alignment="right"),
        "label?": st.column_config.TextColumn(
            "label?", help="Usable as labels: text/categorical columns with 2–200 values, "
                           f"integer columns with 2–{MAX_INTEGER_LABELS}.")})
    options = ds.label_options
    if options:
        index = options.index(ds.label_key) if ds.label_key in options else 0
        label = st.selectbox("Label column used for scoring (ARI/NMI)", options, index=index,
                             key="label_key", on_change=_set_label_key,
                             help="Known cell labels that clustering of the latent is scored "
                                  "against on the Embedding page.")
        ds.label_key = label  # also when the options changed with a newly loaded dataset
    else:
        st.warning("No column can serve as labels (text with 2–200 values or integers with "
                   f"2–{MAX_INTEGER_LABELS}; the table says why for each): clustering scores "
                   "need known labels, so ARI/NMI will not be shown. Upload a cell metadata "
                   "CSV beside the matrix to add them.")
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
    f"{'on' if auto.scale else 'off'}. "
    + ("Raw counts are kept in `layers['counts']`." if "counts" in ds.adata.layers else
       "The data has no raw counts (the NB/ZINB likelihoods need them).")
)
cfg = ds.config
with st.form("pp_form"):
    c = st.columns(3)
    c[0].selectbox("Normalise total", list(AUTO_ON_OFF), key="pp_normalize")
    c[0].number_input("Target sum", min_value=1.0, value=float(cfg.target_sum), step=1000.0,
                      format="%g", key="pp_target_sum")
    c[0].selectbox("log1p", list(AUTO_ON_OFF), key="pp_log1p")
    c[1].number_input("Highly variable genes (0 = none)", min_value=0,
                      value=int(cfg.n_top_genes or 0), step=500, key="pp_n_top")
    c[1].selectbox("HVG flavor", ["seurat", "cell_ranger"], key="pp_flavor")
    c[1].checkbox("Keep only highly variable genes", value=cfg.subset_hvg, key="pp_subset")
    c[2].selectbox("Scale to unit variance", list(AUTO_ON_OFF), key="pp_scale")
    c[2].number_input("Clip scaled values at ± (0 = no clip)", min_value=0.0,
                      value=float(cfg.clip or 0), step=1.0, key="pp_clip")
    c[2].number_input("Drop genes seen in fewer cells than", min_value=0,
                      value=int(cfg.min_cells), key="pp_min_cells")
    st.form_submit_button("Apply preprocessing", type="primary", on_click=_apply_preprocessing)
show_feedback(PP_FEEDBACK)

applied = ds.adata.uns.get("preprocess", {})
hvg = int(ds.adata.var["highly_variable"].sum()) if "highly_variable" in ds.adata.var else 0
st.markdown(
    f"Models read **{ds.adata.n_obs:,} cells × {ds.adata.n_vars:,} genes** "
    f"({hvg:,} flagged highly variable). Applied: normalise "
    f"{_yes_no(applied.get('normalize'))}, log1p {_yes_no(applied.get('log1p'))}, "
    f"scale {_yes_no(applied.get('scale'))}"
    + (f" (clip ±{applied['clip']:g})" if applied.get("scale") and applied.get("clip") else "")
    + "."
)
h5ad_download(lambda: ds.adata, f"{ds.name.rsplit('.', 1)[0]}_processed", key="dl_processed",
              label="Download processed AnnData (.h5ad)")
