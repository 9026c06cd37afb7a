"""In a real browser: the Perturb page on a small TF-VAE run; a slider move changes the chart."""

from __future__ import annotations

import json

import pytest
from conftest import (
    assert_no_exception,
    open_app_page,
    running_server,
    save_screenshot,
    wait_idle,
)

FAST = {"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 2, "epochs_masked": 1,
        "epochs_masked_fine": 1, "epochs_vae": 1}


@pytest.fixture(scope="module")
def perturb_server(tmp_path_factory):
    from core.data.io import read
    from core.data.preprocess import preprocess
    from core.recipes.tfvae import train_tfvae
    from core.training.trainer import TrainConfig

    tmp = tmp_path_factory.mktemp("server_perturb")
    ad = preprocess(read("synthetic_grn").adata)
    train_tfvae(ad, dataset="synthetic_grn", model=FAST, runs_root=tmp / "runs",
                train=TrainConfig(device="cpu", batch_size=256))
    with running_server(tmp, SCVAE_DEFAULT_DATASET="synthetic_grn") as srv:
        yield srv


#: Counts the time of every websocket message the page receives (installed before the app loads).
WS_CLOCK = """(() => { window.__wsTimes = [];
  window.WebSocket = class extends window.WebSocket { constructor(...args) { super(...args);
    this.addEventListener('message', () => window.__wsTimes.push(performance.now())); } }; })();"""
#: The first chart's y labels and bar shapes: what a user sees change.
BAR_SIGNATURE = """() => { const c = document.querySelector("[data-testid='stPlotlyChart']");
  return [...c.querySelectorAll('.ytick')].map(e => e.textContent).join('|') + '#' +
    [...c.querySelectorAll('.point path')].map(e => e.getAttribute('d')).join('|'); }"""
#: Start a clock and watch the bar chart every animation frame until it differs; the time lands
#: in ``window.__chartMs`` (-1 after 30 s). Timed in the page, so a busy Python client polling
#: over the DevTools connection cannot inflate it.
WATCH_CHART = """(sig) => { const read = eval(sig); const before = read();
  const t0 = performance.now(); window.__t0 = t0; window.__n0 = window.__wsTimes.length;
  window.__chartMs = undefined;
  (async () => { while (performance.now() - t0 < 30000) {
      if (read() !== before) { window.__chartMs = performance.now() - t0; return; }
      await new Promise(r => requestAnimationFrame(r)); }
    window.__chartMs = -1; })(); }"""


def _bar_labels(page) -> str:
    return page.evaluate(BAR_SIGNATURE)


def test_slider_moves_the_top_gene_chart(perturb_server, page, artifacts_dir):
    page.add_init_script(WS_CLOCK)
    open_app_page(page, perturb_server["url"], "synthetic_grn", "Perturb", "TF perturbation")
    page.locator("[data-testid='stPlotlyChart']").first.locator(".ytick").first.wait_for()
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_role("button", name="Knock-out").first.click()
    wait_idle(page)
    # A fragment rerun does not show the running indicator: give the knock-out's update time to
    # finish so the timing below is one slider move on an idle page, not the tail of the last.
    page.wait_for_timeout(2000)
    timings = []
    for key in ("End", "Home", "End"):  # top of the range (strong over-expression), bottom, top
        before = _bar_labels(page)
        slider = page.get_by_role("slider").first
        slider.focus()
        page.evaluate(WATCH_CHART, BAR_SIGNATURE)
        slider.press(key)
        page.wait_for_function("window.__chartMs !== undefined", timeout=40_000)
        chart_ms = page.evaluate("window.__chartMs")
        assert chart_ms >= 0 and _bar_labels(page) != before, \
            f"the top-gene chart did not change ({key})"
        wait_idle(page)
        page.wait_for_timeout(2500)     # the fragment's last messages (every other figure)
        last_ms = page.evaluate("window.__wsTimes.length > window.__n0 ? "
                                "window.__wsTimes[window.__wsTimes.length - 1] - window.__t0 : -1")
        timings.append({"key": key, "top_gene_chart_ms": round(chart_ms),
                        "last_message_ms": round(last_ms)})
    print(json.dumps({"browser_slider_update": timings}))
    wait_idle(page)
    assert_no_exception(page)
    page.set_viewport_size({"width": 1440, "height": 2600})
    wait_idle(page)
    page.wait_for_timeout(1500)
    save_screenshot(page, artifacts_dir, "perturb_page_synthetic")
    # Cells by a selection on the UMAP: drag over the plot (lasso or box, whichever is active).
    page.get_by_text("selection on the UMAP").click()
    wait_idle(page)
    page.get_by_text("Draw a lasso").wait_for()
    umap = page.locator("[data-testid='stPlotlyChart']").filter(
        has_text="lasso or box-select").first
    umap.scroll_into_view_if_needed()
    box = umap.locator(".nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1
    x1, y1 = box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1)):
        page.mouse.move(x, y, steps=10)
    page.mouse.up()
    page.get_by_text("on the UMAP selection").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    # The hint goes once the rerun with the selection has replaced the stale elements.
    page.get_by_text("Draw a lasso").wait_for(state="detached", timeout=30_000)
    page.wait_for_timeout(1500)
    save_screenshot(page, artifacts_dir, "perturb_page_umap_selection")
