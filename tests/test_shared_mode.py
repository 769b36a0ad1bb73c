"""Shared mode (asdcore/shared_mode.py, issue 28): the allow-list, the preset, the quota, the queue
cap, the free-disk floor, own-runs-only cancel and resume, and the banner, in the module, through the
launcher and on the pages (AppTest).  Fake run folders, no training: a queued run is a folder whose
status.json names this test's (live) pid.
"""
from __future__ import annotations

import os
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest import PROJECT_ROOT, run_page

from asdcore import shared_mode
from asdcore.jobs import launcher
from asdcore.recipes import resolve
from asdcore.runs import Run, mark_queued, write_json_atomic


@pytest.fixture
def allowed(tmp_path) -> Path:
    folder = tmp_path / "allowed"
    (folder / "sub").mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def shared(monkeypatch, allowed, runs_dir, tiny_toy_root, tmp_path):
    """Shared mode on, with one allowed folder besides the default data set (tiny_toy_root)."""
    monkeypatch.setenv("ASD_SHARED", "1")
    monkeypatch.setenv("ASD_SHARED_DATA", str(allowed))
    monkeypatch.setenv("ASD_DATA", str(tiny_toy_root))
    monkeypatch.setenv("ASD_RUNS", str(runs_dir))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled"))
    monkeypatch.setenv("ASD_SHARED_QUOTA", "2")
    monkeypatch.setenv("ASD_SHARED_QUEUE_CAP", "3")
    monkeypatch.setenv("ASD_SHARED_MIN_FREE_GB", "0")
    return shared_mode.settings()


def fake_run(runs_dir: Path, name: str, owner: str | None, state: str = "queued") -> Run:
    """A run folder that reads as queued (or running) under this test's pid, owned by `owner`."""
    folder = runs_dir / name
    mark_queued(folder, resolve("stgram-ce", "tiny"))
    write_json_atomic(folder / "status.json", dict(Run(folder).status, state=state, pid=os.getpid(),
                                                   created=time.time() - 60))
    if owner:
        shared_mode.write_owner(folder, owner)
    return Run(folder)


# --- the settings and the allow-list ------------------------------------------------------------

def test_shared_mode_is_off_by_default_and_allows_everything():
    cfg = shared_mode.settings({})
    assert not cfg.enabled
    assert (cfg.max_preset, cfg.quota, cfg.queue_cap, cfg.min_free_gb) == ("quick", 3, 20, 5.0)
    shared_mode.check_new_run(cfg, None, "paper", ["/etc"], "/tmp", [])  # off: no rule applies


def test_a_bad_max_preset_is_named():
    with pytest.raises(shared_mode.SharedModeError, match="ASD_SHARED_MAX_PRESET='huge'"):
        shared_mode.settings({"ASD_SHARED": "1", "ASD_SHARED_MAX_PRESET": "huge"})


def test_allow_list_takes_listed_folders_and_their_subfolders_and_the_default(shared, allowed, tiny_toy_root):
    assert shared_mode.check_data_root(shared, allowed / "sub") == (allowed / "sub").resolve()
    shared_mode.check_data_root(shared, tiny_toy_root)  # the default data set is always allowed
    assert tiny_toy_root.resolve() in shared_mode.allowed_data_roots(shared)


def test_allow_list_refuses_outside_dotdot_and_symlink(shared, allowed, outside):
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    for path in (outside, allowed / ".." / "outside", allowed / "sub" / ".." / ".." / "outside",
                 allowed / "link", "/etc"):
        with pytest.raises(shared_mode.SharedModeError, match="not on this shared server's allow-list"):
            shared_mode.check_data_root(shared, path)


def test_the_launcher_refuses_a_path_outside_the_list(shared, outside, runs_dir):
    with pytest.raises(launcher.LaunchError, match=f"data folder {outside}.*allow-list"):
        launcher.start_training("stgram-ce", "tiny", [outside], runs_dir=runs_dir, owner="ada")
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing written


def test_the_paper_preset_is_refused_unless_allowed(shared, allowed, monkeypatch, runs_dir):
    with pytest.raises(launcher.LaunchError, match="preset 'paper' is larger.*up to 'quick'"):
        launcher.start_training("stgram-ce", "paper", [allowed], runs_dir=runs_dir, owner="ada")
    monkeypatch.setenv("ASD_SHARED_MAX_PRESET", "paper")
    shared_mode.check_preset(shared_mode.settings(), "paper")


