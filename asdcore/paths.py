"""Where things live by default: one place for the project's folders.

The default data set is the toy factory's `default` preset under `data/toy`, made by
`make data`.  `ASD_DATA` and `ASD_RUNS` override the data set and the runs folder.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_root() -> Path:
    return Path(os.environ.get("ASD_DATA", PROJECT_ROOT / "data" / "toy")).expanduser()


def runs_root() -> Path:
    return Path(os.environ.get("ASD_RUNS", PROJECT_ROOT / "runs")).expanduser()


def bundled_runs_root() -> Path:
    """The read-only runs that ship with the project (`ASD_BUNDLED` overrides, for development)."""
    return Path(os.environ.get("ASD_BUNDLED", PROJECT_ROOT / "checkpoints")).expanduser()
