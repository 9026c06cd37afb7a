"""The "start here" panel on the Data page: what the app does, as three journeys (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

#: Where the shipped example runs are (``core.runs.example_runs_root``; not imported here:
#: ``core.runs`` imports torch, which the first view must not wait for).
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "example_runs"
#: (page, link label, icon) for each example run's model.
EXAMPLE_PAGES = {
    "tfvae": [("app_pages/network.py", "Example TF-VAE: its network", ":material/hub:"),
              ("app_pages/perturb.py", "Example TF-VAE: knock out a TF", ":material/tune:")],
    "betavae": [("app_pages/embedding.py", "Example β-VAE: its embedding",
                 ":material/scatter_plot:")],
}

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


def example_models(dataset_token: str, default_preprocessing: bool) -> list[str]:
    """Models of the shipped example runs trained on this dataset (bundled, default
    preprocessing: the only data whose fingerprint they match), read from their config.json."""
    if not default_preprocessing or not dataset_token.startswith("bundled:"):
        return []
    name = dataset_token.split(":", 1)[1]
    models = []
    for config in sorted(EXAMPLES_DIR.glob("*/config.json")):
        try:
            cfg = json.loads(config.read_text())
        except (OSError, ValueError):
            continue
        if cfg.get("data", {}).get("name") == name:
            models.append(str(cfg.get("model")))
    return models


def start_here(*, expanded: bool = True, dataset_token: str = "",
               default_preprocessing: bool = False) -> None:
    """Draw the three journeys with a link to each page's starting point, and links to the
    example runs when they match the loaded data.

    Parameters
    ----------
    expanded
        Open the panel (on a session's first view); collapsed afterwards.
    dataset_token, default_preprocessing
        The loaded dataset's token and whether it has the default preprocessing.
    """
    with st.expander("Start here: what you can do with the loaded dataset", expanded=expanded,
                     icon=":material/explore:"):
        cols = st.columns(len(JOURNEYS))
        for col, (title, text, page, label, icon) in zip(cols, JOURNEYS):
            with col:
                st.markdown(f"**{title}**")
                st.caption(text)
                st.page_link(page, label=label, icon=icon)
        links = [link for model in example_models(dataset_token, default_preprocessing)
                 for link in EXAMPLE_PAGES.get(model, [])]
        if links:
            st.markdown("**Try it now, no training:** example runs trained on this dataset "
                        "are listed on every page (read-only).")
            for col, (page, label, icon) in zip(st.columns(len(links)), links):
                col.page_link(page, label=label, icon=icon)
