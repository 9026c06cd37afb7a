"""Phenotype page (DeepSet): predict the phenotype of a set of perturbed genes and find
genetic interactions (measured − additive) beside the additive and matrix-factorisation
baselines."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.phenotype import interaction_matrix
from core.data.phenotypes import BUNDLED_TABLES, PhenotypeTable, parse_set, read_phenotypes
from core.pl.phenotype import (
    METHOD_TITLES,
    heldout_scatter,
    interaction_heatmap,
    interaction_scatter,
    scores_bars,
)
from core.recipes.phenotype import (
    PHENOTYPE_TRAIN_DEFAULTS,
    PhenotypeSettings,
    check_features,
    interaction_ranking,
    predict,
    train_phenotype,
)
from core.recipes.phenotype_features import GENE_LOADINGS
from core.runs import Run, default_runs_root, list_runs
from ui.downloads import figure_downloads, run_download, table_download
from ui.jobs import SELECTED_RUN_KEY, job_outcome, progress_panel, submit
from ui.messages import run_safely

KIND = "phenotype"

st.title("Phenotype of a set of perturbed genes")
st.caption("A DeepSet embeds each perturbed gene, pools the set (order does not matter) and "
           "predicts the phenotype, e.g. growth. With measured singles the additive expectation "
           "is already strong; the model's value is the interaction = measured − additive "
           "(> 0 synergy, < 0 buffering).")
with st.expander("How this relates to DCell"):
    st.markdown(
        "DCell (Ma et al. 2018) predicts yeast growth after gene deletions with a network "
        "shaped like the Gene Ontology, one subsystem per GO term. This model asks the same "
        "question — phenotype of a SET of perturbed genes — without a fixed hierarchy: each "
        "gene's features (learned, your table such as GO membership or sequence embeddings, "
        "or a trained run's TF→gene weights) are embedded and pooled, so sets of any size and "
        "genes never seen in training (with features) can be scored. It is compared with "
        "simple baselines (additive, ridge on features, matrix factorisation of the "
        "interaction), not with DCell itself.")


# ---- data ------------------------------------------------------------------------------------
def _read_upload(upload) -> pd.DataFrame:
    sep = "," if upload.name.lower().removesuffix(".gz").endswith(".csv") else "\t"
    return pd.read_csv(io.BytesIO(upload.getvalue()), sep=sep,
                       compression="gzip" if upload.name.endswith(".gz") else None)


c = st.columns([1, 2])
source = c[0].radio("Table", ["Bundled", "Upload"], key="pheno_source", horizontal=True)
if source == "Bundled":
    name = c[1].selectbox("Bundled table", list(BUNDLED_TABLES), key="pheno_bundled",
                          format_func=lambda k: f"{k}: {BUNDLED_TABLES[k][2]}")
    frame = run_safely(lambda: read_phenotypes(name).frame(), action="reading the table")
    label = name
else:
    upload = c[1].file_uploader("Phenotype table (CSV/TSV; a column of sets A or A+B+…)",
                                type=["csv", "tsv", "txt", "gz"], key="pheno_upload")
    frame = run_safely(lambda: _read_upload(upload), action="reading the table") if upload \
        else None
    label = Path(upload.name).stem if upload else ""
if frame is None:
    st.info("Choose a bundled table or upload one: one row per perturbation set, a column of "
            "genes such as `KLF1` or `KLF1+CEBPA`, and a numeric phenotype column.")
    st.stop()
cols = [str(x) for x in frame.columns]
numeric = [x for x in cols if pd.api.types.is_numeric_dtype(frame[x])]
c = st.columns(4)
genes_col = c[0].selectbox("Genes column", cols, key="pheno_genes_col",
                           index=cols.index("genes") if "genes" in cols else 0)
value_options = [x for x in numeric if x != genes_col] or cols
value_col = c[1].selectbox("Value column", value_options, key="pheno_value_col",
                           index=value_options.index("fitness") if "fitness" in value_options
                           else 0)
split = c[2].selectbox("Held out", ["pairs", "random", "genes"], key="pheno_split",
                       format_func={"pairs": "pairs of genes seen alone",
                                    "random": "random sets",
                                    "genes": "genes never seen (needs features)"}.get)
seed = c[3].number_input("Seed", 0, 10**6, 0, key="pheno_seed")
table: PhenotypeTable | None = run_safely(
    lambda: read_phenotypes(frame, genes_column=genes_col, value_column=value_col, name=label),
    action="checking the table")
if table is None:
    st.stop()
n_multi = sum(len(s) > 1 for s in table.sets)
st.caption(f"{len(table):,} sets · {len(table.genes)} genes · {len(table) - n_multi} singles · "
           f"{n_multi:,} combinations")

with st.expander("Gene features and training settings"):
    f = st.columns([1, 2])
    kind = f[0].radio("Gene features", ["learned", "table", "run folder"], key="pheno_features")
    features, fallback = "learned", False
    if kind == "table":
        fup = f[1].file_uploader("Genes × features (CSV/TSV, first column = gene)",
                                 type=["csv", "tsv", "txt"], key="pheno_feature_table")
        if fup is not None:
            path = default_runs_root() / ".features" / Path(fup.name).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(fup.getvalue())
            features = str(path)
    elif kind == "run folder":
        feature_runs = {r.id: r for r in list_runs(default_runs_root())
                        if r.model in GENE_LOADINGS}
        if feature_runs:
            picked = f[1].selectbox(
                "Trained run (TF-VAE: TF→gene weights; β-VAE/scGen: decoder loadings)",
                list(feature_runs), key="pheno_feature_run",
                format_func=lambda i: f"{i} · {feature_runs[i].model} · "
                                      f"{feature_runs[i].config.get('data', {}).get('name')}")
            features = str(feature_runs[picked].path)
        else:
            f[1].info("No TF-VAE, β-VAE or scGen run yet: train one on the Train or Network "
                      "page; its genes' weights become the features.")
    if kind != "learned":
        fallback = f[1].checkbox("Genes without features get a learned embedding",
                                 key="pheno_fallback")
    s = st.columns(4)
    max_epochs = s[0].number_input("Max epochs", 1, 2000, PHENOTYPE_TRAIN_DEFAULTS.epochs,
                                   key="pheno_epochs")
    pool = s[1].selectbox("Pool", ["sum", "mean", "attention"], key="pheno_pool")
    head = s[2].checkbox("Interaction on top of additive", True, key="pheno_head")
    wild_type = s[3].checkbox("Wild-type difference", False, key="pheno_wt")

settings = run_safely(lambda: PhenotypeSettings.from_dict(dict(
    features=features, allow_learned_fallback=fallback, split=split, pool=pool,
    interaction_head=head, wild_type_difference=wild_type)), action="checking the settings")
train_config = replace(PHENOTYPE_TRAIN_DEFAULTS, seed=int(seed), epochs=int(max_epochs))
coverage = run_safely(lambda: check_features(table, settings), action="checking the gene "
                      "features") if settings is not None else None
if coverage is not None and coverage[1]:
    missing = coverage[1]
    st.warning(f"{len(missing)} of {len(table.genes)} genes have no features in "
               f"{coverage[0]} and get a learned embedding instead: "
               f"{', '.join(missing[:12])}{' …' if len(missing) > 12 else ''}.")


def _train_job(progress, cancel) -> Run:
    return train_phenotype(table, settings=settings, train=train_config,
                           runs_root=default_runs_root(), progress=progress, cancel=cancel)


running = progress_panel(KIND, curve_terms=("train_loss", "val_loss"))
if st.button("Train", key="pheno_train", type="primary", icon=":material/play_arrow:",
             disabled=bool(running) or coverage is None):
    submit(KIND, _train_job, label=f"DeepSet on {table.name}")
    st.rerun()
job_outcome(KIND)

# ---- results ---------------------------------------------------------------------------------
runs = list_runs(default_runs_root(), model="deepset")
if not runs:
    if not running:
        st.info("No phenotype run yet: choose the table and **Train** (about 15 s on the "
                "bundled table with two CPU cores).")
    st.stop()
by_id = {r.id: r for r in runs}
ids = list(by_id)
wanted = st.session_state.get(SELECTED_RUN_KEY)
if wanted in ids and wanted != st.session_state.get("_pheno_last_selected"):
    st.session_state["pheno_run"] = wanted
elif st.session_state.get("pheno_run") not in ids:
    st.session_state["pheno_run"] = ids[0]


def _run_label(run_id: str) -> str:
    r = by_id[run_id]
    inter = r.metrics.get("scores", {}).get("model", {}).get("interaction_pearson")
    split_txt = r.config.get("settings", {}).get("split", "?")
    return f"{run_id} · {split_txt} split · interaction r " + (
        f"{inter:.3f}" if isinstance(inter, float) else "—")


run = by_id[st.selectbox("Run", ids, key="pheno_run", format_func=_run_label)]
st.session_state[SELECTED_RUN_KEY] = st.session_state["_pheno_last_selected"] = run.id
stem = f"phenotype_{run.id}"
scores = run.metrics.get("scores", {})
held = run.table("heldout")
model_scores = scores.get("model", {})
k = st.columns(4)
k[0].metric("Phenotype r (held out)", f"{model_scores.get('pearson') or float('nan'):.3f}")
k[1].metric("Interaction r (held out)",
            f"{model_scores.get('interaction_pearson') or float('nan'):.3f}")
k[2].metric("Interaction r, additive + MF",
            f"{scores.get('mf', {}).get('interaction_pearson') or float('nan'):.3f}")
k[3].metric("Held-out sets", run.metrics.get("n_test"),
            help=f"best epoch {run.metrics.get('best_epoch')} of "
                 f"{run.metrics.get('n_epochs_run')} ({run.metrics.get('stopped')})")
score_table = pd.DataFrame([{"method": METHOD_TITLES.get(m, m), **v}
                            for m, v in scores.items()])
st.dataframe(score_table, hide_index=True, width="stretch", key="pheno_scores")
st.caption("Interaction r = Pearson of (predicted − additive) vs (measured − additive) with the "
           "measured singles. Doubles regress towards the mean, so even α + β·additive (and the "
           "constant 'mean') reach a sizeable interaction r: beat those, not zero.")
left, right = st.columns(2)
for col, fig, key in ((left, heldout_scatter(held, value=run.config["data"]["value_column"]),
                       "pheno_heldout"), (right, interaction_scatter(held), "pheno_interaction")):
    with col:
        st.plotly_chart(fig, width="stretch", key=key)
        figure_downloads(fig, f"{stem}_{key}", key=f"dl_{key}")
bars = scores_bars(scores)
st.plotly_chart(bars, width="stretch", key="pheno_bars")
figure_downloads(bars, f"{stem}_scores", key="dl_pheno_bars")


# ---- predictions -----------------------------------------------------------------------------
@st.cache_data(max_entries=4, show_spinner="Predicting every pair…")
def _ranking(run_id: str, _run: Run) -> pd.DataFrame:
    return interaction_ranking(_run)


st.subheader("Predict a set")
typed = st.text_input("Genes (A+B+…)", key="pheno_query", placeholder="e.g. CEBPA+KLF1")
if typed:
    result = run_safely(lambda: predict(run, [typed]), action="predicting the set")
    if result is not None:
        row = result.iloc[0]
        q = st.columns(3)
        q[0].metric("Predicted", f"{row['predicted']:.3f}")
        q[1].metric("Additive expectation",
                    "—" if pd.isna(row["additive"]) else f"{row['additive']:.3f}")
        q[2].metric("Interaction", "—" if pd.isna(row["interaction"])
                    else f"{row['interaction']:+.3f}")
        sets = run.table("sets")
        known = sets[sets["genes"] == "+".join(parse_set(typed))] if sets is not None else []
        if len(known):
            st.caption(f"Measured: {known.iloc[0][run.config['data']['value_column']]:.3f} "
                       f"({known.iloc[0]['split']} set).")

ranking = _ranking(run.id, run)
if len(ranking):
    new_pairs = ranking[ranking["in_data"] == "new"]
    shown = ["rank", "genes", "predicted", "additive", "interaction"]
    st.subheader("Top predicted interactions among pairs not in the data")
    t = st.columns(2)
    for col, title, frame_, key in (
            (t[0], "Synergistic (interaction > 0)", new_pairs.head(15)[shown], "pheno_syn"),
            (t[1], "Buffering (interaction < 0)", new_pairs.tail(15)[shown][::-1], "pheno_buf")):
        with col:
            st.markdown(f"**{title}**")
            st.dataframe(frame_, hide_index=True, width="stretch", key=key)
            table_download(frame_, f"{stem}_{key}", key=f"dl_{key}")
    heat = interaction_heatmap(interaction_matrix(ranking))
    st.plotly_chart(heat, width="stretch", key="pheno_heatmap")
    figure_downloads(heat, f"{stem}_heatmap", key="dl_pheno_heatmap")
    st.subheader("Genetic-interaction ranking")
    which = st.radio("Pairs", ["all", "not in the data", "held out (test)"], horizontal=True,
                     key="pheno_rank_filter")
    ranked = {"all": ranking, "not in the data": new_pairs,
              "held out (test)": ranking[ranking["in_data"] == "test"]}[which]
    st.dataframe(ranked, hide_index=True, width="stretch", height=320, key="pheno_ranking")
    st.caption("Every pair of the run's genes, ranked by predicted interaction (1 = most "
               "synergistic). `measured_interaction` = measured − additive where the pair was "
               "measured; `in_data` says in which part of the split.")

st.markdown("**Downloads**")
d = st.columns(3)
with d[0]:
    table_download(held, f"{stem}_heldout", key="dl_pheno_heldout",
                   label="Held-out predictions (CSV)")
with d[1]:
    table_download(ranking, f"{stem}_interaction_ranking", key="dl_pheno_pairs",
                   label="Every pair predicted, ranked (CSV)")
with d[2]:
    run_download(run, key="dl_pheno_run")
