"""The browser tests' helpers: the app driver of scripts/browser_driver.py (on the test path through
pyproject.toml's pytest `pythonpath`), and a check that Chromium is there."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_driver import (  # noqa: F401
    CHROMIUM,
    PAGES,
    PROJECT_ROOT,
    SERVER_PIDS,
    chromium_page,
    finished_runs,
    goto,
    rss_mb,
    streamlit_server,
    visit_every_page,
    wait_for_app,
)


def require_browser() -> None:
    """Skip (locally) or fail (in CI, where .ci/run sets ASD_REQUIRE_BROWSER) without Chromium."""
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("ASD_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)
