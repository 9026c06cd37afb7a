"""Count likelihoods and batch covariates in the UI: Train-page options, batch metrics and the
differential-expression section of the Embedding page (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.data.preprocess import categorical_columns
from core.data.validate import detect_x_kind
from core.recipes.betavae import model_defaults
from core.runs import Run
from ui.downloads import figure_downloads, table_download
from ui.messages import run_safely
from ui.state import LoadedDataset

LIKELIHOOD_NAMES = {"gaussian": "Gaussian", "nb": "NB (counts)", "zinb": "ZINB (counts)"}
NO_BATCH = "(none)"


@dataclass
class CountOptions:
    """What the Train page passes on: model-setting overrides and the batch column."""

    likelihood: str
    dispersion: str
    batch_key: str | None

    @property
    def model(self) -> dict[str, Any]:
        out: dict[str, Any] = {"likelihood": self.likelihood}
        if self.likelihood != "gaussian":
            out["dispersion"] = self.dispersion
        return out


def has_counts(ds: LoadedDataset) -> bool:
    """Whether the preprocessed data keeps raw counts (``layers['counts']`` or counts in X)."""
    return "counts" in ds.adata.layers or detect_x_kind(ds.adata.X) == "counts"


def count_warning(ds: LoadedDataset, likelihood: str) -> None:
    """Warn, under a likelihood widget, when a count likelihood meets data without counts."""
    if likelihood != "gaussian" and not has_counts(ds):
        st.warning("This dataset keeps no raw counts (X is not counts and there is no "
                   "layers['counts']): NB/ZINB cannot train on it. Load raw UMI counts or use "
                   "the Gaussian likelihood.", icon=":material/warning:")


#: Train-page widgets that a likelihood's defaults set: key → label in the change note.
DEFAULT_WIDGETS = {"bv_hidden": "encoder", "bv_dropout": "dropout",
                   "bv_input_dropout": "input dropout", "bv_schedule": "β schedule",
                   "bv_beta_max": "β max", "bv_warmup": "warm-up epochs"}
_PREV_KEY, NOTE_KEY = "_bv_likelihood_prev", "_bv_likelihood_note"


def widget_defaults(likelihood: str) -> dict[str, Any]:
    """The Train-page widget values of ``likelihood``'s defaults (keys of DEFAULT_WIDGETS)."""
    d = model_defaults(likelihood)
    schedule = d["schedule"]
    return {"bv_hidden": ",".join(map(str, d["hidden"])), "bv_dropout": float(d["dropout"]),
            "bv_input_dropout": float(d["input_dropout"]), "bv_schedule": schedule["name"],
            "bv_beta_max": float(schedule.get("beta_max", 1.0)),
            "bv_warmup": int(schedule.get("warmup_epochs", 10))}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.replace(" ", "") == b.replace(" ", "")
    return a == b


def _apply_likelihood_defaults() -> None:
    """On a likelihood change, move the model and β widgets the user has not edited to the new
    likelihood's defaults and keep edited ones; the note under the selector says which
    (issue 21: switching to NB silently replaced a chosen encoder, dropouts and β)."""
    state = st.session_state
    new = state.get("bv_likelihood", "gaussian")
    before = widget_defaults(state.get(_PREV_KEY, "gaussian"))
    after = widget_defaults(new)
    changed, kept = [], []
    for key, label in DEFAULT_WIDGETS.items():
        current = state.get(key, before[key])
        if not _same(current, before[key]):
            kept.append(f"{label} {current}")
        elif not _same(current, after[key]):
            state[key] = after[key]
            changed.append(f"{label} {current} → {after[key]}")
    state[_PREV_KEY] = new
    parts = ([f"{LIKELIHOOD_NAMES[new]} defaults loaded: " + "; ".join(changed) + "."]
             if changed else [])
    if kept:
        parts.append("Kept your values: " + "; ".join(kept) + ".")
    state[NOTE_KEY] = (new, " ".join(parts))


