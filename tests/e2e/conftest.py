"""A real ``streamlit run`` server on a free port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_dir: Path, *, env_extra: dict[str, str] | None = None,
                 timeout: float = 90.0) -> tuple[subprocess.Popen, str, float]:
    """Start the app; return (process, base url, seconds until /_stcore/health said ok)."""
    port = _free_port()
    env = {**os.environ, "SCVAE_RUNS_DIR": str(tmp_dir / "runs"), **(env_extra or {})}
    log = open(tmp_dir / "streamlit.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError((tmp_dir / "streamlit.log").read_text())
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("streamlit did not answer /_stcore/health in time")


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory) -> Path:
    """Screenshots go here (under pytest's tmp dir; also copied to ./artifacts if it exists)."""
    return tmp_path_factory.mktemp("screenshots")


@contextmanager
def running_server(tmp_dir: Path, **env: str) -> Iterator[dict]:
    """A ``streamlit run`` server for the duration of a ``with`` block (env vars as keywords).

    Yields ``url``, ``startup_seconds``, ``log`` and ``runs`` (the server's runs directory).
    """
    proc, url, startup = start_server(tmp_dir, env_extra=env)
    try:
        yield {"url": url, "startup_seconds": startup, "log": tmp_dir / "streamlit.log",
               "runs": tmp_dir / "runs"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, artifacts_dir):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def save_screenshot(page, artifacts_dir: Path, name: str) -> Path:
    """Full-page screenshot under the pytest tmp dir (and ./artifacts when running in CI)."""
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("SCVAE_ARTIFACTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running…' status) and no
    element is still drawn faded from the previous run (``data-stale="true"``)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout,
    )


def choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the selectbox labelled ``label``.

    A rerun that lands while the dropdown is open (a chart finishing, an expander opening)
    closes it again, so the open-and-pick is retried a few times before failing.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.wait_for()
    item = page.get_by_role("option", name=option, exact=True)
    for attempt in range(attempts):
        wait_idle(page)
        box.click()
        try:
            item.click(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    wait_idle(page)


def open_app_page(page, url: str, dataset: str, nav: str, heading: str) -> None:
    """Open the app, wait for ``dataset`` to be loaded (app.py's first run, which sets up
    st.navigation), then click ``nav`` in the sidebar and wait for the page's ``heading``."""
    page.goto(url)
    wait_idle(page)
    page.get_by_text(dataset).first.wait_for()
    page.get_by_test_id("stSidebarNav").get_by_text(nav, exact=True).click()
    page.get_by_role("heading", name=heading).wait_for()


def assert_no_exception(page) -> None:
    """Fail if Streamlit shows an exception element anywhere on the page."""
    n = page.locator("[data-testid='stException']").count()
    assert n == 0, page.locator("[data-testid='stException']").first.inner_text()
