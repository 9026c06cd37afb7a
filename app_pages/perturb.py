"""Perturb page: knock out or over-express TFs of a trained TF-VAE and see every gene respond."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.embeddings import KnnProjector, umap
from core.analysis.perturb import Perturber, perturber_for_run, target_index, unit_reading
from core.pl.figures import embedding_scatter
from core.pl.network import neighbourhood_edges, neighbourhood_figure
from core.pl.perturb import (
    cascade_bar,
    delta_heatmap,
    dose_curve,
    projection_scatter,
    selected_cells,
    top_genes_bar,
    with_cell_index,
)
from core.recipes.tfvae import load_network
from core.runs import load_run
from ui.downloads import figure_downloads, table_download
from ui.jobs import run_picker
from ui.messages import run_safely
from ui.perturb_trust import trust_panel
from ui.state import require_dataset

st.title("TF perturbation")
ds = require_dataset()
run = run_picker(ds, "tfvae", key="pert_run", label="TF-VAE run")
if run is None:
    st.info("No TF-VAE run for this dataset yet: train one on the Network page.")
    st.stop()


@st.cache_resource(max_entries=4, show_spinner="Encoding the cells…")
def _perturber(run_path: str, token: str, _adata) -> Perturber:
    return perturber_for_run(load_run(run_path), _adata)


@st.cache_data(max_entries=8, show_spinner=False)
def _edges(run_path: str) -> pd.DataFrame:
    return load_network(load_run(run_path))


@st.cache_resource(max_entries=4, show_spinner=False)
def _targets(run_path: str, _genes: tuple[str, ...]) -> dict:
    """TF → learned target gene indices (the gene table's direct_target column)."""
    return target_index(load_network(load_run(run_path)), _genes)


@st.cache_data(max_entries=4, show_spinner="Computing the UMAP of the TF latent…")
def _umap_tf(run_id: str, _run, _z: np.ndarray) -> np.ndarray:
    """UMAP of the TF latent μ; stored in the run folder so a restart does not recompute."""
    if "umap_tf" in _run.arrays and len(_run.arrays["umap_tf"]) == len(_z):
        return _run.arrays["umap_tf"]
    coords = umap(_z)
    _run.save_array("umap_tf", coords)
    return coords


@st.cache_resource(max_entries=4, show_spinner=False)
def _projector(run_id: str, _z: np.ndarray, _coords: np.ndarray) -> KnnProjector:
    """kNN index on the unperturbed TF latent (built once per run)."""
    return KnnProjector(_z, _coords, k=15)


p = run_safely(lambda: _perturber(str(run.path), f"{ds.token}:{ds.config!r}", ds.adata),
               action="loading the model")
if p is None:
    st.stop()
edges = _edges(str(run.path))
targets = _targets(str(run.path), tuple(p.gene_names))
umap_tf = _umap_tf(run.id, run, p.z)
projector = _projector(run.id, p.z, umap_tf)
TOP_ROWS = 200  # rows of the gene table shown; the CSV has every gene

st.caption("Each TF unit is in its TF's own units (standardised expression the unit was "
           "trained to track). A slider sets the unit to that value in the chosen cells; the "
           "decoder propagates it through two TF→TF steps to every gene. Gene values are in "
           f"{p.units}" + (" (Δ is a log2 fold change)." if p.counts else "."))
# First view of a run: an example, the knock-out of the TF with the most learned targets, so
# the page opens on a result and not on empty charts with Δ = 0 everywhere (issue 21, item 7).
example_tf = max(p.tf_names, key=lambda t: (len(targets.get(t, ())), t))
if st.session_state.get("_pert_example_run") != run.id:
    st.session_state["_pert_example_run"] = run.id
    st.session_state["pert_tfs"] = [example_tf]
    st.session_state[f"pert_on_{example_tf}"] = True
    st.session_state[f"pert_val_{example_tf}"] = p.presets(example_tf)["knock-out"]
    st.session_state["_pert_example_spec"] = (example_tf, p.presets(example_tf)["knock-out"])


def _tf_expression(tf: str) -> np.ndarray | None:
    """The TF gene's log1p normalised expression per cell, when the data keeps it."""
    layer = ds.adata.layers.get("log1p")
    if layer is None or tf not in ds.adata.var_names:
        return None
    col = layer[:, ds.adata.var_names.get_loc(tf)]
    return np.asarray(col.toarray() if hasattr(col, "toarray") else col).ravel()


c1, c2 = st.columns([3, 2])
tfs = c1.multiselect("TFs to perturb (type to search)", p.tf_names, key="pert_tfs",
                     max_selections=8)
group_keys = [k for k in ds.label_options if k in ds.adata.obs]
with c2:
    scope = st.radio("Cells", ["all", "one group", "selection on the UMAP"], horizontal=True,
                     key="pert_scope")
    group_key = st.selectbox("Group by", group_keys, key="pert_group_key",
                             index=group_keys.index(ds.label_key) if ds.label_key in group_keys
                             else 0) if group_keys else None
    labels = (ds.adata.obs[group_key].astype(str).to_numpy() if group_key
              else np.full(ds.adata.n_obs, "all"))
    group = st.selectbox("Group", sorted(set(labels)), key="pert_group",
                         disabled=scope != "one group")
cells = np.flatnonzero(labels == group) if scope == "one group" else None
if scope == "selection on the UMAP":
    fig = with_cell_index(embedding_scatter(
        umap_tf, labels, title="UMAP of the TF latent (μ): lasso or box-select the cells",
        color_name=group_key or "", height=420), labels)
    event = st.plotly_chart(fig, width="stretch", key="pert_umap", on_select="rerun",
                            selection_mode=("lasso", "box"))
    cells = selected_cells(event.selection)
    cells = cells[cells < ds.adata.n_obs]          # a selection left over from another run
    if len(cells) == 0:
        st.info("Draw a lasso (or a box) around cells on the UMAP to perturb them.")


def _set(tf: str, preset: str | None) -> None:
    """Button callback: move the slider to a preset (None = reset: unperturbed)."""
    if preset is None:
        st.session_state[f"pert_on_{tf}"] = False
        st.session_state[f"pert_val_{tf}"] = p.presets(tf)["reset"]
    else:
        st.session_state[f"pert_on_{tf}"] = True
        st.session_state[f"pert_val_{tf}"] = p.presets(tf)[preset]


def _touched(tf: str) -> None:
    st.session_state[f"pert_on_{tf}"] = True


def _choose_dose_gene() -> None:
    st.session_state["pert_dose_gene_chosen"] = True


def _name_scenario() -> None:
    st.session_state["pert_scn_named"] = True


def _scenario_table(spec: dict, cells_idx) -> pd.DataFrame:
    return p.apply(spec, cells_idx).gene_table(targets)


@st.fragment
def explorer() -> None:
    """Sliders and every result: a slider move reruns only this fragment."""
    spec: dict[str, tuple[str, float]] = {}
    for tf in tfs:
        lo, hi = p.slider_range(tf)
        lo, hi = float(np.floor(lo * 100) / 100), float(np.ceil(hi * 100) / 100)
        pre = p.presets(tf)
        st.session_state.setdefault(f"pert_val_{tf}", pre["reset"])
        st.session_state.setdefault(f"pert_on_{tf}", False)
        cols = st.columns([5, 1, 1, 1], vertical_alignment="bottom")
        on = st.session_state[f"pert_on_{tf}"]
        value = cols[0].slider(f"{tf}" + ("" if on else " (unperturbed)"), lo, hi,
                               step=0.01, key=f"pert_val_{tf}", format="%.2f",
                               on_change=_touched, args=(tf,),
                               help=f"observed μ: {p.tf_range(tf)[0]:.2f} … "
                                    f"{p.tf_range(tf)[1]:.2f}")
        cols[1].button("Knock-out", key=f"pert_ko_{tf}", on_click=_set, args=(tf, "knock-out"))
        cols[2].button("Over-express", key=f"pert_oe_{tf}", on_click=_set,
                       args=(tf, "over-express"))
        cols[3].button("Reset", key=f"pert_reset_{tf}", on_click=_set, args=(tf, None))
        if on:
            spec[tf] = ("set", float(value))
            st.caption(f"{tf} = {value:.2f} (standardised units): "
                       + unit_reading(value, p.z[:, p.tf_names.index(tf)], _tf_expression(tf)))
    if not spec:
        st.info("No TF is perturbed: move a slider, or press **Knock-out** or "
                "**Over-express**, to see every gene respond." if tfs else
                "Pick one or more TFs above, then move a slider.", icon=":material/tune:")
        return
    if (len(spec) == 1 and (example_tf, spec.get(example_tf, (None, None))[1])
            == st.session_state.get("_pert_example_spec")):
        st.info(f"An example to start from: knock-out of **{example_tf}**, the TF with the "
                f"most learned targets ({len(targets.get(example_tf, ())):,} genes). Move a "
                "slider or pick other TFs; **Reset** returns to the unperturbed model.",
                icon=":material/lightbulb:")
    res = p.apply(spec, cells)
    # Only the shown rows (and the bar chart's top up/down genes) are built per slider move;
    # the full table only when its CSV is downloaded.
    table = res.gene_table(targets, top=TOP_ROWS)
    st.session_state["pert_last_result"] = res
    where = ("all cells" if cells is None else "the UMAP selection"
             if scope == "selection on the UMAP" else f"{group_key} = {group}")
    desc = ", ".join(f"{t} → {v:.2f}" for t, (_, v) in spec.items()) or "no perturbation"
    st.markdown(f"**{desc}** on {where} ({len(res.cells):,} cells)")

    left, right = st.columns([2, 3], gap="large")
    with left:
        fig = top_genes_bar(res.extremes(10), n=10, units=p.units)
        st.plotly_chart(fig, width="stretch", key="pert_bar")
        figure_downloads(fig, "perturb_top_genes", key="dl_pert_bar")
    with right:
        st.dataframe(table, hide_index=True, width="stretch", height=420,
                     key="pert_table", column_config={
                         c: st.column_config.NumberColumn(format="%.4f")
                         for c in ("delta", "baseline", "perturbed")})
        st.download_button("Δ all genes (CSV)", data=lambda: res.gene_table(targets).to_csv(
            index=False).encode(), file_name=f"perturb_delta_{run.id}.csv", mime="text/csv",
            key="dl_pert_table", icon=":material/download:", on_click="ignore")

    trust_panel(run, ds, p, spec, cells, res)

    left, right = st.columns(2, gap="large")
    with left:
        if group_key:
            groups = (res if cells is None else p.apply(spec)).by_group(labels)
            genes = table["gene"].head(20).tolist()
            fig = delta_heatmap(groups, genes, units=p.units)
            st.plotly_chart(fig, width="stretch", key="pert_heatmap")
            figure_downloads(fig, "perturb_heatmap", key="dl_pert_heatmap")
            table_download(groups.T.reset_index(names="gene"), f"perturb_groups_{run.id}",
                           key="dl_pert_groups", label="Δ per group (CSV)")
    with right:
        casc = res.cascade()
        fig = cascade_bar(casc)
        st.plotly_chart(fig, width="stretch", key="pert_cascade")
        figure_downloads(fig, "perturb_cascade", key="dl_pert_cascade")
        table_download(casc, f"perturb_cascade_{run.id}", key="dl_pert_casc",
                       label="Cascade (CSV)")

    left, right = st.columns(2, gap="large")
    with left:
        moved = projector(p.perturbed_z(spec, res.cells))
        fig = projection_scatter(umap_tf, moved, title="Perturbed cells projected into the UMAP")
        st.plotly_chart(fig, width="stretch", key="pert_projection")
        st.caption("Each perturbed cell sits at the mean UMAP position of the 15 unperturbed "
                   "cells nearest to its perturbed TF latent; grey: all cells unperturbed.")
        figure_downloads(fig, "perturb_projection", key="dl_pert_projection")
    with right:
        if tfs:
            tf2tf = edges[edges["layer"] == "tf2tf"]
            dz2 = dict(zip(casc["tf"], casc["dz2"]))
            fig = neighbourhood_figure(
                neighbourhood_edges(tf2tf, tfs[0], max_edges=300), tfs[0],
                tf_names=set(p.tf_names), node_values=dz2, value_name="Δz₂", height=420,
                title=f"TF cascade around {tfs[0]}: node colour = Δz₂")
            st.plotly_chart(fig, width="stretch", key="pert_cascade_graph")
            figure_downloads(fig, f"perturb_cascade_graph_{tfs[0]}", key="dl_pert_casc_graph")

    if tfs:
        st.subheader("Dose–response")
        c1, c2 = st.columns(2)
        dose_tf = c1.selectbox("TF", tfs, key="pert_dose_tf")
        shown = table["gene"].tolist()          # the top genes first, then the others
        seen = set(shown)
        if spec and not st.session_state.get("pert_dose_gene_chosen"):
            # follow the top gene until picked; not a perturbed TF's own gene (a straight line)
            st.session_state["pert_dose_gene"] = next((g for g in shown if g not in spec),
                                                      shown[0])
        gene = c2.selectbox("Gene", shown + [g for g in p.gene_names if g not in seen],
                            key="pert_dose_gene", on_change=_choose_dose_gene,
                            help="The most changed gene until you pick one.")
        lo, hi = p.slider_range(dose_tf)
        others = {t: v for t, v in spec.items() if t != dose_tf}
        # A count model needs every cell's softmax normaliser per dose (~0.1 s at kang_pbmc
        # size), so its curve has fewer points; it is cached until another TF moves.
        dose = p.dose_response(dose_tf, gene, np.linspace(lo, hi, 13 if p.counts else 25),
                               cells=cells, base=others)
        fig = dose_curve(dose, dose_tf, gene, current=spec.get(dose_tf, (None, None))[1],
                         units=p.units)
        st.plotly_chart(fig, width="stretch", key="pert_dose")
        figure_downloads(fig, f"dose_{dose_tf}_{gene}", key="dl_pert_dose")

    st.subheader("Scenarios")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    if not st.session_state.get("pert_scn_named"):    # follow the sliders until typed in
        st.session_state["pert_scn_name"] = desc[:60]
    name = c1.text_input("Scenario name", key="pert_scn_name", on_change=_name_scenario)
    if c2.button("Save scenario", key="pert_scn_save", icon=":material/bookmark_add:"):
        st.session_state.setdefault("pert_scenarios", {})[name or desc] = {
            "spec": dict(spec), "cells": None if cells is None else cells.copy(),
            "where": where, "run": run.id}
        st.toast(f"Saved scenario '{name or desc}'.")


explorer()


@st.fragment
def compare() -> None:
    """Two saved scenarios side by side."""
    saved = {k: v for k, v in st.session_state.get("pert_scenarios", {}).items()
             if v["run"] == run.id}
    if len(saved) < 2:
        st.caption("Save two scenarios (e.g. knock-out of A, then of A and B) to compare them.")
        return
    names = list(saved)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Scenario A", names, index=0, key="pert_cmp_a")
    b = c2.selectbox("Scenario B", names, index=1, key="pert_cmp_b")
    ta = _scenario_table(saved[a]["spec"], saved[a]["cells"])
    tb = _scenario_table(saved[b]["spec"], saved[b]["cells"])
    for col, nm, t, side in ((c1, a, ta, "a"), (c2, b, tb, "b")):
        with col:
            st.caption(saved[nm]["where"])
            st.plotly_chart(top_genes_bar(t, n=8, title=nm, height=360, units=p.units),
                            width="stretch",
                            key=f"pert_cmp_fig_{side}")
    both = ta[["gene", "delta"]].merge(tb[["gene", "delta"]], on="gene", suffixes=("_A", "_B"))
    both["B_minus_A"] = both["delta_B"] - both["delta_A"]
    both = both.reindex(both["B_minus_A"].abs().sort_values(ascending=False).index)
    st.dataframe(both.head(100), hide_index=True, width="stretch", height=300,
                 key="pert_cmp_table")
    table_download(both, "scenario_comparison", key="dl_pert_cmp", label="Comparison (CSV)")


compare()