def count_options(ds: LoadedDataset) -> CountOptions:
    """Likelihood, dispersion and batch-column widgets (keys ``bv_likelihood``,
    ``bv_dispersion``, ``bv_batch_key``). Draw before the model widgets: choosing NB/ZINB loads
    scVI-like layer sizes into them."""
    st.subheader("Likelihood and batch")
    c1, c2, c3 = st.columns(3)
    likelihood = c1.selectbox("Likelihood", list(LIKELIHOOD_NAMES),
                              format_func=LIKELIHOOD_NAMES.get, key="bv_likelihood",
                              on_change=_apply_likelihood_defaults,
                              help="Gaussian: squared error on processed X. NB / zero-inflated "
                                   "NB: raw UMI counts with the cell's library size (scVI); the "
                                   "encoder reads log1p(counts). Choosing one loads its default "
                                   "layers, dropouts and β into the fields you have not "
                                   "edited; the note below says what changed.")
    batch = c2.selectbox("Batch column", [NO_BATCH, *categorical_columns(ds.adata)],
                         key="bv_batch_key",
                         help="One-hot encoded into encoder and decoder, so the latent "
                              "need not encode it; scored by batch mixing entropy.")
    dispersion = c3.selectbox("Dispersion", ["gene", "gene-batch"], key="bv_dispersion",
                              disabled=likelihood == "gaussian",
                              help="Inverse dispersion θ per gene, or per gene and batch.")
    count_warning(ds, likelihood)
    note = st.session_state.get(NOTE_KEY)
    if note and note[0] == likelihood and note[1]:
        st.info(note[1], icon=":material/info:")
    return CountOptions(likelihood=likelihood, dispersion=dispersion,
                        batch_key=None if batch == NO_BATCH else batch)


# ---- Embedding page -----------------------------------------------------------------------------

def batch_metrics_section(run: Run) -> None:
    """Batch mixing entropy (latent vs PCA) beside the cell-type ARI, and held-out ELBO."""
    m = run.metrics
    batch_key = run.config.get("data", {}).get("batch_key")
    likelihood = run.config.get("settings", {}).get("likelihood", "gaussian")
    if not batch_key and "heldout_elbo" not in m:
        return
    # Without a batch column the batch half was two empty metric slots (issue 21): the
    # heading and the columns follow what there is to show.
    st.subheader("Batch mixing and held-out likelihood" if batch_key else "Held-out likelihood")
    cols = iter(st.columns(4 if batch_key else 2))
    if batch_key:
        n_batches = len(run.config["data"].get("batch_categories") or []) or 2
        next(cols).metric("Batch mixing entropy (latent)", _fmt(m.get("batch_mixing_entropy")),
                          help=f"Batch column `{batch_key}`; entropy of batches among 50 nearest "
                               f"neighbours (scVI). Perfect mixing = ln {n_batches} = "
                               f"{np.log(n_batches):.3f}.")
        next(cols).metric("Batch mixing entropy (PCA)", _fmt(m.get("batch_mixing_entropy_pca")))
    next(cols).metric("Cell-type ARI (latent, KMeans)", _fmt(m.get("ari_kmeans_vae")))
    if "heldout_elbo" in m:
        next(cols).metric("Held-out ELBO per cell", _fmt(m.get("heldout_elbo"), 1),
                          help=f"{LIKELIHOOD_NAMES[likelihood]}: log p(x | z) − KL on the "
                               "validation cells; reconstruction log-likelihood "
                               f"{_fmt(m.get('heldout_recon_loglik'), 1)}.")
    rows = {k: m[k] for k in ("batch_mixing_entropy", "batch_mixing_entropy_pca",
                              "ari_kmeans_vae", "ari_kmeans_pca", "heldout_elbo",
                              "heldout_recon_loglik", "heldout_kl") if k in m}
    table_download(pd.DataFrame({"metric": list(rows), "value": list(rows.values())}),
                   f"{run.id}_batch_metrics", key="dl_batch_metrics",
                   label="Batch and likelihood metrics (CSV)")


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


@st.cache_data(show_spinner="Differential expression…", max_entries=16)
def _de_table(run_id: str, token: str, group_key: str, group1: str, group2: str | None,
              transform_batch: str | None, n_samples: int, _run: Run, _adata: Any
              ) -> pd.DataFrame:
    from core.analysis.de import run_differential_expression

    return run_differential_expression(_run, _adata, group_key=group_key, group1=group1,
                                       group2=group2, transform_batch=transform_batch,
                                       n_samples=n_samples)


