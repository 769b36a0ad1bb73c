"""Helpers for the real-browser tests: a `streamlit run` server on a free localhost port and
Debian's Chromium driven by Playwright (whose own browser download is not possible here)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ASD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_browser() -> None:
    """Skip (locally) or fail (in CI, where .ci/run sets ASD_REQUIRE_BROWSER) without Chromium."""
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("ASD_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(env: dict, timeout: float = 90.0):
    """`streamlit run app.py` on a free port; yields the base URL; stops it afterwards."""
    port = free_port()
    import tempfile

    log = open(Path(tempfile.mkdtemp(prefix="asd-streamlit-")) / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (see {log.name})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def chromium_page(viewport=(1400, 1000)):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Wait until the page's script has run: content is on the page and Streamlit's 'Running...'
    icon has been gone for a moment (timed fragments may flash it again later)."""
    page.wait_for_selector('[data-testid="stMain"] [data-testid="stElementContainer"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const running = document.querySelector('%s');
            const now = Date.now();
            if (running) { window.__asdIdleSince = null; return false; }
            window.__asdIdleSince = window.__asdIdleSince || now;
            return now - window.__asdIdleSince > 400;
        }""" % RUNNING.replace("'", "\\'"), timeout=timeout_ms, polling=100)
