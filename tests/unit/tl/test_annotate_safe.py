"""Issue 19, item 8: names and keys containing ``null`` (and other values h5ad cannot hold)
survive the annotated AnnData download."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from core.runs import save_run
from core.runs.store import load_run
from core.tl.annotate import annotate_adata, h5ad_safe


def test_h5ad_safe_keeps_values_and_replaces_only_none():
    obj = {"name": "null_cells.h5ad", "nullable": None, "a/b": [1, None], "empty": [],
           "mixed": ["x", 2], "nested": {"null": "null"}}
    assert h5ad_safe(obj) == {"name": "null_cells.h5ad", "nullable": "None", "a_b": ["1", "None"],
                              "empty": [], "mixed": ["x", "2"], "nested": {"null": "null"}}


def test_annotated_anndata_of_a_run_named_null_writes_and_reads(tmp_path):
    adata = ad.AnnData(np.ones((4, 3), np.float32),
                       obs=pd.DataFrame(index=[f"c{i}" for i in range(4)]))
    config = {"model": "scgen", "data": {"name": "null \"quoted\" null", "label_key": None},
              "settings": {"null_key": None, "x/y": 1}}
    path = save_run(tmp_path / "null", config=config, metrics={"ari_null": 0.5},
                    history=pd.DataFrame(), latent=np.zeros((4, 2)))
    out = annotate_adata(adata, load_run(path), key="vae")
    out.write_h5ad(tmp_path / "a.h5ad")
    params = ad.read_h5ad(tmp_path / "a.h5ad").uns["vae"]["params"]
    assert params["data"]["name"] == "null \"quoted\" null"
    assert params["data"]["label_key"] == "None" and params["settings"]["null_key"] == "None"
    assert params["settings"]["x_y"] == 1
