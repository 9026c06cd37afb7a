"""In a real browser: the Validate page on the bundled ECCITE-seq screen shows the model beside
every baseline, with the winner per target marked."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    assert_no_exception,
    open_app_page,
    running_server,
    save_screenshot,
    wait_idle,
)

FAST = {"hidden": [16], "epochs_encoder": 1, "epochs_decoder": 1, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1}


@pytest.fixture(scope="module")
def screen_server(tmp_path_factory):
    from core.data.registry import load_bundled
    from core.recipes.perturb_validate import preprocess_cells
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    tmp = tmp_path_factory.mktemp("server_validate")
    screen = load_bundled("papalexi_eccite")
    labels = screen.obs["target_assigned"].astype(str).to_numpy()
    cells = np.isin(labels, ["non-targeting", "IRF1", "JAK2"])
    adata = preprocess_cells(screen, cells, [str(g) for g in screen.var_names])
    train_tfvae(adata, dataset="papalexi_eccite", model=FAST, runs_root=tmp / "runs",
                train=TrainConfig(device="cpu", batch_size=512))
    with running_server(tmp, SCVAE_DEFAULT_DATASET="papalexi_eccite") as srv:
        yield srv


def test_validation_table_with_baselines(screen_server, page, artifacts_dir):
    open_app_page(page, screen_server["url"], "papalexi_eccite", "Validate",
                  "Validate perturbations")
    table = page.get_by_test_id("stTable").first
    table.wait_for(timeout=120_000)
    wait_idle(page, timeout=120_000)
    text = table.inner_text()
    for word in ("STAT1", "STAT2", "STAT3", "median", "tfvae", "no_change", "correlation",
                 "ridge", "propagation", "perturbation_mean", "★"):
        assert word in text, word
    page.get_by_text("STAT1 knock-out: predicted vs measured").first.wait_for()
    assert page.get_by_test_id("stDownloadButton").filter(has_text="metrics.json").count() == 1
    assert_no_exception(page)
    save_screenshot(page, artifacts_dir, "validate_page")
