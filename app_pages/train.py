"""Train page: configure a β-VAE and its KL schedule, train in the background, list runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from core.device import DEVICE_CHOICES
from core.errors import ConfigError
from core.pl.figures import line_curve
from core.recipes.betavae import BETAVAE_DEFAULTS, BETAVAE_TRAIN_DEFAULTS
from core.training.schedules import make_schedule, schedule_curve
from ui.counts import count_options
from ui.downloads import table_download
from ui.jobs import (
    SELECTED_RUN_KEY,
    active_job,
    dataset_spec,
    follow_selected,
    import_run_section,
    job_outcome,
    progress_panel,
    queue_section,
    runs_for,
    runs_table,
    submit_spec,
)
from ui.messages import run_safely
from ui.run_admin import delete_control, unfinished_section, unreadable_section
from ui.state import require_dataset

#: The page that shows each model's runs.
RUN_PAGES = {"betavae": ("app_pages/embedding.py", "Embedding"),
             "tfvae": ("app_pages/network.py", "Network"),
             "scgen": ("app_pages/predict.py", "Predict")}

st.title("Train")
ds = require_dataset()
st.caption(f"Dataset `{ds.name}` · {ds.adata.n_obs:,} cells × {ds.adata.n_vars:,} genes · "
           f"labels for scoring: `{ds.label_key or 'none'}` (change on the Data page)")

SCHEDULE_NAMES = {"linear": "Linear warm-up", "constant": "Constant",
                  "reference": "Reference recipe (1e-7·min(epoch+1, 20))",
                  "cyclical": "Cyclical annealing (Fu et al. 2019)"}
DEFAULT_SCHEDULE = BETAVAE_DEFAULTS["schedule"]
T = BETAVAE_TRAIN_DEFAULTS


def _hidden_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError as exc:
        raise ConfigError("Hidden layers must be comma-separated integers, e.g. 1024,512,256.") \
            from exc
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError("Give at least one hidden layer with a positive width.")
    return sizes


left, right = st.columns([1, 1], gap="large")
with left:
    counts = count_options(ds)
    st.subheader("Model")
    c1, c2, c3 = st.columns(3)
    n_latent = c1.number_input("Latent dims", 2, 256, BETAVAE_DEFAULTS["n_latent"],
                               key="bv_latent")
    hidden_txt = c2.text_input("Encoder layers", ",".join(map(str, BETAVAE_DEFAULTS["hidden"])),
                               key="bv_hidden", help="Decoder mirrors them.")
    dropout = c3.number_input("Dropout", 0.0, 0.9, BETAVAE_DEFAULTS["dropout"], 0.05,
                              key="bv_dropout", help="In every hidden layer.")
    c1, c2, c3 = st.columns(3)
    input_dropout = c1.number_input(
        "Input dropout", 0.0, 0.9, float(BETAVAE_DEFAULTS["input_dropout"]), 0.05,
        key="bv_input_dropout",
        help="Denoising: while training, this fraction of the encoder's input values is set "
             "to 0; the model still reconstructs the full input.")
    has_hvg = "highly_variable" in ds.adata.var and not ds.adata.var["highly_variable"].all()
    hvg_weight = c2.number_input(
        "HVG weight", 1.0, 20.0, float(BETAVAE_DEFAULTS["hvg_weight"]), 0.5, key="bv_hvg_weight",
        disabled=not has_hvg,
        help="Reconstruction weight of highly variable genes (others 1). Needs HVGs kept "
             "without subsetting on the Data page.")
    free_bits = c3.number_input("Free bits (nats/dim)", 0.0, 5.0,
                                float(BETAVAE_DEFAULTS["free_bits"]), 0.1, key="bv_free_bits")
    batch_norm = st.checkbox("BatchNorm", BETAVAE_DEFAULTS["batch_norm"], key="bv_batchnorm")

    st.subheader("Optimisation")
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 2000, T.epochs, key="bv_epochs")
    batch_size = c2.number_input("Batch size", 2, 65536, T.batch_size, key="bv_batch")
    lr = c3.number_input("Learning rate", 1e-6, 1.0, T.lr, format="%.0e", key="bv_lr")
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="bv_seed")
    c1, c2, c3, c4 = st.columns(4)
    val_fraction = c1.number_input("Validation fraction", 0.0, 0.5, T.val_fraction, 0.05,
                                   key="bv_val")
    patience = c2.number_input("Early-stop patience", 0, 1000, T.patience or 0, key="bv_patience",
                               help="Epochs without a better validation loss; 0 turns it off. "
                                    "Epochs are compared at the schedule's largest β, "
                                    "so warm-up epochs do not win by their small KL weight.")
    device = c3.selectbox("Device", DEVICE_CHOICES, key="bv_device")
    bf16 = c4.checkbox("bf16 (CUDA)", False, key="bv_bf16")

with right:
    st.subheader("KL weight (β) schedule")
    kind = st.selectbox("Schedule", list(SCHEDULE_NAMES), format_func=SCHEDULE_NAMES.get,
                        key="bv_schedule")
    c1, c2, c3 = st.columns(3)
    params: dict = {}
    if kind == "constant":
        params["beta_value"] = c1.number_input("β", 0.0, 100.0, 1.0, format="%.2e",
                                               key="bv_beta_const")
    elif kind == "linear":
        params["beta_max"] = c1.number_input("β max", 0.0, 100.0,
                                             float(DEFAULT_SCHEDULE.get("beta_max", 1.0)),
                                             format="%.2e", key="bv_beta_max")
        params["warmup_epochs"] = c2.number_input(
            "Warm-up epochs", 0, 2000, int(DEFAULT_SCHEDULE.get("warmup_epochs", 10)),
            key="bv_warmup")
    elif kind == "reference":
        params["scale"] = c1.number_input("Scale", 0.0, 1.0, 1e-7, format="%.1e",
                                          key="bv_ref_scale")
        params["cap"] = c2.number_input("Cap (epochs)", 1, 2000, 20, key="bv_ref_cap")
    else:
        params["beta_max"] = c1.number_input("β max", 0.0, 100.0, 1.0, format="%.2e",
                                             key="bv_cyc_max")
        params["n_cycles"] = c2.number_input("Cycles", 1, 100, 4, key="bv_cycles")
        params["ratio"] = c3.number_input("Rising fraction", 0.05, 1.0, 0.5, 0.05,
                                          key="bv_cyc_ratio")
        params["total_epochs"] = int(epochs)
    schedule = run_safely(lambda: make_schedule(kind, **params), action="building the schedule")
    if schedule is not None:
        betas = np.array(schedule_curve(schedule, int(epochs)))
        st.plotly_chart(line_curve(np.arange(1, len(betas) + 1), betas,
                                   title=f"β per epoch ({SCHEDULE_NAMES[kind]})",
                                   x_title="epoch", y_title="β"),
                        width="stretch", key="schedule_plot")
        if free_bits > 0:
            st.caption(f"Free bits: KL below {free_bits} nats per latent dim is not penalised.")

st.divider()
running = active_job("betavae")
start = st.button("Train β-VAE", type="primary", key="bv_start", icon=":material/play_arrow:",
                  disabled=running is not None or schedule is None)


def _start() -> bool:
    model = {"n_latent": int(n_latent), "hidden": _hidden_layers(hidden_txt),
             "dropout": float(dropout), "input_dropout": float(input_dropout),
             "batch_norm": bool(batch_norm),
             "hvg_weight": float(hvg_weight) if has_hvg else 1.0, "free_bits": float(free_bits),
             **counts.model}
    train = replace(T, epochs=int(epochs), batch_size=int(batch_size), lr=float(lr),
                    seed=int(seed), val_fraction=float(val_fraction),
                    patience=int(patience) or None, device=device, bf16=bool(bf16))
    train.validate()
    from core.device import pick_device
    pick_device(device)  # fail now, in the page, if the device is unavailable
    from core.training.schedules import to_dict

    spec, run_dir = dataset_spec(
        ds, "betavae", batch_key=counts.batch_key, label=f"β-VAE on {ds.name}",
        model={**model, "schedule": to_dict(schedule)}, seed=train.seed,
        train={k: v for k, v in train.to_dict().items() if k != "seed"})
    submit_spec(spec, run_dir=run_dir)       # a worker process trains it
    return True


if start and run_safely(_start, action="starting training"):
    st.rerun()

progress_panel("betavae")
job_outcome("betavae")
if running is None:
    queue_section()         # others' jobs; with a job of this session, the live panel shows it
unfinished_section(("betavae",))

# ---- runs ---------------------------------------------------------------------------------------
st.subheader("Runs on this dataset")
runs = runs_for(ds)
if not runs:
    st.caption("No runs yet for this dataset and preprocessing. Runs are saved as folders under "
               "the runs directory and reappear here after a server restart.")
else:
    table = runs_table(runs)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("ARI (latent)", "ARI (PCA)", "NMI (latent)")}
                 | {c: st.column_config.NumberColumn(format="%.1f")
                    for c in ("training (s)", "total (s)")})
    table_download(table, f"runs_{ds.name}", key="runs_csv", label="Runs table (CSV)")
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    ids = [r.id for r in runs]
    follow_selected("train_run_pick", ids)     # a run that just finished is preselected
    chosen = c1.selectbox("Run", ids, key="train_run_pick")
    model = next(r.model for r in runs if r.id == chosen)
    page, title = RUN_PAGES.get(model, RUN_PAGES["betavae"])
    if c2.button(f"Open in {title}", key="open_embedding", icon=":material/open_in_new:"):
        st.session_state[SELECTED_RUN_KEY] = chosen
        st.switch_page(page)
    with c3:
        delete_control(next(r.path for r in runs if r.id == chosen), key="delete_run")
unreadable_section()
import_run_section(ds)
