"""Prepare, in the background and between page runs, what later pages would otherwise wait for.

Once per server process, after its first page: check the default data set (the Train page's data
check), then import sklearn (~1 s on a 2-core CPU; Compare), torch (~2.5 s; the Margin lab) and
torch._dynamo (~2.5 s more, which a process's first torch optimizer pulls in: the Margin lab's
Train button).  app.py wraps every page run in `script_running()`, which starts the warm-up.

Imports hold the GIL, so a page running beside one slows down, and badly when it does many short
reads (each read hands the GIL over and waits for it back).  So the warm-up imports one module at
a time, and only once no page script has run for QUIET_SECONDS (the browser's follow-up requests,
audio and the like, are served first).  A page started in the middle of an import still shares
the CPU with it until that module is done.  The data check, the Train page's slowest part when
it shares (thousands of short header reads), runs at once, before anyone can click to Train.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from contextlib import contextmanager

from asdcore.paths import default_data_root
from app_pages.shared.data_folders import data_check

# in the order a newcomer's clicks need them: Train, Compare, then the Margin lab
MODULES = ("asdcore.jobs.launcher", "sklearn.metrics", "asdcore.compare", "torch", "asdcore.marginlab", "torch._dynamo")
QUIET_SECONDS = 0.5

_lock = threading.Lock()
_running = 0
_last_end = 0.0
_thread: threading.Thread | None = None  # once started


@contextmanager
def script_running():
    """Around a page script run: the warm-up does not start an import while one is running."""
    global _running, _last_end
    with _lock:
        _running += 1
    try:
        yield
    finally:  # also when the page stops early (st.stop) or asks for a rerun
        with _lock:
            _running -= 1
            _last_end = time.monotonic()
        start()


def quiet() -> bool:
    """No page script is running, and none has ended in the last QUIET_SECONDS."""
    with _lock:
        return _running == 0 and time.monotonic() - _last_end >= QUIET_SECONDS


def _check_default_data() -> None:
    if default_data_root().is_dir():
        data_check([default_data_root()])


def _warm_up() -> None:
    steps = [("checking the default data set", _check_default_data)]
    steps += [(f"importing {name}", lambda name=name: importlib.import_module(name)) for name in MODULES]
    for i, (what, step) in enumerate(steps):
        # the data check at once (0.2 s, done before a quick click lands); the imports in a pause
        while i > 0 and not quiet():
            time.sleep(0.05)
        try:
            step()
        except Exception as exc:  # the page that needs it shows the error itself
            logging.getLogger(__name__).warning("warm-up: %s failed: %s", what, exc)


def start() -> threading.Thread | None:
    """Start the warm-up thread, once per process; returns it the first time, else None."""
    global _thread
    with _lock:
        if _thread is not None:
            return None
        _thread = threading.Thread(target=_warm_up, name="asd-warm-up", daemon=True)
    _thread.start()
    return _thread
