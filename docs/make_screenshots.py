"""Regenerate the README screenshots: ``.venv/bin/python docs/make_screenshots.py``.

Starts the app with the e2e harness (a real ``streamlit run`` on a free port, Debian's Chromium)
and saves one PNG per page under ``docs/screenshots/``.
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


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, startup = start_server(Path(tmp))
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
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"app ready in {startup:.1f} s; wrote {OUT / 'data.png'}")


if __name__ == "__main__":
    main()
