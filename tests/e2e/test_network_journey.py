"""In a real browser: train a small TF-VAE on the simulated data and open a TF's neighbourhood."""

from __future__ import annotations

import pytest
from conftest import (
    assert_no_exception,
    open_app_page,
    running_server,
    save_screenshot,
    wait_idle,
)


@pytest.fixture(scope="module")
def synthetic_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server_net")
    with running_server(tmp, SCVAE_DEFAULT_DATASET="synthetic_grn") as srv:
        yield srv


def test_train_tfvae_and_browse(synthetic_server, page, artifacts_dir):
    open_app_page(page, synthetic_server["url"], "synthetic_grn", "Network", "TF network")
    page.get_by_label("Encoder epochs").wait_for()
    assert_no_exception(page)
    for label in ("Encoder epochs", "Dense decoder epochs", "Masked (1e-3) epochs",
                  "Masked (1e-4) epochs", "VAE epochs"):
        box = page.get_by_label(label)
        box.fill("2")
        box.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Train TF-VAE").click()
    page.get_by_text("finished: run", exact=False).wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_text("Targets of TF", exact=False).first.wait_for()
    graph = page.locator("[data-testid='stPlotlyChart']").nth(1)
    graph.wait_for()
    graph.locator(".scatterlayer, .gl-container").first.wait_for(state="attached")
    metrics = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    assert "40" in metrics
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 3000})  # Streamlit scrolls inside the app
    wait_idle(page)
    page.wait_for_timeout(1500)
    save_screenshot(page, artifacts_dir, "network_page_synthetic")
    # The trained model downloads as a run folder that loads again.
    import io
    import zipfile

    with page.expect_download() as info:
        page.get_by_role("button", name="Model (run folder, .zip)").click()
    data = info.value.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        folder = names[0].split("/")[0]
        assert {f"{folder}/model.pt", f"{folder}/config.json", f"{folder}/network.csv"} <= set(
            names)
        zf.extractall(artifacts_dir / "downloaded_run")
    from core.runs import load_run

    module = load_run(artifacts_dir / "downloaded_run" / folder).load_module()
    assert len(module.tf_names) == 40
