"""Per-browser-session state: the loaded dataset, the session id, cached loaders."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st

from core.data.cache import bundled_source, cached_preprocess
from core.data.io import LoadResult, read
from core.data.preprocess import PreprocessConfig, categorical_columns, preprocess
from core.data.registry import DATASETS, DEFAULT_DATASET

if TYPE_CHECKING:
    from anndata import AnnData

DATASET_KEY = "dataset"


@dataclass
class LoadedDataset:
    """What the pages work on: the data as loaded, and as preprocessed for the models."""

    name: str
    token: str  # unique per load; keys every cache that depends on this data
    raw: AnnData
    adata: AnnData
    config: PreprocessConfig
    label_key: str | None
    notices: list[str] = field(default_factory=list)

    @property
    def label_options(self) -> list[str]:
        return categorical_columns(self.raw)


def session_id() -> str:
    """A stable id for this browser session (owner of its training jobs and runs).

    The address carries it (``?sid=``), so a reload, a new tab opened on the same address or
    a restarted server keeps the owner and finds its running jobs again (issue 20). Without
    sign-in, whoever has the address is the owner; served with authentication, the user is
    (:func:`ui.jobs.owner_id`).
    """
    if "session_id" not in st.session_state:
        sid = st.query_params.get("sid", "")
        ok = isinstance(sid, str) and len(sid) == 12 and all(c in "0123456789abcdef"
                                                             for c in sid)
        st.session_state["session_id"] = sid if ok else uuid.uuid4().hex[:12]
    if st.query_params.get("sid") != st.session_state["session_id"]:
        st.query_params["sid"] = st.session_state["session_id"]
    return st.session_state["session_id"]


@st.cache_data(show_spinner="Reading the bundled dataset…", max_entries=4)
def _read_bundled(name: str) -> LoadResult:
    return read(name)


@st.cache_data(show_spinner="Preprocessing (the bundled datasets are cached on disk after "
                            "the first time)…", max_entries=8)
def _preprocess(token: str, _raw: AnnData, config: PreprocessConfig) -> AnnData:
    if token.startswith("bundled:"):
        return cached_preprocess(_raw, config, source=bundled_source(token.split(":", 1)[1]))[0]
    return preprocess(_raw, config)


def build_dataset(result: LoadResult, *, token: str, config: PreprocessConfig | None = None,
                  label_key: str | None = None) -> LoadedDataset:
    """Preprocess a loaded result (cached by token and settings) into a LoadedDataset."""
    config = config or PreprocessConfig()
    adata = _preprocess(token, result.adata, config)
    labels = categorical_columns(result.adata)
    if label_key not in labels:
        info = DATASETS.get(result.name)
        label_key = info.label_key if info and info.label_key in labels else (
            labels[0] if labels else None)
    return LoadedDataset(name=result.name, token=token, raw=result.adata, adata=adata,
                         config=config, label_key=label_key, notices=list(result.notices))


def load_bundled_dataset(name: str) -> LoadedDataset:
    """Load and preprocess (default settings) a bundled dataset."""
    return build_dataset(_read_bundled(name), token=f"bundled:{name}")


def get_dataset() -> LoadedDataset | None:
    """The dataset loaded in this session, if any."""
    return st.session_state.get(DATASET_KEY)


def set_dataset(dataset: LoadedDataset) -> None:
    """Make ``dataset`` the session's dataset."""
    st.session_state[DATASET_KEY] = dataset


def ensure_default_dataset() -> None:
    """On a session's first run, load the default bundled dataset (``SCVAE_DEFAULT_DATASET``)."""
    if DATASET_KEY in st.session_state or st.session_state.get("_default_tried"):
        return
    st.session_state["_default_tried"] = True
    name = os.environ.get("SCVAE_DEFAULT_DATASET", DEFAULT_DATASET)
    if name and name != "none":
        set_dataset(load_bundled_dataset(name))


def require_dataset() -> LoadedDataset:
    """Return the dataset, or stop the page with a pointer to the Data page."""
    ds = get_dataset()
    if ds is None:
        st.info("No dataset is loaded yet. Load one on the **Data** page.")
        st.page_link("app_pages/data.py", label="Go to Data", icon=":material/dataset:")
        st.stop()
    return ds
