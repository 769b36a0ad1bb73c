"""Running one app page with streamlit.testing.v1.AppTest, as app.py's navigation would."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_page(name: str, **query) -> AppTest:
    """The AppTest of app_pages/<name>.py after its first run, with the given URL query
    parameters; fails the test on any exception the page raised."""
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / f"{name}.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = str(value)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
