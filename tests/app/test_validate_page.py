"""The Validate page under AppTest, on the bundled ECCITE-seq screen."""

from __future__ import annotations

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

FAST = {"hidden": [16], "epochs_encoder": 1, "epochs_decoder": 1, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1}


@pytest.fixture(scope="module")
def screen_runs(tmp_path_factory):
    """A runs folder with one tiny TF-VAE trained on a slice of the screen's allowed cells."""
    import numpy as np

    from core.data.registry import load_bundled
    from core.recipes.perturb_validate import preprocess_cells
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    root = tmp_path_factory.mktemp("val_runs")
    screen = load_bundled("papalexi_eccite")
    labels = screen.obs["target_assigned"].astype(str).to_numpy()
    cells = np.isin(labels, ["non-targeting", "IRF1", "JAK2"])
    adata = preprocess_cells(screen, cells, [str(g) for g in screen.var_names])
    train_tfvae(adata, dataset="papalexi_eccite", model=FAST, runs_root=root,
                train=TrainConfig(device="cpu", batch_size=512))
    return root


def _open(monkeypatch, root) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(root))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "papalexi_eccite")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("app_pages/validate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _wide(at):
    """The winner table (an st.table, so that a browser can read it too)."""
    for t in at.table:
        df = t.value
        if "winner" in df.columns:
            return df.rename_axis("target").reset_index()
    raise AssertionError("no winner table")


def test_table_has_the_model_and_every_baseline(monkeypatch, screen_runs):
    at = _open(monkeypatch, screen_runs)
    assert at.selectbox(key="val_key").value == "target_assigned"
    assert at.selectbox(key="val_control").value == "non-targeting"
    wide = _wide(at)
    assert list(wide["target"]) == ["STAT1", "STAT2", "STAT3", "median"]
    for method in ("tfvae", "no_change", "correlation", "ridge", "propagation",
                   "perturbation_mean"):
        assert method in wide.columns
    assert (wide["no_change"].astype(float) == 0).all()
    # the winner is the row's best method
    row = wide.iloc[0]
    methods = [c for c in wide.columns if c not in ("target", "winner")]
    assert row["winner"] == "★ " + row[methods].astype(float).idxmax()
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"metrics.json", "per_gene.csv", "scores.csv"} <= set(labels)


def test_baselines_only_and_bad_input_messages(monkeypatch, screen_runs):
    at = _open(monkeypatch, screen_runs)
    at.selectbox(key="val_run").set_value("(none: baselines only)").run()
    wide = _wide(at)
    assert "tfvae" not in wide.columns and "ridge" in wide.columns
    assert "SPI1" not in set(wide["target"])          # 33 cells, but not a measured gene
    # a column whose values are no TF: one line saying nothing can be scored, no traceback
    at.selectbox(key="val_key").set_value("bio_rep").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "can be scored" in errors[0] and "\n" not in errors[0]
