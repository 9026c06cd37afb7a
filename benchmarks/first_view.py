"""First Data view: seconds from the server answering ``/_stcore/health`` to the Data page of
the default dataset drawn in Chromium (metrics and QC histogram visible), issue 21.

Run: ``.venv/bin/python benchmarks/first_view.py [--repeats 3] [--cold] [--out FILE]``;
prints JSON (and writes it to ``--out``, e.g. ``benchmarks/results/first_view.json``).
Each repeat starts a fresh server (so nothing is held in the server's memory); the on-disk cache
of the preprocessed default dataset is kept between repeats ("warm venv") unless ``--cold``
points ``SCVAE_CACHE_DIR`` at an empty folder for every repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from conftest import CHROMIUM, CHROMIUM_ARGS, running_server  # noqa: E402


def first_view_seconds(browser, url: str, shot: Path | None = None) -> tuple[float, float]:
    """Open ``url``; seconds until "Start here" is drawn and until the QC chart of the default
    dataset's Data page is drawn.

    Parameters
    ----------
    browser
        A Playwright browser.
    url
        The server's address.
    shot
        Where to save a screenshot of the finished view, if anywhere.

    Returns
    -------
    tuple[float, float]
        (page drawn, data drawn) in seconds after ``goto``.
    """
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    t0 = time.perf_counter()
    page.goto(url)
    page.get_by_text("Start here", exact=False).first.wait_for(timeout=120_000)
    drawn = time.perf_counter() - t0
    page.locator("[data-testid='stMetricValue']", has_text="1,975").wait_for(timeout=120_000)
    page.locator("[data-testid='stPlotlyChart'] g.trace.bars").first.wait_for(timeout=120_000)
    seconds = time.perf_counter() - t0
    if shot is not None:
        page.screenshot(path=str(shot))
    page.close()
    return drawn, seconds


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="empty disk cache every repeat")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    drawn, times = [], []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as cache:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                env = {"SCVAE_CACHE_DIR": str(Path(tmp) / "cache") if args.cold else cache}
                with running_server(Path(tmp), **env) as srv:
                    shot = args.screenshot if i == args.repeats - 1 else None
                    page_s, data_s = first_view_seconds(browser, srv["url"], shot)
                    drawn.append(page_s)
                    times.append(data_s)
        browser.close()
    result = json.dumps({
        "benchmark": "first_data_view", "cold_cache": args.cold,
        "page_drawn_s": [round(t, 2) for t in drawn],
        "seconds_after_health_ok": [round(t, 2) for t in times],
        "median_page_drawn_s": round(statistics.median(drawn), 2),
        "median_s": round(statistics.median(times), 2)}, indent=2)
    print(result)
    if args.out is not None:
        args.out.write_text(result + "\n")


if __name__ == "__main__":
    main()
