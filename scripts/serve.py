"""Serve the app as `make run` does: `streamlit run app.py [streamlit options]`, with the modules
that any first page needs (numpy, pandas, pyarrow, the data scanner, the run folders) imported
before the server starts listening.

    .venv/bin/python scripts/serve.py --server.port 8501

Streamlit imports nothing of the app until a browser connects, so without this the first visitor
of a fresh server waits ~1 s for these imports (2-core CPU).  The heavier modules that only
later pages need (sklearn, torch) are imported in the background after the first page
(app_pages/warm_up.py).  `streamlit run app.py` serves the same app without the head start.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow  # noqa: F401

import asdcore.data  # noqa: F401
import asdcore.melspec  # noqa: F401
import asdcore.runs  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
