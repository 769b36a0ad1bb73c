"""Shared mode in a real browser: two sessions at once (two Chromium contexts, so two Streamlit
sessions with their own session_state) on one shared server.  Both see the banner; the session
named as the owner of a queued run gets its Cancel button, the other does not.
"""
from __future__ import annotations

import os
import time

import browser_driver
import pytest
from browser import chromium_page, goto, require_browser, streamlit_server, wait_for_app  # noqa: F401
from browser_driver import CHROMIUM, CHROMIUM_ARGS, RunCounter, finished_runs
from playwright.sync_api import sync_playwright

from asdcore import shared_mode
from asdcore.recipes import resolve
from asdcore.runs import Run, mark_queued, write_json_atomic

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shared_server(tiny_toy_root, tmp_path_factory):
    require_browser()
    runs = tmp_path_factory.mktemp("browser-shared-runs")
    # a run of "ada" that reads as queued (this test's pid is alive) and never trains
    folder = runs / "1-ada"
    mark_queued(folder, resolve("stgram-ce", "tiny"))
    write_json_atomic(folder / "status.json", dict(Run(folder).status, state="queued", pid=os.getpid(),
                                                   created=time.time()))
    shared_mode.write_owner(folder, "ada")
    env = {"ASD_SHARED": "1", "ASD_RUNS": str(runs), "ASD_DATA": str(tiny_toy_root),
           "ASD_BUNDLED": str(runs / "none"), "ASD_SHARED_MIN_FREE_GB": "0"}
    with streamlit_server(env) as url:
        yield url, folder.name


def _new_page(browser):
    # a context per visitor: its own cookies and websocket, so its own Streamlit session
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    browser_driver._counters[id(page)] = RunCounter(page)
    return page


def test_two_sessions_see_the_banner_and_only_the_owner_can_cancel(shared_server):
    url, run_id = shared_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ada, bob = _new_page(browser), _new_page(browser)
            goto(ada, f"{url}/train?run={run_id}")
            goto(bob, f"{url}/train?run={run_id}")
            for page in (ada, bob):
                assert page.get_by_text("Shared lab", exact=False).count() >= 1
            # ada names her session; bob keeps his generated name
            since = finished_runs(ada)
            field = ada.get_by_role("textbox", name="Your name on this shared server")
            field.fill("ada")
            field.press("Enter")
            wait_for_app(ada, since)
            ada.get_by_role("button", name="Cancel this run").wait_for(timeout=30_000)
            assert bob.get_by_role("button", name="Cancel this run").count() == 0
            assert bob.get_by_text("Only ada may cancel this run", exact=False).count() >= 1
        finally:
            browser.close()
