"""Network page: train a TF-VAE, then browse the TF network it learned."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.network import (
    centralities,
    filter_edges,
    graphml_bytes,
    neighbourhood,
    prior_overlap,
    weight_summary,
)
from core.data.tfs import PRIORS, TF_LISTS
from core.device import DEVICE_CHOICES
from core.pl.network import neighbourhood_edges, neighbourhood_figure, weight_histograms
from core.recipes.tfvae import (
    MASK_SOURCES,
    TFVAE_DEFAULTS,
    TFVAE_TRAIN_DEFAULTS,
    load_network,
    phases_of,
    resolve_prior,
)
from core.recipes.tfvae_ensemble import train_tfvae_ensemble
from core.runs import load_run
from core.tl.annotate import annotate_adata
from ui.counts import LIKELIHOOD_NAMES, count_warning
from ui.downloads import figure_downloads, h5ad_download, run_download, table_download
from ui.jobs import active_job, job_outcome, progress_panel, run_picker, runs_for, submit
from ui.messages import run_safely
from ui.state import require_dataset

st.title("TF network")
ds = require_dataset()
D = TFVAE_DEFAULTS
AUTO = "auto (dataset's own / by species)"


def _upload_to_file(upload, suffix: str) -> str:
    """Persist an upload so the background job can read it after the page reruns."""
    tmp = Path(tempfile.mkdtemp(prefix="scvae_tf_")) / f"upload{suffix}"
    tmp.write_bytes(upload.getvalue())
    return str(tmp)


# ---- train ---------------------------------------------------------------------------------------
has_runs = bool(runs_for(ds, "tfvae"))
with st.expander("Train a TF-VAE", expanded=not has_runs, icon=":material/model_training:"):
    c1, c2, c3 = st.columns(3)
    tf_choice = c1.selectbox("TF list", [AUTO, *TF_LISTS, "upload"], key="tf_list")
    tf_upload = c1.file_uploader("TF list file (one symbol per line)", type=["txt", "csv"],
                                 key="tf_upload") if tf_choice == "upload" else None
    max_tfs = c2.number_input("Max TFs (most variable first)", 5, 2000, D["max_tfs"],
                              key="tf_max")
    mask_source = c3.radio("Mask source", MASK_SOURCES, horizontal=True, key="tf_mask_source",
                           index=MASK_SOURCES.index(D["mask_source"]),
                           help="prior (default): the TF→target table, the choice whose "
                                "knock-outs beat the baselines; learned: top p% of the dense "
                                "decoder's weights (finds edges outside the prior); both: "
                                "their union. Gaussian models also get the prior's linear "
                                "backbone under the learned decoder.")
    c1, c2, c3 = st.columns(3)
    sparsity = c1.slider("Mask sparsity p (% of weights kept)", 1.0, 50.0,
                         float(D["mask_sparsity"]), 1.0, key="tf_sparsity",
                         disabled=mask_source == "prior")
    prior_choice = c2.selectbox("Prior network", ["auto (DoRothEA A–C / ground truth)",
                                                  *PRIORS, "upload"], key="tf_prior")
    prior_upload = c2.file_uploader("Prior CSV (source,target[,sign])", type=["csv", "tsv"],
                                     key="tf_prior_upload") if prior_choice == "upload" else None
    l1 = c3.number_input("L1 α (dense decoder)", 0.0, 1000.0, float(D["l1"]), key="tf_l1")
    consistency = c3.number_input(
        "TF→TF consistency weight", 0.0, 100.0, float(D["tf_consistency"]), key="tf_consistency",
        help="How strongly the TF→TF weights must predict each TF's level from its regulators' "
             "levels in the decoder phases. 0 turns it off, which leaves TF→TF edges close to "
             "random on simulated data.")
    likelihood = c1.selectbox(
        "Likelihood", list(LIKELIHOOD_NAMES), format_func=LIKELIHOOD_NAMES.get,
        key="tf_likelihood",
        help="Gaussian: squared error on scaled expression. NB / ZINB: raw UMI counts; the "
             "TF→gene layer then gives log-scale effects (a softmax over genes × the cell's "
             "library size) and the Perturb page reports log2 fold changes.")
    with c1:
        count_warning(ds, likelihood)
    cols = st.columns(6)
    epochs = {}
    for col, (phase, label) in zip(cols, (("encoder", "Encoder"), ("decoder", "Dense decoder"),
                                          ("masked", "Masked (1e-3)"),
                                          ("masked_fine", "Masked (1e-4)"), ("vae", "VAE"))):
        epochs[phase] = col.number_input(f"{label} epochs", 0, 2000, D[f"epochs_{phase}"],
                                         key=f"tf_ep_{phase}")
    device = cols[5].selectbox("Device", DEVICE_CHOICES, key="tf_device")
    n_models = cols[5].number_input(
        "Models (seeds)", 1, 10, 1, key="tf_n_models",
        help="Train this many seeds of these settings in one job; the Perturb page then shows "
             "each gene's Δ with an interval and flags sign disagreements (3 on CPU and 5 on "
             "a GPU are good ensembles).")
    running = active_job("tfvae")
    start = st.button("Train TF-VAE", type="primary", key="tf_start",
                      icon=":material/play_arrow:", disabled=running is not None)


def _start() -> None:
    tf_list = None if tf_choice == AUTO else tf_choice
    if tf_choice == "upload":
        tf_list = _upload_to_file(tf_upload, ".txt")
    prior = None if prior_choice.startswith("auto") else prior_choice
    if prior_choice == "upload":
        prior = _upload_to_file(prior_upload, Path(prior_upload.name).suffix or ".csv")
    model = {"tf_list": tf_list, "max_tfs": int(max_tfs), "mask_source": mask_source,
             "mask_sparsity": float(sparsity), "prior": prior, "l1": float(l1),
             "tf_consistency": float(consistency), "likelihood": likelihood,
             **{f"epochs_{k}": int(v) for k, v in epochs.items()}}
    train = replace(TFVAE_TRAIN_DEFAULTS, device=device)
    from core.device import pick_device
    from core.recipes.tfvae import select_tfs

    pick_device(device)
    select_tfs(ds.adata, tf_list, max_tfs=int(max_tfs))  # fail now, with the matched count
    if likelihood != "gaussian":
        from core.training.inputs import counts_matrix

        counts_matrix(ds.adata)             # fail now when there are no raw counts
    adata, name, label_key = ds.adata, ds.name, ds.label_key

    def target(progress, cancel):
        return train_tfvae_ensemble(adata, n_models=int(n_models), dataset=name,
                                    label_key=label_key, model=model, train=train,
                                    progress=progress, cancel=cancel)[0]

    submit("tfvae", target, label=f"TF-VAE on {name}", phases=phases_of(mask_source))


if start:
    if (tf_choice == "upload" and tf_upload is None) or (
            prior_choice == "upload" and prior_upload is None):
        st.error("Choose a file to upload first (or pick a bundled list).")
    else:
        run_safely(_start, action="starting the TF-VAE")
        if active_job("tfvae") is not None:
            st.rerun()

progress_panel("tfvae", curve_terms=("train_loss", "val_loss"))
job_outcome("tfvae")

# ---- pick a run ----------------------------------------------------------------------------------
run = run_picker(ds, "tfvae", key="net_run", label="TF-VAE run")
if run is None:
    st.info("No TF-VAE run for this dataset yet: train one above.")
    st.stop()


@st.cache_data(max_entries=8, show_spinner="Reading the network…")
def _network(run_path: str) -> pd.DataFrame:
    return load_network(load_run(run_path))


@st.cache_data(max_entries=8, show_spinner="Comparing with the prior…")
def _overlap(run_path: str, _edges: pd.DataFrame, token: str) -> tuple[pd.DataFrame, str]:
    r = load_run(run_path)
    s = r.config.get("settings", {})
    prior, label = resolve_prior(ds.adata, s.get("prior"),
                                 confidence=s.get("prior_confidence", "ABC"))
    return prior_overlap(_edges, prior, tf_names=r.config["tfs"],
                         gene_names=r.config["module"]["gene_names"]), label


@st.cache_data(max_entries=16, show_spinner="Ranking TFs…")
def _ranking(run_path: str, key: str, _edges: pd.DataFrame, tfs: tuple[str, ...],
             _counted: pd.DataFrame) -> pd.DataFrame:
    return centralities(_edges, tfs, degree_edges=_counted)


edges = run_safely(lambda: _network(str(run.path)), action="reading the network")
if edges is None:
    st.stop()
tfs = list(run.config["tfs"])
m = run.metrics

# ---- summary -------------------------------------------------------------------------------------
st.subheader("Summary")
c = st.columns(4)
c[0].metric("TFs", f"{len(tfs):,}")
c[1].metric("TF→TF edges", f"{(edges['layer'] == 'tf2tf').sum():,}")
c[2].metric("TF→gene edges", f"{(edges['layer'] == 'tf2gene').sum():,}")
c[3].metric("Median r (μ vs TF expression)", f"{m.get('align_median_r', float('nan')):.2f}")
settings = run.config.get("settings", {})
likelihood = settings.get("likelihood", "gaussian")
st.caption(f"Masks: {settings.get('mask_source')} (top {settings.get('mask_sparsity')}% of "
           f"weights when learned) · TF list: {m.get('tf_list', '?')} · prior: "
           f"{m.get('prior', '?')} · likelihood: {LIKELIHOOD_NAMES.get(likelihood, likelihood)}"
           + (" (TF→gene weights are changes of log expression per unit of the TF)"
              if likelihood != "gaussian" else ""))
left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown("**Edge weights per layer** (quantiles of the signed weight)")
    summary = weight_summary(edges)
    st.dataframe(summary[["n_edges", "positive", "negative", "q0", "q25", "q50", "q75",
                          "q100"]], width="stretch",
                 column_config={k: st.column_config.NumberColumn(format="%.3f")
                                for k in ("q0", "q25", "q50", "q75", "q100")})
    overlap = run_safely(lambda: _overlap(str(run.path), edges, ds.token),
                         action="comparing with the prior")
    if overlap is not None:
        table, label = overlap
        st.markdown(f"**Overlap with the prior** ({label})")
        st.dataframe(table[["n_edges", "n_in_prior", "fraction", "chance", "enrichment",
                            "p_value"]], width="stretch",
                     column_config={k: st.column_config.NumberColumn(format="%.3g")
                                    for k in ("fraction", "chance", "enrichment", "p_value")})
        st.caption("chance = the prior's share of all possible edges of the layer; "
                   "enrichment = fraction / chance; p: hypergeometric.")
with right:
    hist = weight_histograms(edges)
    st.plotly_chart(hist, width="stretch", key="net_hist")
    figure_downloads(hist, f"weights_{run.id}", key="dl_hist")

# ---- filters -------------------------------------------------------------------------------------
st.subheader("Browse")
c1, c2, c3, c4 = st.columns([2, 2, 1, 2])
max_abs = float(edges["weight"].abs().max()) if len(edges) else 1.0
threshold = c1.slider("|weight| ≥", 0.0, max_abs, 0.0, max_abs / 100 or 0.01, key="net_thr",
                      format="%.3f")
layers = c2.multiselect("Layers", ["tf2tf", "tf2gene"], ["tf2tf", "tf2gene"], key="net_layers")
# 10, not 50: at 50 a hub TF's neighbourhood was a hairball of ~1,000 edges (issue 21).
top_k = c3.number_input("Top-k per TF", 0, 10000, 10, key="net_topk",
                        help="For each TF, its k strongest outgoing edges by |weight| are kept "
                             "in each layer separately (k TF targets and k gene targets); "
                             "0 keeps all.")
search = c4.text_input("Search a gene", key="net_search", placeholder="e.g. ISG15")
passing = filter_edges(edges, min_abs_weight=threshold, layers=layers)
shown = filter_edges(passing, top_k_per_tf=top_k or None)
st.caption(f"{len(shown):,} of {len(edges):,} edges pass the filters. Top-k counts outgoing "
           f"edges per TF and per layer: at Top-k {top_k} a TF keeps at most {top_k} TF "
           f"targets and {top_k} gene targets." if top_k else
           f"{len(shown):,} of {len(edges):,} edges pass the filters (Top-k 0: all kept)")

if search.strip():
    q = search.strip().upper()
    hits = shown[(shown["target"].str.upper() == q) | (shown["source"].str.upper() == q)]
    st.markdown(f"**{len(hits)} edges** touch `{search.strip()}`")
    st.dataframe(hits, hide_index=True, width="stretch", key="net_search_table")

ranking = _ranking(str(run.path), f"{threshold}|{layers}|{top_k}", shown, tuple(tfs), passing)
order = ranking["tf"].tolist()
searched_tf = next((t for t in order if t.upper() == search.strip().upper()), None)
if searched_tf and st.session_state.get("_net_searched") != searched_tf:
    st.session_state["net_tf"] = searched_tf  # jump to a TF typed in the search box once
st.session_state["_net_searched"] = searched_tf
if st.session_state.get("net_tf") not in order:
    st.session_state["net_tf"] = order[0] if order else tfs[0]
c1, c2 = st.columns([3, 1])
tf = c1.selectbox("TF", order, key="net_tf",
                  help="Sorted by out-degree (before Top-k), then by out-strength Σ|w|.")
n_graph = c2.number_input("Edges drawn", 5, 2000, 40, 5, key="net_graph_edges",
                          help="The strongest edges of the neighbourhood drawn in the graph; "
                               "the tables list them all.")
targets, regulators = neighbourhood(shown, tf)
cols = ["source", "target", "weight", "sign", "layer", "in_prior"]
left, right = st.columns([2, 3], gap="large")
with left:
    st.markdown(f"**Targets of {tf}** ({len(targets)})")
    st.dataframe(targets[cols], hide_index=True, width="stretch", height=260,
                 key="net_targets")
    table_download(targets[cols], f"targets_{tf}", key="dl_targets", label="Targets (CSV)")
    st.markdown(f"**Regulators of {tf}** ({len(regulators)})")
    st.dataframe(regulators[cols], hide_index=True, width="stretch", height=200,
                 key="net_regulators")
with right:
    local = neighbourhood_edges(shown, tf, max_edges=int(n_graph))
    fig = neighbourhood_figure(local, tf, tf_names=set(tfs))
    st.plotly_chart(fig, width="stretch", key="net_graph")
    figure_downloads(fig, f"neighbourhood_{tf}", key="dl_graph")

# ---- ranking and downloads -----------------------------------------------------------------------
st.subheader("TF ranking")
st.caption("Out-/in-degree and out-strength (Σ |weight| of a TF's outgoing edges) are counted "
           "on the network after the |weight| and layer filters but before Top-k, so TFs "
           "with many strong targets rank first; betweenness and eigenvector centrality are "
           "computed on the filtered network.")
st.dataframe(ranking, hide_index=True, width="stretch", height=300, key="net_ranking",
             column_config={k: st.column_config.NumberColumn(format="%.4f")
                            for k in ("out_strength", "betweenness", "eigenvector")})
c1, c2, c3 = st.columns(3)
with c1:
    table_download(ranking, f"tf_ranking_{run.id}", key="dl_ranking", label="Ranking (CSV)")
with c2:
    table_download(edges, f"network_{run.id}", key="dl_edges_all", label="All edges (CSV)")
with c3:
    table_download(shown, f"network_{run.id}_filtered", key="dl_edges_filtered",
                   label="Filtered edges (CSV)")
c4, c5, c6 = st.columns(3)
with c4:
    st.download_button("GraphML (filtered)", data=lambda: graphml_bytes(shown, tfs),
                       file_name=f"network_{run.id}.graphml", mime="application/xml",
                       key="dl_graphml", icon=":material/download:", on_click="ignore")
with c5:
    h5ad_download(lambda: annotate_adata(ds.adata, run, key="tfvae"), f"{ds.name}_{run.id}",
                  key="dl_tfvae_h5ad", label="TF activities (AnnData .h5ad)")
with c6:
    run_download(run, key="dl_run_tfvae")
st.caption("The AnnData holds the TF latent μ (cells × TFs) in `obsm['X_tfvae']`, its TF names "
           "in `uns['tfvae']['tf_names']`, clusters and every setting of the run.")
