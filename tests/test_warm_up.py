"""The app's background warm-up (app_pages/warm_up.py) and the data check it fills in advance."""
from __future__ import annotations

import shutil
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from app_pages import warm_up
from app_pages.shared import data_folders


@pytest.fixture(autouse=True)
def no_earlier_warm_up():
    """An app run in an earlier test (AppTest of app.py) starts the real warm-up in this process:
    let it finish before these tests patch the module it reads."""
    if warm_up._thread is not None:
        warm_up._thread.join(120)


def test_the_warm_up_waits_while_a_page_runs_and_starts_once(monkeypatch):
    monkeypatch.setattr(warm_up, "_thread", None)
    monkeypatch.setattr(warm_up, "_running", 0)
    monkeypatch.setattr(warm_up, "QUIET_SECONDS", 0.3)
    monkeypatch.setattr(warm_up, "MODULES", ("json",))
    checked = threading.Event()
    monkeypatch.setattr(warm_up, "_check_default_data", checked.set)
    imported = []
    monkeypatch.setattr(warm_up, "importlib",  # this module's importlib only, not the real one
                        SimpleNamespace(import_module=lambda name: imported.append((name, warm_up.quiet()))))

    with warm_up.script_running():
        assert not warm_up.quiet()  # a page is running
    assert warm_up._thread is not None and warm_up.start() is None  # started by the first page, never again
    assert checked.wait(5)  # the data check runs at once
    with warm_up.script_running():  # a second page, right away: the import waits for it and a pause
        time.sleep(0.2)
        assert imported == []
        ended = time.monotonic()
    deadline = time.monotonic() + 5
    while not imported and time.monotonic() < deadline:
        time.sleep(0.02)
    assert imported == [("json", True)]
    assert time.monotonic() - ended >= 0.3


def test_a_failing_warm_up_step_is_logged_and_the_rest_still_runs(monkeypatch, caplog):
    monkeypatch.setattr(warm_up, "_thread", None)
    monkeypatch.setattr(warm_up, "_running", 0)
    monkeypatch.setattr(warm_up, "_last_end", 0.0)
    monkeypatch.setattr(warm_up, "MODULES", ("no_such_module_here", "json"))
    monkeypatch.setattr(warm_up, "_check_default_data", lambda: None)
    thread = warm_up.start()
    thread.join(10)
    assert "importing no_such_module_here failed" in caplog.text
    assert "json" in sys.modules


def test_the_data_check_sees_clips_added_after_it_ran(tiny_toy_root, tmp_path):
    """Train's data check is kept per process (the warm-up fills it), so it must notice new clips."""
    root = tmp_path / "data"
    shutil.copytree(tiny_toy_root, root)
    before = data_folders.data_check([root])
    train = root / "fan" / "train"
    source = sorted(train.iterdir())[0]
    time.sleep(0.01)  # a new modification time for the folder
    shutil.copy(source, train / "normal_id_00_99999999.wav")
    after = data_folders.data_check([root])
    assert after["clips"] == before["clips"] + 1
    assert data_folders.data_check([root]) is after  # unchanged folders: the kept result
    assert data_folders.data_check([tmp_path / "missing"])["error"]
