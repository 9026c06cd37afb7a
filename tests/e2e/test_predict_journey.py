"""A short scGen prediction in a real browser: the R² table and the means scatter appear."""

from __future__ import annotations

from conftest import assert_no_exception, save_screenshot, wait_idle


def test_short_prediction_shows_scores_and_scatter(server, page, artifacts_dir):
    page.goto(server["url"])
    wait_idle(page)
    page.get_by_text("kang_pbmc").first.wait_for()
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Predict stimulation").click()
    page.get_by_role("heading", name="Stimulation prediction (scGen)").wait_for()
    page.get_by_text("Model and training settings").click()
    for label, value in (("Max epochs", "2"), ("Latent size", "8"), ("Hidden layers", "64")):
        box = page.get_by_label(label, exact=True).first
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Train and predict").click()
    # The job runs in the background; the page reruns when it finishes.
    page.get_by_text("Per-gene table (CSV)").wait_for(timeout=240_000)
    wait_idle(page, timeout=120_000)
    metrics = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
    assert any("R² means, top-100 DEGs" in m for m in metrics)
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    page.get_by_text("CD4T: R² all genes").first.wait_for()  # the scatter's title
    scatter = page.locator("[data-testid='stPlotlyChart']").filter(has_text="top-100 DEGs")
    assert scatter.count() >= 1
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 2200})
    page.wait_for_timeout(1500)
    save_screenshot(page, artifacts_dir, "predict_page_kang")
