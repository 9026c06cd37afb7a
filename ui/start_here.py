"""The "start here" panel on the Data page: what the app does, as three journeys (issue 21)."""

from __future__ import annotations

import streamlit as st

#: (title, what it shows, page, link label, icon), in the order a new user would try them.
JOURNEYS = [
    ("1 · Embed cells", "Train a β-VAE (~1 min on CPU for the default data) and compare its "
     "latent space with PCA: UMAPs, ARI/NMI, k-NN accuracy.",
     "app_pages/train.py", "Train a β-VAE", ":material/model_training:"),
    ("2 · Learn a TF network, perturb it", "Train a TF-structured VAE, browse the TF→gene "
     "network it learned, then knock out or over-express TFs and see every gene respond.",
     "app_pages/network.py", "Network → Perturb", ":material/hub:"),
    ("3 · Predict stimulation", "scGen: hold out one cell type's stimulated cells, predict "
     "them from its controls, and score the prediction beside simple baselines.",
     "app_pages/predict.py", "Predict stimulation", ":material/science:"),
]


def start_here(*, expanded: bool = True) -> None:
    """Draw the three journeys with a link to each page's starting point.

    Parameters
    ----------
    expanded
        Open the panel (on a session's first view); collapsed afterwards.
    """
    with st.expander("Start here: what you can do with the loaded dataset", expanded=expanded,
                     icon=":material/explore:"):
        cols = st.columns(len(JOURNEYS))
        for col, (title, text, page, label, icon) in zip(cols, JOURNEYS):
            with col:
                st.markdown(f"**{title}**")
                st.caption(text)
                st.page_link(page, label=label, icon=icon)
