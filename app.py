"""scVAE Studio: entry point (``streamlit run app.py``).

Sets the page config, loads the default dataset on a session's first run, draws the sidebar
(dataset, compute device) and hands over to the selected page.
"""

from __future__ import annotations

import streamlit as st

from ui.messages import run_safely
from ui.sidebar import sidebar_status
from ui.state import ensure_default_dataset, get_dataset, session_id

# An emoji favicon is drawn in the page; a ":material/…:" one is fetched from fonts.gstatic.com.
st.set_page_config(page_title="scVAE Studio", page_icon="🧬", layout="wide")

PAGES = [
    st.Page("app_pages/data.py", title="Data", icon=":material/dataset:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/embedding.py", title="Embedding", icon=":material/scatter_plot:"),
    st.Page("app_pages/benchmark.py", title="Benchmark", icon=":material/leaderboard:"),
    st.Page("app_pages/network.py", title="Network", icon=":material/hub:"),
    st.Page("app_pages/perturb.py", title="Perturb", icon=":material/tune:"),
    st.Page("app_pages/validate.py", title="Validate", icon=":material/fact_check:"),
    st.Page("app_pages/predict.py", title="Predict stimulation", icon=":material/science:"),
    st.Page("app_pages/phenotype.py", title="Phenotype", icon=":material/genetics:"),
]


page = st.navigation(PAGES)
session_id()          # the address keeps ?sid=: a reload finds this session's jobs again
run_safely(ensure_default_dataset, action="loading the default dataset")

with st.sidebar:
    st.markdown("### scVAE Studio")
    ds = get_dataset()
    if ds is None:
        st.caption("No dataset loaded")
    else:
        st.markdown(f"**Dataset:** `{ds.name}`  \n{ds.adata.n_obs:,} cells × "
                    f"{ds.adata.n_vars:,} genes  \nLabels: `{ds.label_key or '—'}`")
    sidebar_status()  # device and job lines; never waits for torch

# A page that fails shows one line (st.stop / st.rerun are BaseExceptions and pass through).
run_safely(page.run, action=f"showing the {page.title} page")
