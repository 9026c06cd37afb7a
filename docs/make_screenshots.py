"""Regenerate README screenshots: ``.venv/bin/python docs/make_screenshots.py [RUNS_DIR]``.

Starts the app with the e2e harness (a real ``streamlit run`` on a free port, Debian's Chromium)
on the default dataset (kang_pbmc) and saves ``docs/screenshots/data.png``. Given a runs folder
holding a TF-VAE, an scGen and a β-VAE run on kang_pbmc made with the default settings, e.g.
(pages open on the run whose folder name sorts last, so the β-VAE's comes last)::

    python -m core train --data kang_pbmc --model tfvae --out shots/1-tfvae
    python -m core predict --data kang_pbmc --holdout CD4T --out shots/2-scgen
    python -m core train --data kang_pbmc --label-key cell_type --out shots/3-bvae

it also saves ``embedding.png``, ``network.png`` and ``predict.png`` showing those runs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import CHROMIUM, CHROMIUM_ARGS, assert_no_exception, start_server, wait_idle  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
# Streamlit scrolls inside its main block, so a full-page shot is only the viewport: make it tall.
VIEWPORT = {"width": 1400, "height": 1700}


def _page_shot(page, url: str, name: str, ready: str) -> None:
    page.goto(url)
    wait_idle(page)
    page.locator(ready).first.wait_for()
    wait_idle(page)
    assert_no_exception(page)
    page.screenshot(path=str(OUT / name))


def main(runs: Path | None = None) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    env = {"SCVAE_RUNS_DIR": str(runs.resolve())} if runs else None
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, startup = start_server(Path(tmp), env_extra=env)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(60_000)
                page.goto(url)
                wait_idle(page)
                page.locator("[data-testid='stPlotlyChart'] g.trace.bars").first.wait_for()
                assert_no_exception(page)
                page.screenshot(path=str(OUT / "data.png"))
                if runs:
                    chart = "[data-testid='stPlotlyChart']"
                    _page_shot(page, f"{url}/embedding", "embedding.png", chart)
                    _page_shot(page, f"{url}/network", "network.png", chart)
                    _page_shot(page, f"{url}/predict", "predict.png", chart)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"app ready in {startup:.1f} s; wrote screenshots under {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
