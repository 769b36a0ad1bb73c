"""Drive the app in a real browser: `streamlit run` served on a free localhost port (as `make run`
serves it) and Debian's Chromium driven by Playwright (whose own browser download is not possible
here).  Used by the browser tests (tests/browser.py) and by scripts/bench_pages.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import sync_playwright
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("ASD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_PIDS: dict[str, int] = {}  # base URL -> the pid of the server streamlit_server started there


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextmanager
def streamlit_server(env: dict, timeout: float = 90.0):
    """The app served as `make run` serves it (scripts/serve.py) on a free port; yields the base
    URL; stops it afterwards."""
    port = free_port()
    log = open(Path(tempfile.mkdtemp(prefix="asd-streamlit-")) / f"streamlit-{port}.log", "w")
    # started as `make run` starts it (scripts/serve.py: streamlit run app.py, a few imports ahead)
    proc = subprocess.Popen([sys.executable, "scripts/serve.py", "--server.port", str(port),
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
        SERVER_PIDS[url] = proc.pid
        yield url
    finally:
        SERVER_PIDS.pop(url, None)
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# A script run is over when the server sends its ForwardMsg `script_finished`: the tests count those
# from the page's websocket frames (decoded with Streamlit's own protobuf classes).  Runs cut short
# for a rerun, and fragment reruns, are not counted.  (The root element's data-test-script-state
# attribute is not enough: a fast run's running -> notRunning can be batched into one React render,
# so the attribute never changes.)
class RunCounter:
    """Full script runs finished in one page's websockets, all documents together."""

    def __init__(self, page):
        self.finished = 0
        self._message = ForwardMsg
        self._counted = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
        page.on("websocket", lambda ws: ws.on("framereceived", self._on_frame))

    def _on_frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        msg = self._message()
        msg.ParseFromString(payload)
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in self._counted:
            self.finished += 1


_counters: dict[int, RunCounter] = {}


@contextmanager
def chromium_page(viewport=(1400, 1000)):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            _counters[id(page)] = RunCounter(page)
            yield page
        finally:
            _counters.pop(id(page), None)
            browser.close()


def figure_png(fig, png: Path) -> None:
    """A plotly figure saved as a PNG: written as a self-contained HTML page and screenshotted by
    Chromium at the figure's own width and height (no plotting package beyond plotly)."""
    png = Path(png).resolve()
    html = png.with_suffix(".html")
    fig.write_html(html, include_plotlyjs=True)
    try:
        with chromium_page(viewport=(fig.layout.width, fig.layout.height)) as page:
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(png))
    finally:
        html.unlink()


def finished_runs(page) -> int:
    """How many script runs this page has seen finish: take it before a click or a goto and pass
    it to wait_for_app, so the wait is for the run that the action starts."""
    return _counters[id(page)].finished


def goto(page, url: str, timeout_ms: int = 60_000) -> None:
    """Open `url` and wait for its script run (wait_for_app)."""
    since = finished_runs(page)
    page.goto(url)
    wait_for_app(page, since, timeout_ms)


def wait_for_app(page, since: int, timeout_ms: int = 60_000) -> None:
    """Wait until a script run has finished after `since` (see finished_runs), no other run is
    going on, no element is still a loading skeleton and every plotly chart has drawn."""
    counter = _counters[id(page)]
    deadline = time.monotonic() + timeout_ms / 1000
    while counter.finished <= since:
        if time.monotonic() > deadline:
            shot = Path(tempfile.mkdtemp(prefix="asd-wait-")) / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            raise AssertionError(f"{page.url}: no script run finished within {timeout_ms} ms after run "
                                 f"{since} (screenshot {shot})")
        page.wait_for_timeout(20)  # lets Playwright deliver the websocket frames
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
            // a lazily loaded element (chart, table) is a skeleton until its code has loaded
            if (document.querySelector('[data-testid="stMain"] [data-testid="stSkeleton"]')) return false;
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            return [...charts].every(c => c.querySelector('.main-svg'));
        }""", timeout=max(1000, int((deadline - time.monotonic()) * 1000)), polling="raf")


# (url path, sidebar title), in the sidebar's order; Home is the default page, served at the root
PAGES = [("", "Home"), ("lessons", "Lessons"), ("train", "Train"), ("compare", "Compare"), ("angles", "Angles"),
         ("attention", "Attention"), ("embeddings", "Embeddings"), ("false-alarms", "False alarms"),
         ("score", "Score a clip"), ("margin-lab", "Margin lab")]


def visit_every_page(page, url: str, check=None) -> dict:
    """A newcomer's visit, each page's render timed (seconds until wait_for_app returns): Home
    first (on a fresh server, its first page), then every other page from the sidebar in order
    and Home again (each page's first render in this browser session), then every page from its
    URL (a shared link: a full page load).  check(page, how, path, title) runs after each page.
    Returns {"fresh": {"home": s}, "sidebar": {page: s}, "link": {page: s}}."""
    times = {"fresh": {}, "sidebar": {}, "link": {}}

    def timed(how: str, path: str, title: str, action) -> None:
        start = time.perf_counter()
        action()
        times[how][path or "home"] = round(time.perf_counter() - start, 2)
        if check is not None:
            check(page, how, path, title)

    def click(title: str) -> None:
        since = finished_runs(page)
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        wait_for_app(page, since)

    timed("fresh", "", "Home", lambda: goto(page, f"{url}/"))
    for path, title in PAGES[1:] + PAGES[:1]:
        timed("sidebar", path, title, lambda title=title: click(title))
    for path, title in PAGES:
        timed("link", path, title, lambda path=path: goto(page, f"{url}/{path}"))
    return times
