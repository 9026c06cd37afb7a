"""Embedding page at scale: UMAP and scores on a stratified subsample whose size the user sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _points(at: AppTest, key: str) -> int:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    data = json.loads(chart.proto.spec)["data"]
    n = 0
    for trace in data:
        x = trace["x"]
        n += len(x) if isinstance(x, list) else int(np.prod(x.get("shape", [0]))) or len(
            __import__("base64").b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
    return n


@pytest.fixture
def app_with_run(tmp_path, monkeypatch):
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.models.vae import BetaVAE
    from core.runs import data_fingerprint, save_run

    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "zeisel_cortex")
    adata = preprocess(read("zeisel_cortex").adata)
    labels = adata.obs["level1class"].astype(str).to_numpy()
    codes = np.unique(labels, return_inverse=True)[1]
    rng = np.random.default_rng(0)
    latent = (np.eye(8)[codes][:, :4] * 3 + rng.normal(size=(adata.n_obs, 4))).astype(np.float32)
    coords = rng.normal(size=(adata.n_obs, 2)).astype(np.float32)
    m = BetaVAE(adata.n_vars, 4, [8])
    path = tmp_path / "runs" / "20260101-000000-betavae-zeisel_cortex-aaaaaa"
    save_run(path, module=m, history=pd.DataFrame(),
             config={"model": "betavae", "module": m.init_kwargs,
                     "data": {"name": "zeisel_cortex", "fingerprint": data_fingerprint(adata),
                              "label_key": "level1class"}},
             metrics={"n_epochs_run": 1}, latent=latent,
             arrays={"pca": latent[:, ::-1].copy(), "umap_vae_nn15_md0.5": coords,
                     "umap_pca_nn15_md0.5": coords})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("app_pages/embedding.py").run()
    assert not at.exception, at.exception
    return at, path


def test_subsample_size_is_shown_and_honoured(app_with_run):
    at, path = app_with_run
    assert at.number_input(key="emb_cells").value == 3005       # under 20,000: every cell
    assert _points(at, "umap_vae") == 3005
    at.number_input(key="emb_cells").set_value(500).run()
    assert not at.exception and not at.error
    assert _points(at, "umap_vae") == 500 and _points(at, "umap_pca") == 500
    assert any("500 of 3,005 cells" in c.value for c in at.caption)
    assert np.load(path / "umap_vae_nn15_md0.5_n500.npy").shape == (500, 2)
    # scores on the subsample: a real table, not the run's (absent) metrics
    table = at.dataframe[0].value.set_index("metric")
    assert 0 < float(table.loc["ari_kmeans", "VAE latent"]) <= 1
    at.checkbox(key="emb_place_all").check().run()
    assert not at.exception
    assert _points(at, "umap_vae") == 3005                       # every cell placed