def test_a_run_needs_a_session_name(shared, allowed, runs_dir):
    with pytest.raises(launcher.LaunchError, match="needs its session's name"):
        launcher.start_training("stgram-ce", "tiny", [allowed], runs_dir=runs_dir)


# --- quota, queue cap, disk floor ------------------------------------------------------------------

def test_the_quota_per_session(shared, allowed, runs_dir):
    fake_run(runs_dir, "1-ada", "ada", "running")
    fake_run(runs_dir, "2-ada", "ada")
    with pytest.raises(launcher.LaunchError, match="ada already has 2 runs queued or running, the quota "
                                                   "per session is 2"):
        launcher.start_training("stgram-ce", "tiny", [allowed], runs_dir=runs_dir, owner="ada")
    # another session is under its quota (only the cap is checked against it)
    shared_mode.check_capacity(shared, "bob", [Run(p) for p in runs_dir.iterdir()])


def test_two_starts_at_once_cannot_both_pass_a_quota_of_one(shared, allowed, runs_dir, monkeypatch):
    """Two clicks at the same instant (two threads of one app server, as two browser sessions are):
    the quota check and the new run's folder are one step under the launcher's lock, so exactly one
    run is created and the other click is refused by the quota."""
    monkeypatch.setenv("ASD_SHARED_QUOTA", "1")
    monkeypatch.setattr(launcher, "_spawn", lambda run_dir: None)  # the folders are what counts, no training
    real_check = shared_mode.check_new_run

    def slow_check(*args):
        real_check(*args)
        time.sleep(0.5)  # widens the gap between check and folder: without the lock both checks pass here

    monkeypatch.setattr(shared_mode, "check_new_run", slow_check)
    resolve("stgram-ce", "tiny")  # torch imported before the race, not by both threads at once
    start = threading.Barrier(2)
    made, refused = [], []

    def click():
        start.wait()
        try:
            made.append(launcher.start_training("stgram-ce", "tiny", [allowed], runs_dir=runs_dir, owner="ada"))
        except launcher.LaunchError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and [p.name for p in runs_dir.iterdir() if not p.name.startswith(".")] == [made[0].name]
    assert len(refused) == 1 and "ada already has 1 runs queued or running, the quota per session is 1" in refused[0]


def test_finished_runs_do_not_count_against_the_quota(shared, runs_dir):
    fake_run(runs_dir, "1-ada", "ada", "finished")
    fake_run(runs_dir, "2-ada", "ada", "cancelled")
    shared_mode.check_capacity(shared, "ada", [Run(p) for p in runs_dir.iterdir()])


def test_the_queue_cap(shared, allowed, runs_dir):
    fake_run(runs_dir, "1-ada", "ada")
    fake_run(runs_dir, "2-bob", "bob")
    fake_run(runs_dir, "3-cy", "cy")
    with pytest.raises(launcher.LaunchError, match="server already has 3 runs queued or running, its cap is 3"):
        launcher.start_training("stgram-ce", "tiny", [allowed], runs_dir=runs_dir, owner="dee")


def test_the_free_disk_floor(shared, allowed, runs_dir, monkeypatch):
    monkeypatch.setenv("ASD_SHARED_MIN_FREE_GB", "10")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shared_mode.shutil, "disk_usage", lambda path: usage(100e9, 98e9, 2e9))
    with pytest.raises(launcher.LaunchError, match=r"only 2\.0 GB free .* floor of 10 GB"):
        launcher.start_training("stgram-ce", "tiny", [allowed], runs_dir=runs_dir, owner="ada")
    monkeypatch.setattr(shared_mode.shutil, "disk_usage", lambda path: usage(100e9, 50e9, 50e9))
    shared_mode.check_disk(shared_mode.settings(), runs_dir)


# --- own runs only -------------------------------------------------------------------------------

def test_one_session_cannot_cancel_or_resume_anothers_run(shared, runs_dir):
    run = fake_run(runs_dir, "1-ada", "ada")
    with pytest.raises(launcher.LaunchError, match="1-ada belongs to ada, not to bob: only its owner may cancel"):
        launcher.cancel(run, owner="bob")
    with pytest.raises(launcher.LaunchError, match="only its owner may resume"):
        launcher.resume_training(run, owner="bob")
    with pytest.raises(launcher.LaunchError, match="not to this session"):
        launcher.cancel(run)  # no name at all
    assert run.state == "queued"  # untouched


def test_outside_shared_mode_anyone_may_cancel(runs_dir):
    run = fake_run(runs_dir, "1-ada", "ada")
    assert shared_mode.may_control(shared_mode.settings({}), None, run)