@st.cache_data(show_spinner="Decoding expression…", max_entries=4)
def _denoised(run_id: str, token: str, transform_batch: str | None, _run: Run,
              _adata: Any) -> pd.DataFrame:
    from core.analysis.de import normalized_expression
    from core.training.inputs import inputs_for_run

    inputs = inputs_for_run(_adata, _run)
    code = (inputs.batch_categories.index(transform_batch) if transform_batch else None)
    expr = normalized_expression(_run.load_module(), inputs.encoder_input, inputs.batch_codes,
                                 transform_batch=code)
    return pd.DataFrame(expr, index=_adata.obs_names, columns=_adata.var_names)


def de_section(run: Run, ds: LoadedDataset) -> None:
    """Differential expression between two groups (scVI vanilla Bayes factors): volcano plot,
    table, CSV downloads; and the denoised normalised expression, optionally in one batch."""
    from core.pl.de import de_volcano

    if run.config.get("settings", {}).get("likelihood", "gaussian") == "gaussian":
        return
    adata = ds.adata
    batches = list(run.config.get("data", {}).get("batch_categories") or [])
    with st.expander("Differential expression and denoised expression (count model)",
                     expanded=False):
        columns = categorical_columns(adata)
        if not columns:
            st.info("No categorical obs column to define groups.")
            return
        c1, c2, c3, c4 = st.columns(4)
        default = columns.index(ds.label_key) if ds.label_key in columns else 0
        group_key = c1.selectbox("Groups from", columns, index=default, key="de_group_key")
        values = sorted(adata.obs[group_key].astype(str).unique())
        group1 = c2.selectbox("Group 1", values, key="de_group1")
        rest = "all other cells"
        group2 = c3.selectbox("Group 2", [rest, *[v for v in values if v != group1]],
                              key="de_group2")
        own = "(each cell's own)"
        transform = c4.selectbox("Decode in batch", [own, *batches], key="de_batch",
                                 disabled=not batches,
                                 help="Transform to one batch: compare as if every cell "
                                      "came from it.")
        transform_batch = None if transform == own else transform
        n_samples = st.select_slider("Posterior samples per group", [500, 1000, 2000, 5000],
                                     value=2000, key="de_samples")
        if st.button("Compute differential expression", key="de_run",
                     icon=":material/compare_arrows:"):
            table = run_safely(lambda: _de_table(
                run.id, ds.token, group_key, group1, None if group2 == rest else group2,
                transform_batch, int(n_samples), run, adata), action="computing DE")
            if table is not None:
                st.session_state["de_result"] = (run.id, group1, group2, table)
        result = st.session_state.get("de_result")
        if result and result[0] == run.id:
            _, g1, g2, table = result
            fig = de_volcano(table, group1=g1, group2=g2)
            st.plotly_chart(fig, width="stretch", key="de_volcano")
            figure_downloads(fig, f"{run.id}_de_volcano", key="dl_de_volcano")
            st.caption(f"{int(table['is_de'].sum())} of {len(table)} genes with |log Bayes "
                       "factor| ≥ 3. LFC = log₂ ratio of decoded normalised expression. "
                       "Vanilla mode compares random pairs of cells, so heterogeneous groups "
                       "or low counts give few calls: rank by LFC and proba_de then.")
            st.dataframe(table, hide_index=True, width="stretch", height=300,
                         column_config={c: st.column_config.NumberColumn(format="%.3f")
                                        for c in ("lfc_mean", "lfc_median", "lfc_std",
                                                  "proba_m1", "proba_m2", "bayes_factor",
                                                  "proba_de", "raw_mean1", "raw_mean2")}
                         | {c: st.column_config.NumberColumn(format="%.2e")
                            for c in ("scale1", "scale2")})
            table_download(table, f"{run.id}_de_{g1}_vs_{g2}", key="dl_de_csv",
                           label="DE table (CSV)")
        st.divider()
        st.caption("Denoised normalised expression (decoded from the latent mean, rows sum to "
                   "1e4), in each cell's batch or transformed to the batch chosen above.")
        if st.button("Prepare denoised expression", key="denoised_run"):
            frame = run_safely(lambda: _denoised(run.id, ds.token, transform_batch, run, adata),
                               action="decoding expression")
            if frame is not None:
                table_download(frame.reset_index(names="cell"), f"{run.id}_denoised",
                               key="dl_denoised", label="Denoised expression (CSV)")
