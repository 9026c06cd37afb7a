"""Issue 19, items 6 and 7: the app and its figure files make no request off the machine.

The server runs with a Python audit hook (``socket.connect`` / ``socket.getaddrinfo``) that
records any non-loopback destination, and Chromium's requests are intercepted by Playwright:
both lists must stay empty while every page is opened. Exports are checked on the page that
kaleido renders and on the HTML file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT, _free_port, save_screenshot, wait_idle

LOCAL = {"127.0.0.1", "localhost", "::1", "", None}
HOOK = '''
import sys
def _hook(event, args):
    if event == "socket.connect":
        addr = args[1]
        host = addr[0] if isinstance(addr, tuple) else str(addr)
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return
    if host not in (None, "", "127.0.0.1", "localhost", "::1") and not str(host).startswith("/"):
        with open(__import__("os").environ["SCVAE_NET_LOG"], "a") as fh:
            fh.write(f"{event} {host}\\n")
sys.addaudithook(_hook)
'''


def test_figure_exports_load_nothing_from_the_network():
    import plotly.graph_objects as go
    from kaleido import _page_generator

    from core.pl.export import figure_html, figure_image

    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    html = figure_html(fig)
    assert re.findall(r"<script[^>]*\bsrc=", html) == []     # plotly.js is inside the file
    assert len(html) > 1_000_000
    pages: list[str] = []
    original = _page_generator.PageGenerator.generate_index

    def spy(self, *args, **kwargs):
        pages.append(original(self, *args, **kwargs))
        return pages[-1]

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("kaleido needs Chromium")
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    _page_generator.PageGenerator.generate_index = spy
    try:
        png = figure_image(fig, "png")
    finally:
        _page_generator.PageGenerator.generate_index = original
    assert png[:4] == b"\x89PNG"
    sources = [s for p in pages for s in re.findall(r'src="([^"]+)"', p)]
    assert sources and all(s.startswith("file://") for s in sources), sources


EXPORT = r'''
import os
import plotly.graph_objects as go
from core.pl.export import figure_html, figure_image
fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]), layout_title_text="$\\beta$-VAE")
png, svg, html = figure_image(fig, "png"), figure_image(fig, "svg"), figure_html(fig)
print(png[:4] == b"\x89PNG", b"<svg" in svg[:400], len(html) > 1_000_000)
'''


def test_exports_work_in_a_network_namespace_with_nothing_attempted(tmp_path):
    """PNG, SVG (kaleido + Chromium) and HTML export in a namespace with no network at all
    (``unshare -rn``: only a loopback), with the audit hook recording any attempt."""
    import shutil

    if not shutil.which("unshare") or not Path("/usr/bin/chromium").exists():
        pytest.skip("needs unshare (util-linux) and Chromium")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unprivileged network namespaces are not allowed here")
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    env = {**os.environ, "SCVAE_NET_LOG": str(tmp_path / "net"), "BROWSER_PATH":
           "/usr/bin/chromium", "PYTHONPATH": f"{tmp_path / 'hook'}{os.pathsep}{ROOT}"}
    out = subprocess.run(["unshare", "-rn", "sh", "-c", 'ip link set lo up 2>/dev/null; '
                          f'exec "{sys.executable}" -c "$0"', EXPORT], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr[-2000:]
    assert not (tmp_path / "net").exists(), (tmp_path / "net").read_text()


def _start(tmp: Path) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` with the project's config (no --server.address given)."""
    (tmp / "hook").mkdir()
    (tmp / "hook" / "sitecustomize.py").write_text(HOOK)
    port = _free_port()
    env = {**os.environ, "SCVAE_RUNS_DIR": str(tmp / "runs"), "SCVAE_NET_LOG": str(tmp / "net"),
           "PYTHONPATH": f"{tmp / 'hook'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port)], cwd=ROOT, env=env,
                            stdout=open(tmp / "log", "w"), stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError((tmp / "log").read_text())


def test_app_binds_localhost_and_requests_nothing_outside(tmp_path, page, artifacts_dir):
    proc, url = _start(tmp_path)
    outside: list[str] = []

    def route(r):
        if urlparse(r.request.url).hostname in LOCAL or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    try:
        page.route("**/*", route)
        for path in ("", "train", "embedding", "network", "perturb", "predict"):
            page.goto(f"{url}/{path}")
            wait_idle(page)
        save_screenshot(page, artifacts_dir, "offline_predict")
        log = (tmp_path / "log").read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:   # a page script still running on busy cores
            proc.kill()
            proc.wait(timeout=10)
    net = (tmp_path / "net").read_text() if (tmp_path / "net").exists() else ""
    assert outside == []
    assert net == ""
    assert "External URL" not in log and "Network URL" not in log
    assert "URL: http://localhost:" in log