def test_train_page_hides_cancel_for_anothers_run_and_shows_it_for_ones_own(shared, runs_dir):
    run = fake_run(runs_dir, "1-ada", "ada")
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "train.py"), default_timeout=60)
    at.query_params["run"] = run.id
    at.session_state["shared_owner"] = "bob"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.label for b in at.button]
    assert "Cancel this run" not in labels
    captions = "\n".join(c.value for c in at.caption)
    assert "Started by **ada**" in captions and "Only ada may cancel this run" in captions
    # the data set is a choice from the list, not a free path
    assert not at.text_area and any(s.label == "Data set (this shared server's list)" for s in at.selectbox)
    # the owner's own session gets the button
    at.session_state["shared_owner"] = "ada"
    at.run()
    assert "Cancel this run" in [b.label for b in at.button]


# --- the Score a clip page: typed paths only inside the allow-list ------------------------------

CLIP = "fan/test/normal_id_00_00000000.wav"


def _score_page(path) -> AppTest:
    """The Score a clip page with a bundled run and `path` typed (as a shared link carries it)."""
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "score.py"), default_timeout=120)
    at.query_params["run"] = "tastgram-noisy-arcmix"
    at.query_params["path"] = str(path)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def score_clips(shared, monkeypatch, allowed, outside, default_toy_root):
    """A real clip in the allowed folder and one outside it; the bundled runs to score with."""
    monkeypatch.setenv("ASD_BUNDLED", str(PROJECT_ROOT / "checkpoints"))
    for folder in (allowed, outside):
        (folder / "fan" / "test").mkdir(parents=True)
        (folder / CLIP).write_bytes((default_toy_root / CLIP).read_bytes())
    return allowed / CLIP, outside / CLIP


def test_score_page_refuses_a_typed_path_outside_the_allow_list_by_any_way(score_clips, allowed, outside):
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    for typed in (outside / CLIP,                           # plainly outside
                  allowed / ".." / "outside" / CLIP,        # leaving the allowed folder by ..
                  allowed / "link" / CLIP,                  # by a symlink inside the allowed folder
                  allowed / "link"):                        # the symlinked folder itself
        at = _score_page(typed)
        errors = [e.value for e in at.error]
        assert errors == [f"Not read: data folder {typed} (really {os.path.realpath(typed)}) is not on this "
                          f"shared server's allow-list: {', '.join(str(r) for r in shared_mode.settings().data_roots)}"]
        assert not at.dataframe  # nothing read, nothing scored


def test_score_page_scores_a_typed_path_inside_the_allow_list(score_clips):
    inside, _ = score_clips
    at = _score_page(inside)
    assert not [e.value for e in at.error]
    assert at.dataframe[0].value["clip"].tolist() == ["normal_id_00_00000000.wav"]  # read and scored


# --- the banner ----------------------------------------------------------------------------------

def _app_texts(at: AppTest) -> str:
    return "\n".join(e.value for e in at.info)


def test_the_banner_is_on_every_page_in_shared_mode(shared):
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Shared lab" in _app_texts(at) and "at most 2 runs of yours" in _app_texts(at)


def test_no_banner_when_shared_mode_is_off(monkeypatch, tiny_toy_root, tmp_path):
    monkeypatch.delenv("ASD_SHARED", raising=False)
    monkeypatch.setenv("ASD_DATA", str(tiny_toy_root))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled"))
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Shared lab" not in _app_texts(at)


def test_train_page_without_shared_mode_keeps_the_free_path(monkeypatch, tiny_toy_root, tmp_path):
    monkeypatch.delenv("ASD_SHARED", raising=False)
    monkeypatch.setenv("ASD_DATA", str(tiny_toy_root))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled"))
    at = run_page("train")
    assert not any(w.label == "Your name on this shared server" for w in at.text_input)
    assert any(r.label == "Data" for r in at.radio)


def test_a_typed_name_becomes_the_sessions_name(shared, runs_dir):
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "train.py"), default_timeout=60)
    at.run()
    field = next(w for w in at.text_input if w.label == "Your name on this shared server")
    assert field.value.startswith("session-")  # a generated name until one is typed
    field.set_value("ada").run()
    assert at.session_state["shared_owner"] == "ada"
    run = fake_run(runs_dir, "1-ada", "ada")
    at.query_params["run"] = run.id
    at.run()
    assert "Cancel this run" in [b.label for b in at.button]
