"""Background training runs (asdcore.jobs.launcher): a started run is listed at once, trains to the end in
its own process, waits its turn behind a running one, and a cancel ends it "cancelled" whether it
is waiting or training."""
import os
import subprocess
import sys
import time

import pytest

from asdcore.jobs import launcher
from asdcore.jobs.launcher import LaunchError
from asdcore.recipes import resolve
from asdcore.runs import Run, mark_queued, pid_alive, write_json_atomic

pytestmark = pytest.mark.slow  # most tests here start a training process

TINY = {"epochs": 1, "eval.umap": False}  # the cheapest evaluated run: one epoch, no UMAP


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    # the spawned training processes inherit this: two of them share a small CPU without fighting
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def running_blocker(runs_dir, name="someone-else-training"):
    """A run folder that reads as "running" (this test process is its pid): later runs queue behind it."""
    folder = runs_dir / name
    mark_queued(folder, resolve("stgram-ce", "tiny"))
    status = Run(folder).status
    write_json_atomic(folder / "status.json", dict(status, state="running", pid=os.getpid(),
                                                   created=time.time() - 60))
    return folder


def finish(folder):
    status = Run(folder).status
    write_json_atomic(folder / "status.json", dict(status, state="finished"))


def test_a_started_run_is_listed_at_once_and_trains_to_finished(tiny_toy_root, tmp_path):
    runs_dir = tmp_path / "runs"
    run_dir = launcher.start_training("dcase-ae", "tiny", [tiny_toy_root], TINY, "cpu", runs_dir)
    run = Run(run_dir)
    # listed before the process has done anything: the app shows it immediately
    assert run_dir.parent == runs_dir and run.state in ("queued", "running")
    assert run.config["train"]["epochs"] == 1 and run.config["eval"]["umap"] is False
    assert run.config["data"]["roots"] == [str(tiny_toy_root)] and run.config["device"] == "cpu"
    assert run.status["pid"] != os.getpid()  # the child's pid, not the app's
    assert launcher.wait_for(run, timeout=300) == "finished", run.log_tail() + run.status.get("error", "")
    assert run.has_eval and run.eval_metrics()["recipe"] == "dcase-ae"
    assert (run_dir / launcher.STDOUT_LOG).exists()
    with pytest.raises(LaunchError, match="finished: nothing to cancel"):
        launcher.cancel(run)


def test_cancel_a_waiting_run_then_a_training_one(tiny_toy_root, tmp_path):
    runs_dir = tmp_path / "runs"
    blocker = running_blocker(runs_dir)
    waiting = Run(launcher.start_training("stgram-ce", "tiny", [tiny_toy_root], TINY, "cpu", runs_dir))
    time.sleep(2.0)
    assert waiting.state == "queued"  # one training at a time per runs folder
    pid = launcher.cancel(waiting)
    assert launcher.wait_for(waiting, timeout=30) == "cancelled"
    assert "queued" in waiting.status["message"]
    _gone(pid)

    finish(blocker)
    training = Run(launcher.start_training("stgram-ce", "tiny", [tiny_toy_root], TINY, "cpu", runs_dir))
    launcher.wait_for(training, states=("running",), timeout=60)
    pid = launcher.cancel(training)
    assert launcher.wait_for(training, timeout=120) == "cancelled"
    assert training.status["message"] == "cancelled by the user"
    _gone(pid)


def test_a_cancelled_run_resumes_at_the_back_of_the_queue(tiny_toy_root, tmp_path):
    runs_dir = tmp_path / "runs"
    running_blocker(runs_dir)
    run = Run(launcher.start_training("stgram-ce", "tiny", [tiny_toy_root], TINY, "cpu", runs_dir))
    launcher.cancel(run)
    assert launcher.wait_for(run, timeout=30) == "cancelled"
    before = run.status["created"]
    launcher.resume_training(run)
    assert run.state == "queued" and run.status["created"] > before
    with pytest.raises(LaunchError, match="only a failed or cancelled run"):
        launcher.resume_training(run)
    launcher.cancel(run)
    assert launcher.wait_for(run, timeout=30) == "cancelled"


def test_bad_input_is_refused_before_anything_is_written(tiny_toy_root, tmp_path):
    runs_dir = tmp_path / "runs"
    cases = [
        (("stgram-ce", "tiny", [tmp_path / "no-such-data"], {}, "cpu"), "no-such-data does not exist"),
        (("no-such-recipe", "tiny", [tiny_toy_root], {}, "cpu"), "unknown recipe 'no-such-recipe'"),
        (("stgram-ce", "huge", [tiny_toy_root], {}, "cpu"), "unknown preset 'huge'"),
        (("stgram-ce", "tiny", [tiny_toy_root], {"epochs": 0}, "cpu"), "train.epochs must be >= 1, got 0"),
        (("stgram-ce", "tiny", [tiny_toy_root], {"train.epoch": 3}, "cpu"), "unknown setting 'train.epoch'"),
        (("stgram-ce", "tiny", [tiny_toy_root], {}, "tpu"), "device must be one of auto, cpu, cuda, got 'tpu'"),
        (("stgram-ce", "tiny", [], {}, "cpu"), "no data set given"),
    ]
    for args, message in cases:
        with pytest.raises(LaunchError, match=message.replace("(", r"\(").replace(")", r"\)")):
            launcher.start_training(*args, runs_dir=runs_dir)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_cancel_never_signals_a_process_that_is_not_a_training_run(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = running_blocker(runs_dir, "stale-pid")
        status = Run(folder).status
        write_json_atomic(folder / "status.json", dict(status, pid=stranger.pid))  # a reused pid
        with pytest.raises(LaunchError, match="not an asdcore training process"):
            launcher.cancel(Run(folder))
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
    bundled = tmp_path / "bundled"
    monkeypatch.setenv("ASD_BUNDLED", str(bundled))
    running_blocker(bundled, "shipped")
    with pytest.raises(LaunchError, match="bundled"):
        launcher.cancel(Run(bundled / "shipped"))


def test_the_same_run_as_a_command_line(tiny_toy_root):
    line = launcher.cli_command("tastgram-arcface", "quick", [tiny_toy_root], {"m": 0.5, "lr": 1e-4}, "cuda")
    assert line.startswith("python -m asdcore train --recipe tastgram-arcface --preset quick --data ")
    assert "--set m=0.5 --set lr=0.0001 --device cuda" in line


def _gone(pid, timeout=10.0):
    deadline = time.time() + timeout
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid), f"pid {pid} still alive after cancel"
