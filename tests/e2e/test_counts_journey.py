"""In the browser: train an NB β-VAE on zeisel_cortex raw counts with a batch column, then see
batch metrics and differential expression on the Embedding page."""

from __future__ import annotations

from conftest import assert_no_exception, choose, save_screenshot, wait_idle
from playwright.sync_api import expect


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    page.get_by_role("heading", name=title).first.wait_for()
    wait_idle(page)


def test_train_nb_on_zeisel_and_compute_de(server, page, artifacts_dir):
    page.goto(server["url"])
    wait_idle(page)
    choose(page, "Bundled dataset", "zeisel_cortex")
    page.get_by_role("button", name="Load dataset").click()
    page.get_by_role("heading", name="zeisel_cortex").wait_for()
    wait_idle(page)

    go_to(page, "Train")
    choose(page, "Likelihood", "NB (counts)")
    # Choosing NB loads scVI-like layer sizes into the model widgets.
    expect(page.get_by_role("textbox", name="Encoder layers")).to_have_value("128")
    choose(page, "Batch column", "tissue")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill("3")
    epochs.press("Enter")
    wait_idle(page)
    save_screenshot(page, artifacts_dir, "counts_train_options")
    page.get_by_role("button", name="Train β-VAE").click()
    page.get_by_text("finished: run").wait_for(timeout=240_000)
    wait_idle(page)
    assert_no_exception(page)

    go_to(page, "Embedding")
    try:  # first UMAPs in a fresh server compile numba code: slow on a busy CPU
        page.get_by_text("Batch mixing entropy (latent)").wait_for(timeout=300_000)
    except Exception:
        save_screenshot(page, artifacts_dir, "counts_embedding_failed")
        raise
    page.get_by_text("Held-out ELBO per cell").first.wait_for()
    page.get_by_text("Differential expression and denoised expression").click()
    page.get_by_text("Posterior samples per group").wait_for()
    choose(page, "Group 1", "microglia")
    page.get_by_role("button", name="Compute differential expression").click()
    page.get_by_text("genes with |log Bayes factor| ≥ 3").wait_for(timeout=120_000)
    wait_idle(page)
    page.wait_for_function(  # charts render one by one: poll rather than count once
        "document.querySelectorAll(\"[data-testid='stPlotlyChart']\").length >= 3")
    assert_no_exception(page)
    save_screenshot(page, artifacts_dir, "counts_embedding_batch")
    page.locator(".st-key-de_volcano").scroll_into_view_if_needed()   # the volcano plot
    wait_idle(page)
    save_screenshot(page, artifacts_dir, "counts_embedding_de")
