"""The Phenotype page in a real browser: train a short DeepSet on the bundled table, type a
pair into the prediction box, see the prediction beside the additive expectation."""

from __future__ import annotations

from conftest import assert_no_exception, open_app_page, save_screenshot, wait_idle


def test_short_training_then_a_typed_pair(server, page, artifacts_dir):
    open_app_page(page, server["url"], "kang_pbmc", "Phenotype",
                  "Phenotype of a set of perturbed genes")
    page.get_by_text("5,085 sets · 112 genes").first.wait_for()
    page.get_by_text("Gene features and training settings").click()
    box = page.get_by_label("Max epochs", exact=True).first
    box.fill("5")
    box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Train").click()
    page.get_by_text("Held-out predictions (CSV)").wait_for(timeout=240_000)
    wait_idle(page, timeout=120_000)
    labels = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
    assert any("Interaction r (held out)" in m for m in labels)
    query = page.get_by_label("Genes (A+B+…)")
    query.fill("KLF1+CEBPA")
    query.press("Enter")
    wait_idle(page, timeout=120_000)
    page.get_by_text("Additive expectation").first.wait_for()
    values = page.locator("[data-testid='stMetric']").filter(has_text="Additive expectation")
    assert values.first.inner_text().splitlines()[-1].startswith("-0.4")   # −0.596 + 0.151
    page.get_by_text("Predicted interactions, clustered").first.wait_for()
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 3400})
    page.wait_for_timeout(2000)
    save_screenshot(page, artifacts_dir, "phenotype_page_norman")
