"""Perturb page component: how far to trust the prediction (issue 16 §4).

Beside the model's Δ: the simple baselines for the same perturbation, the ensemble interval
and sign agreement when runs of other seeds exist, and a warning when a slider leaves the
range the model saw in training. Owns the session-state keys prefixed ``trust_``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.perturb import Perturber, PerturbResult, perturber_for_run
from core.analysis.perturb_trust import (
    LinearBaselines,
    agreement,
    ensemble_table,
    out_of_distribution,
)
from core.runs import Run, load_run
from core.runs.ensemble import ensemble_members
from ui.downloads import table_download
from ui.jobs import runs_for
from ui.state import LoadedDataset

#: What the validation benchmarks measured (benchmarks/results/perturb_validation*.json):
#: median Pearson r over targets on the 50 most-changed measured genes, default TF-VAE vs the
#: best baseline (perturb_validation_backbone_attempts.json, README). Shown so the user knows
#: the model is not validated to beat them by a useful margin.
EVIDENCE = ("On measured knock-outs the default TF-VAE (prior mask and prior-network "
            "backbone) ties the best network baseline on a CRISPR screen, and the mean effect "
            "of the screen's other knock-outs predicts them far better (median r over the 50 "
            "most-changed genes: 0.07 vs 0.54); on two simulators it beats the best baseline "
            "narrowly (0.92 vs 0.91, 0.83 vs 0.79). Read the model beside the baselines, and "
            "score your own screen on the Validate page.")
MAX_MEMBERS = 5
TOP = 20


@st.cache_resource(max_entries=8, show_spinner="Encoding the cells with the ensemble…")
def _member(run_path: str, token: str, _adata) -> Perturber:
    return perturber_for_run(load_run(run_path), _adata)


@st.cache_resource(max_entries=4, show_spinner="Fitting the baselines…")
def _baselines(run_path: str, token: str, _adata, _p: Perturber) -> LinearBaselines:
    if _p.counts and "log1p" in _adata.layers:       # log2 fold changes, like the model
        return LinearBaselines.fit(_adata.layers["log1p"], _p.gene_names, _p.tf_names, _p.z,
                                   scale=1 / np.log(2.0))
    return LinearBaselines.fit(_adata.X, _p.gene_names, _p.tf_names, _p.z)


def _members(run: Run, ds: LoadedDataset, p: Perturber) -> list[Perturber]:
    runs = ensemble_members(run, runs_for(ds, "tfvae"), max_members=MAX_MEMBERS)
    token = f"{ds.token}:{ds.config!r}"
    return [p] + [_member(str(r.path), token, ds.adata) for r in runs[1:]]


def _ood(p: Perturber, spec: dict, cells: np.ndarray | None) -> None:
    for row in out_of_distribution(p.z, p.tf_names, spec, cells).to_dict("records"):
        st.warning(f"{row['tf']} at {row['value_min']:.2f} is outside the range seen in "
                   f"training ({row['low']:.2f} … {row['high']:.2f}) in "
                   f"{row['fraction']:.0%} of the perturbed cells: the model extrapolates "
                   "there; read its Δ as a guess.", icon=":material/warning:")


def _table(p: Perturber, own: np.ndarray, members: list[Perturber], spec: dict,
           cells: np.ndarray | None, base: pd.DataFrame) -> pd.DataFrame:
    """The picked run's Δ (``own``, already computed by the page) and the other members'."""
    deltas = np.array([own, *(m.apply(spec, cells).mean_delta for m in members[1:])])
    table = ensemble_table(deltas, p.gene_names)
    for method in ("correlation", "ridge"):
        table[method] = base[method].to_numpy()
    order = np.argsort(-np.abs(table["delta"].to_numpy()), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def trust_panel(run: Run, ds: LoadedDataset, p: Perturber, spec: dict,
                cells: np.ndarray | None, result: PerturbResult) -> None:
    """Draw the baselines, the ensemble interval and the OOD warning for ``spec``.

    ``result`` is the picked run's ``p.apply(spec, cells)`` (the page has it already).
    """
    st.subheader("How far to trust it")
    _ood(p, spec, cells)
    if not spec:
        st.caption("Move a slider to compare the model with the baselines.")
        return
    members = _members(run, ds, p)
    idx = np.arange(len(p.z)) if cells is None else np.asarray(cells)
    base = _baselines(str(run.path), f"{ds.token}:{ds.config!r}", ds.adata, p).predict(
        p.z[idx], p.perturbed_z(spec, idx))
    table = _table(p, result.mean_delta, members, spec, cells, base)
    r = agreement(table["delta"].to_numpy(), table[["correlation", "ridge"]])
    c1, c2, c3 = st.columns(3)
    c1.metric("Models in the ensemble", len(members),
              help="Runs with the same settings on this data and other seeds.")
    c2.metric("r(model, correlation)", f"{r['correlation']:.2f}")
    c3.metric("r(model, ridge)", f"{r['ridge']:.2f}")
    st.info(EVIDENCE, icon=":material/balance:")
    if len(members) == 1:
        st.caption("One model: no interval. Train 3 (CPU) or 5 (GPU) seeds of these settings "
                   "on the Network page ('Models (seeds)') to see how much they agree.")
    else:
        n_dis = int(table["disagree"].head(TOP).sum())
        st.caption(f"Δ = mean of {len(members)} models; low … high = lowest and highest "
                   f"model. {n_dis} of the top {TOP} genes change sign between models "
                   "(⚠ in the table).")
    shown = table.head(TOP).assign(flag=np.where(table["disagree"].head(TOP), "⚠", ""))
    st.dataframe(shown[["gene", "delta", "low", "high", "sign_agreement", "flag",
                        "correlation", "ridge"]], hide_index=True, width="stretch",
                 key="trust_table", column_config={
                     c: st.column_config.NumberColumn(format="%.4f")
                     for c in ("delta", "low", "high", "correlation", "ridge")})
    table_download(table, f"perturb_trust_{run.id}", key="trust_dl",
                   label="Δ with interval and baselines (CSV)")
