"""The Perturb page's trust panel: baselines beside the model, ensemble interval, OOD warning."""

from __future__ import annotations

import pytest
from conftest import FAST_TFVAE, ROOT
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """A runs folder with an ensemble of two seeds on synthetic_grn."""
    from core.data.io import read
    from core.data.preprocess import PreprocessConfig, preprocess
    from core.recipes.tfvae_ensemble import train_tfvae_ensemble
    from core.training.trainer import TrainConfig

    root = tmp_path_factory.mktemp("ens_runs")
    ad = preprocess(read("synthetic_grn").adata, PreprocessConfig())
    train_tfvae_ensemble(ad, n_models=2, dataset="synthetic_grn", model=FAST_TFVAE,
                         runs_root=root, train=TrainConfig(device="cpu", batch_size=256))
    return root


def _trust(at):
    for df in at.dataframe:
        if "sign_agreement" in df.value.columns:
            return df.value
    raise AssertionError("no trust table")


def test_interval_baselines_and_ood(monkeypatch, two_seeds):
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(two_seeds))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "synthetic_grn")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/perturb.py").run()
    tf = at.multiselect(key="pert_tfs").value[0]
    at.button(key=f"pert_ko_{tf}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Models in the ensemble"] == "2"
    table = _trust(at)
    assert len(table) == 20
    assert ((table["low"] <= table["delta"] + 1e-9) & (table["delta"] <= table["high"] + 1e-9)
            ).all()
    assert (table["high"] - table["low"]).max() > 0
    assert table["correlation"].abs().max() > 0 and table["ridge"].abs().max() > 0
    assert any("ties the best network baseline" in i.value and "0.54" in i.value
               for i in at.info)
    assert not any("outside the range seen in training" in w.value for w in at.warning)
    slider = at.slider(key=f"pert_val_{tf}")
    slider.set_value(slider.min).run()           # below the observed minimum
    assert not at.exception, [e.value for e in at.exception]
    ood = [w.value for w in at.warning if "outside the range seen in training" in w.value]
    assert len(ood) == 1 and ood[0].startswith(tf) and "in 100% of the perturbed cells" in ood[0]
