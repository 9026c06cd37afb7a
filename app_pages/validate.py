"""Validate page: a TF-VAE's knock-outs against a measured CRISPR screen, beside baselines."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.analysis.perturb_validation import HEADLINE, METRICS
from core.data.preprocess import categorical_columns
from core.data.registry import DATASETS
from core.pl.validate import predicted_vs_measured, scores_bar, winner_table
from core.recipes.perturb_validate import TRAIN_ON, ValidationResult, validate_run
from core.runs import default_runs_root, list_runs, load_run
from ui.downloads import figure_downloads, table_download
from ui.messages import run_safely
from ui.state import require_dataset

NO_RUN = "(none: baselines only)"

st.title("Validate perturbations")
st.caption("Scores in-silico knock-outs against a measured screen: the log2 fold change of "
           "mean normalised expression, knocked-out cells vs control cells, per gene. Every "
           "method is scored on the same cells; the model must beat the baselines to be "
           "worth a slider. Baselines: no change; correlation with the TF; ridge on every TF; "
           "CellOracle-style propagation over the prior network; and the perturbation mean "
           "(every target predicted as the mean measured effect of the screen's other "
           "knock-outs). The knocked-out gene itself is left out of every score.")
ds = require_dataset()
info = DATASETS.get(ds.name)
columns = categorical_columns(ds.raw)
if not columns:
    st.info("This dataset has no categorical obs column naming a perturbation per cell. "
            "Load a screen (e.g. the bundled `papalexi_eccite`) on the Data page.")
    st.stop()

c1, c2, c3 = st.columns(3)
# a screen's perturbation column is its label column (papalexi_eccite: target_assigned)
known = [k for k in (info.condition_key, info.label_key) if k in columns] if info else []
default_key = known[0] if known else columns[0]
key = c1.selectbox("Perturbation column", columns, index=columns.index(default_key),
                   key="val_key", help="obs column naming the knocked-out gene of each cell")
values = sorted(ds.raw.obs[key].astype(str).unique())
guess = next((v for v in ("non-targeting", "control", info.control if info else None)
              if v in values), values[0])
control = c2.selectbox("Control value", values, index=values.index(guess), key="val_control")
runs = list_runs(default_runs_root(), model="tfvae")
by_id = {r.id: r for r in runs}
options = [NO_RUN, *by_id]
mine = [r.id for r in runs if r.config.get("data", {}).get("name") == ds.name]
if "val_run" not in st.session_state or st.session_state["val_run"] not in options:
    st.session_state["val_run"] = mine[0] if mine else NO_RUN
run_id = c3.selectbox("TF-VAE run", options, key="val_run",
                      format_func=lambda i: i if i == NO_RUN else
                      f"{i} · {by_id[i].config.get('data', {}).get('name', '?')}")
train_on = st.radio("Baselines learn from", TRAIN_ON, horizontal=True, key="val_train_on",
                    help="all-but-scored: every cell except the scored targets' knock-out "
                         "cells (the stricter choice, as the TF-VAE validation recipe trains); "
                         "control: the control cells only. Match how the run was trained.")


@st.cache_data(max_entries=8, show_spinner="Scoring the knock-outs…")
def _validate(token: str, run_path: str | None, key: str, control: str, train_on: str,
              _screen) -> ValidationResult:
    run = load_run(run_path) if run_path else None
    return validate_run(run, _screen, perturbation_key=key, control=control, train_on=train_on)


run_path = str(by_id[run_id].path) if run_id != NO_RUN else None
result = run_safely(lambda: _validate(ds.token, run_path, key, control, train_on, ds.raw),
                    action="scoring the knock-outs")
if result is None:
    st.stop()

for note in result.notes:
    (st.warning if note.startswith("skipped") else st.caption)(note)
if run_path is None:
    st.info("No TF-VAE run picked: only the baselines are scored. Train a TF-VAE on this "
            "dataset on the Network page to see the model beside them.")

st.subheader(f"Who wins: {HEADLINE.replace('_', ' ')} (median over targets last)")
wide = winner_table(result.scores)
wide["winner"] = "★ " + wide["winner"]
st.table(wide.set_index("target").style.format(precision=3, na_rep="—").highlight_max(
    axis=1, subset=[c for c in wide.columns if c not in ("target", "winner")],
    color="#FFE08A"))
st.caption("★ Highlighted: the best method per row (Pearson r over the 50 genes the "
           "measurement changed most). `no_change` predicts 0 everywhere (r = 0).")

metric = st.selectbox("Score", list(METRICS), index=list(METRICS).index(HEADLINE),
                      key="val_metric")
fig_bar = scores_bar(result.scores, metric)
st.plotly_chart(fig_bar, key="val_bar")
figure_downloads(fig_bar, f"validation_{metric}", key="val_bar_dl")

targets = list(result.observed.lfc.index)
target = st.selectbox("Target", targets, key="val_target")
methods = [m for m in result.scores["method"].drop_duplicates() if m != "no_change"]
fig = predicted_vs_measured(result.per_gene, target, methods)
st.plotly_chart(fig, key="val_scatter")
figure_downloads(fig, f"validation_{target}", key="val_scatter_dl")

with st.expander("Every score, per target and method"):
    st.dataframe(result.scores, hide_index=True, key="val_scores")

st.subheader("Downloads")
d1, d2, d3 = st.columns(3)
with d1:
    st.download_button("metrics.json", data=json.dumps(result.to_json(), indent=2),
                       file_name="metrics.json", mime="application/json", key="val_dl_json",
                       icon=":material/download:", on_click="ignore")
with d2:
    table_download(result.per_gene, "per_gene", key="val_dl_genes", label="per_gene.csv")
with d3:
    table_download(pd.DataFrame(result.scores), "scores", key="val_dl_scores",
                   label="scores.csv")
