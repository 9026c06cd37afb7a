"""The app opens in a real browser on the bundled default dataset; the QC histogram renders."""

from __future__ import annotations

from conftest import assert_no_exception, choose, save_screenshot, wait_idle


def test_app_opens_with_default_dataset(server, page, artifacts_dir):
    page.goto(server["url"])
    wait_idle(page)
    page.get_by_text("kang_pbmc").first.wait_for()
    # The QC histograms are drawn by plotly: both panels' bars exist as SVG paths.
    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.wait_for()
    assert chart.locator("g.trace.bars").count() >= 2
    assert page.get_by_text("Genes detected per cell").count() >= 1
    metrics = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    assert "1,975" in metrics and "6,998" in metrics
    assert_no_exception(page)
    save_screenshot(page, artifacts_dir, "data_page_kang")
    assert server["startup_seconds"] < 60


def test_switch_to_zeisel(server, page, artifacts_dir):
    page.goto(server["url"])
    wait_idle(page)
    choose(page, "Bundled dataset", "zeisel_cortex")
    page.get_by_role("button", name="Load dataset").click()
    page.get_by_role("heading", name="zeisel_cortex").wait_for()
    page.locator("[data-testid='stMetricValue']", has_text="raw counts").wait_for()
    wait_idle(page)
    metrics = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    assert "3,005" in metrics and "200" in metrics
    # The sidebar follows the load at once (the load runs in a callback, before the script).
    sidebar = page.get_by_test_id("stSidebar").inner_text()
    assert "zeisel_cortex" in sidebar and "kang_pbmc" not in sidebar
    assert "Labels: level1class" in sidebar
    assert_no_exception(page)
    save_screenshot(page, artifacts_dir, "data_page_zeisel")
