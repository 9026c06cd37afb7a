"""Predict page (scGen): predict a held-out cell type's response to stimulation, score it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st
from anndata import AnnData

from core.analysis.scgen import (
    BASELINES,
    LOWER_IS_BETTER,
    METHOD_SHORT,
    METHOD_TITLES,
    SCORE_SHORT,
    SCORE_TITLES,
    ScgenSpec,
    best_per_score,
    check_spec,
    score_goodness,
    spec_defaults,
)
from core.data.preprocess import categorical_columns
from core.errors import ConfigError
from core.pl.scgen import expression_violins, group_umap, mean_scatter, scores_by_type
from core.recipes.scgen import (
    SCGEN_DEFAULTS,
    SCGEN_TRAIN_DEFAULTS,
    holdout_candidates,
    predict_every_type,
    prediction_adata,
    train_scgen,
)
from core.runs import Run
from ui.downloads import figure_downloads, h5ad_download, run_download, table_download
from ui.jobs import SELECTED_RUN_KEY, job_outcome, progress_panel, runs_for, submit
from ui.messages import run_safely
from ui.state import require_dataset

KIND = "scgen"

st.title("Stimulation prediction (scGen)")
st.caption("Train a VAE on every cell except the stimulated cells of one cell type, add the "
           "latent stimulation vector δ to that type's control cells, and add the decoded change "
           "to each control cell: the prediction is scored against the real stimulated cells "
           "(means, variances and the distribution of cells), beside simple baselines. The "
           "model reads log-normalised expression (not the scaled matrix).")
ds = require_dataset()
obs = ds.adata.obs
columns = categorical_columns(ds.adata)
if len(columns) < 2:
    st.error("scGen needs two categorical obs columns: a condition (control / stimulated) and a "
             "cell type. This dataset has " + (", ".join(columns) or "none") + ".")
    st.stop()
defaults = spec_defaults(obs, ds.name)


def _index(options: list[str], value: str | None, fallback: int = 0) -> int:
    return options.index(value) if value in options else min(fallback, len(options) - 1)


# ---- what to predict ---------------------------------------------------------------------------
c = st.columns(5)
cond_key = c[0].selectbox("Condition column", columns, key="scgen_condition_key",
                          index=_index(columns, defaults["condition_key"]))
values = sorted(obs[cond_key].astype(str).unique())
control = c[1].selectbox("Control value", values, key="scgen_control",
                         index=_index(values, defaults["control"]))
stimulated = c[2].selectbox("Stimulated value", values, key="scgen_stimulated",
                            index=_index(values, defaults["stimulated"], 1))
type_options = [col for col in columns if col != cond_key] or columns
type_key = c[3].selectbox("Cell-type column", type_options, key="scgen_cell_type_key",
                          index=_index(type_options, defaults["cell_type_key"]))
types = sorted(obs[type_key].astype(str).unique())
holdout = c[4].selectbox("Held-out cell type", types, key="scgen_holdout",
                         index=_index(types, defaults["holdout"]))
spec = ScgenSpec(cond_key, control, stimulated, type_key, holdout)

with st.expander("Model and training settings"):
    s = st.columns(7)
    epochs = s[0].number_input("Max epochs", 1, 1000, SCGEN_TRAIN_DEFAULTS.epochs,
                               key="scgen_epochs")
    hidden_text = s[6].text_input("Hidden layers", ", ".join(map(str, SCGEN_DEFAULTS["hidden"])),
                                  key="scgen_hidden", help="Encoder widths, comma-separated; "
                                  "the decoder mirrors them.")
    n_latent = s[1].number_input("Latent size", 2, 512, SCGEN_DEFAULTS["n_latent"],
                                 key="scgen_latent")
    kl_weight = s[2].number_input("KL weight", 0.0, 1.0, SCGEN_DEFAULTS["kl_weight"],
                                  format="%.1e", key="scgen_kl")
    lr = s[3].number_input("Learning rate", 1e-5, 1.0, SCGEN_TRAIN_DEFAULTS.lr, format="%.1e",
                           key="scgen_lr")
    batch = s[4].number_input("Batch size", 2, 4096, SCGEN_TRAIN_DEFAULTS.batch_size,
                              key="scgen_batch")
    seed = s[5].number_input("Seed", 0, 10**6, 0, key="scgen_seed")
try:
    hidden = [int(h) for h in hidden_text.replace(" ", "").split(",") if h]
except ValueError:
    hidden = []
if not hidden or min(hidden) < 1:
    st.error("Hidden layers must be positive whole numbers separated by commas, e.g. 800, 800.")
    st.stop()
model = {"n_latent": int(n_latent), "kl_weight": float(kl_weight), "hidden": hidden}
train = replace(SCGEN_TRAIN_DEFAULTS, epochs=int(epochs), lr=float(lr), batch_size=int(batch),
                seed=int(seed))

running = progress_panel(KIND, curve_terms=("train_recon", "val_loss"))
b = st.columns([1, 1, 3])
adata, name = ds.adata, ds.name
if b[0].button("Train and predict", key="scgen_train", type="primary", disabled=bool(running)):
    try:
        check_spec(obs, spec)
    except ConfigError as exc:
        st.error(str(exc), icon=":material/error:")
    else:
        submit(KIND, lambda p, c: train_scgen(adata, spec, dataset=name, model=model,
                                              train=train, progress=p, cancel=c),
               label=f"scGen, {holdout} held out")
        st.rerun()
if b[1].button("Predict every cell type", key="scgen_all", disabled=bool(running)):
    candidates = holdout_candidates(obs, spec) if cond_key != type_key else []
    if not candidates:
        st.error("No cell type has at least 2 control and 2 stimulated cells with these "
                 "choices.", icon=":material/error:")
    else:
        submit(KIND, lambda p, c: predict_every_type(adata, spec, dataset=name, model=model,
                                                     train=train, progress=p, cancel=c),
               label=f"scGen, every cell type held out ({len(candidates)})",
               phases=candidates)
        st.rerun()
job_outcome(KIND)

# ---- results -----------------------------------------------------------------------------------
runs = [r for r in runs_for(ds, KIND) if r.config.get("mode") in ("single", "every_type")]
if not runs:
    if not running:
        st.info("No scGen run on this data yet: choose the columns and the held-out type, then "
                "**Train and predict** (a few minutes on two CPU cores, seconds on a GPU).")
    st.stop()


@st.cache_data(max_entries=2, show_spinner=False)
def _cells(run_id: str, token: str, _run: Run) -> AnnData:
    """Control, real stimulated and predicted cells of a run (cached per run and data load)."""
    return prediction_adata(adata, _run)


def _run_label(run: Run) -> str:
    m, cfg = run.metrics, run.config
    if cfg.get("mode") == "every_type":
        return f"{run.id} · every cell type ({len(m.get('types', []))})"
    r2 = m.get("r2_top100")
    r2_txt = f" · R² top-100 {r2:.3f}" if isinstance(r2, float) else ""
    return f"{run.id} · {cfg.get('spec', {}).get('holdout', '?')} held out{r2_txt}"


ids = [r.id for r in runs]
by_id = {r.id: r for r in runs}
wanted = st.session_state.get(SELECTED_RUN_KEY)
if wanted in ids and wanted != st.session_state.get("_scgen_last_selected"):
    st.session_state["scgen_run"] = wanted  # a run just finished (or was opened elsewhere)
elif st.session_state.get("scgen_run") not in ids:
    st.session_state["scgen_run"] = ids[0]
run = by_id[st.selectbox("Run", ids, key="scgen_run", format_func=lambda i: _run_label(by_id[i]))]
st.session_state[SELECTED_RUN_KEY] = st.session_state["_scgen_last_selected"] = run.id
stem = f"scgen_{run.id}"

if run.config.get("mode") == "every_type":
    per_type = run.table("per_type")
    st.subheader("Every cell type held out in turn")
    if not run.metrics.get("complete", True):
        st.warning("This run was cancelled before every cell type finished.")
    metric = st.radio("Score", [k for k in SCORE_TITLES if k in per_type], horizontal=True,
                      key="scgen_bar_metric", format_func=SCORE_TITLES.get)
    fig = scores_by_type(per_type, metric=metric)
    st.plotly_chart(fig, width="stretch", key="scgen_bar")
    figure_downloads(fig, f"{stem}_per_type", key="dl_scgen_bar")
    wide = per_type.pivot(index="holdout", columns="method", values=metric)
    wide = wide[[m for m in METHOD_TITLES if m in wide]].rename(columns=METHOD_TITLES)
    wide.loc["mean"] = wide.mean()
    default = run.metrics.get("method", "scgen")
    st.caption(f"Default predictor: {METHOD_TITLES.get(default, default)}. "
               + ("Lower is better." if metric in LOWER_IS_BETTER else
                  "1 = mixed like one population." if metric == "knn_mixing" else
                  "Higher is better."))
    st.dataframe(wide.style.format("{:.3f}"), width="stretch", key="scgen_per_type_table")
    d = st.columns(3)
    with d[0]:
        table_download(per_type, f"{stem}_per_type", key="dl_scgen_per_type")
    if (run.path / "predicted.npy").is_file():  # older runs kept scores only
        with d[1]:
            h5ad_download(lambda: prediction_adata(adata, run), f"{stem}_cells",
                          key="dl_scgen_all_h5ad", label="Predicted cells, every type (.h5ad)")
    with d[2]:
        run_download(run, key="dl_run_scgen_all", label="Models (run folder, .zip)")
    st.stop()

# A single held-out prediction.
spec_run = ScgenSpec(**run.config["spec"])
scores = run.table("scores")
genes = run.table("genes")
m = run.metrics
method = m.get("method", "scgen")  # runs saved before the default changed predicted decode(z+δ)
st.subheader(f"{spec_run.holdout}: predicted vs real {spec_run.stimulated} cells")
st.caption(f"Predicted by **{METHOD_TITLES.get(method, method)}** (the default predictor); "
           "each number's delta is its difference from the best baseline.")
base_rows = scores[scores["method"].isin(BASELINES)]
k = st.columns(5)
for col, key in zip(k, ("r2_top100", "r2_all", "r2_var", "energy", "knn_mixing"), strict=False):
    if key not in scores or m.get(key) is None:
        continue
    best = base_rows.loc[score_goodness(key, base_rows[key]).idxmax()] if len(base_rows) else None
    delta = (None if best is None
             else f"{m[key] - best[key]:+.3f} vs {METHOD_SHORT.get(best['method'])}")
    col.metric(SCORE_TITLES[key].replace(" ↓", ""), f"{m[key]:.3f}", delta=delta,
               delta_color="inverse" if key in LOWER_IS_BETTER else "normal",
               help=None if key != "knn_mixing" else "1 = as mixed with the real cells as "
               "cells of one population; 0 = a separate cloud. The delta is the raw difference.")
st.caption(f"Training: {m.get('n_epochs_run')} epochs, "
           f"{str(m.get('stopped', '')).replace('_', ' ')}. {m.get('message') or ''}")
shown = scores.copy()
best = best_per_score(shown)
shown["title"] = [t + (" (default)" if mm == method else "")
                  for t, mm in zip(shown["title"], shown["method"], strict=True)]
score_cols = [c for c in SCORE_TITLES if c in shown]
styled = shown[["title", *score_cols]].rename(columns={"title": "method", **SCORE_SHORT})
winners = {SCORE_SHORT[c]: shown.index[shown["method"] == best[c]] for c in best}


def _bold_best(col: pd.Series) -> list[str]:
    rows = winners.get(col.name, [])
    return ["font-weight: bold; background-color: #E8F4EA" if i in rows else "" for i in col.index]


st.dataframe(styled.style.format("{:.3f}", subset=styled.columns[1:]).apply(
    _bold_best, subset=styled.columns[1:]), hide_index=True, width="stretch",
    key="scgen_scores_table", column_config={
        SCORE_SHORT[c]: st.column_config.NumberColumn(help=SCORE_TITLES[c]) for c in score_cols})
st.caption("Best value per column shaded; top-100 = the held-out type's 100 most "
           "changed genes (Wilcoxon, real stimulated vs control). R² = squared Pearson "
           "correlation of per-gene means (or variances), predicted vs real stimulated cells, "
           "as in scGen. Energy distance, "
           "MMD² (RBF kernel, median-heuristic bandwidth) and kNN mixing compare the cells "
           "themselves, in one PCA space (50 PCs) of the real control and stimulated cells, so "
           "a prediction that gets the means right but forms its own cloud scores badly there. "
           "*Control + decoded change* keeps each control cell and adds decode(z + δ) − "
           "decode(z): the decoder's reconstruction error cancels and the cells keep their own "
           "variability; *decode(z + δ)* is scGen as published. Baselines: control unchanged; "
           "control + the mean gene-space shift of the other cell types; the same δ arithmetic "
           "in PCA space.")
table_download(scores, f"{stem}_scores", key="dl_scgen_scores")

left, right = st.columns(2)
with left:
    fig = mean_scatter(genes, r2_all=m["r2_all"], r2_top=m["r2_top100"],
                       holdout=spec_run.holdout)
    st.plotly_chart(fig, width="stretch", key="scgen_scatter")
    figure_downloads(fig, f"{stem}_means", key="dl_scgen_scatter")
with right:
    top_genes = genes.nsmallest(3, "deg_rank")["gene"].tolist()
    chosen = st.multiselect("Genes", genes["gene"].tolist(), default=top_genes,
                            key="scgen_genes", max_selections=8)
    if chosen:
        pa = _cells(run.id, ds.token, run) if set(chosen) <= set(adata.var_names) else None
        if pa is None:
            st.error("The chosen genes are not in the loaded data.")
        else:
            sub = pa[:, chosen]
            x = sub.X
            long = pd.DataFrame({
                "gene": np.tile(np.asarray(chosen), sub.n_obs),
                "group": np.repeat(sub.obs["group"].astype(str).to_numpy(), len(chosen)),
                "expression": np.asarray(x).ravel()})
            vfig = expression_violins(long)
            st.plotly_chart(vfig, width="stretch", key="scgen_violins")
            figure_downloads(vfig, f"{stem}_violins", key="dl_scgen_violins")

st.markdown("**UMAP of control, real stimulated and predicted cells** (PCA of log expression; "
            f"predicted = {METHOD_TITLES.get(method, method)})")
if "umap_groups" not in run.arrays:
    if st.button("Compute UMAP", key="scgen_umap"):
        def _umap() -> None:
            from core.analysis.embeddings import pca, umap

            pa = _cells(run.id, ds.token, run)
            run.save_array("umap_groups", umap(pca(pa.X, 30)))

        with st.spinner("PCA and UMAP…"):
            run_safely(_umap, action="computing the UMAP")
        st.rerun()
else:
    pa = _cells(run.id, ds.token, run)
    ufig = group_umap(run.arrays["umap_groups"], pa.obs["group"].to_numpy(),
                      title=f"{spec_run.holdout}: control, real and predicted")
    st.plotly_chart(ufig, width="stretch", key="scgen_umap_fig")
    figure_downloads(ufig, f"{stem}_umap", key="dl_scgen_umap")

st.markdown("**Downloads**")
d = st.columns(3)
with d[0]:
    h5ad_download(lambda: prediction_adata(adata, run), f"{stem}_cells", key="dl_scgen_h5ad",
                  label="Predicted cells (.h5ad)")
with d[1]:
    table_download(genes, f"{stem}_genes", key="dl_scgen_genes", label="Per-gene table (CSV)")
with d[2]:
    run_download(run, key="dl_run_scgen")
