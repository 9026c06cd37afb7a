"""In a real browser: train a β-VAE on kang_pbmc, watch it finish, open the Embedding page."""

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
def kang_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server_train")
    with running_server(tmp, SCVAE_DEFAULT_DATASET="kang_pbmc") as srv:
        yield srv


def set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def test_train_and_embed(kang_server, page, artifacts_dir):
    open_app_page(page, kang_server["url"], "kang_pbmc", "Train", "Train")
    # The schedule is drawn before training starts.
    page.get_by_text("β per epoch").first.wait_for()
    set_number(page, "Epochs", "4")
    set_number(page, "Encoder layers", "128,64")
    assert_no_exception(page)
    save_screenshot(page, artifacts_dir, "train_page_before")
    page.get_by_role("button", name="Train β-VAE").click()
    # Live progress appears, then the job finishes and the run is listed.
    page.get_by_text("finished: run", exact=False).wait_for(timeout=240_000)
    wait_idle(page)
    assert page.get_by_text("Runs on this dataset").count() == 1
    runs = [p for p in kang_server["runs"].iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1 and (runs[0] / "model.pt").is_file()
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 2000})
    save_screenshot(page, artifacts_dir, "train_page_after")

    page.get_by_role("button", name="Open in Embedding").click()
    page.get_by_role("heading", name="Embedding").wait_for()
    page.get_by_text("UMAP of the VAE latent").first.wait_for(timeout=120_000)
    page.get_by_text("UMAP of PCA").first.wait_for()
    wait_idle(page)
    # Two UMAPs, metric bars and the loss history: charts render one by one, so poll.
    page.wait_for_function(
        "document.querySelectorAll(\"[data-testid='stPlotlyChart']\").length >= 4")
    page.get_by_text("Reconstruction and KL per epoch").first.wait_for()
    assert page.get_by_text("ari_kmeans").count() >= 1
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 2600})
    wait_idle(page)
    page.wait_for_timeout(1500)
    save_screenshot(page, artifacts_dir, "embedding_page")
