"""Two trainings at once never mix their files: runs in two folders keep each its own, and a second
training of a folder already in training (a fresh `--run-dir`, or a `--resume`) is refused, naming
the process that holds it; a killed run's folder is free again at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asdcore.jobs.pipeline import claim

PROJECT_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # trainings in subprocesses


def train(run_dir: Path, data: Path, recipe: str = "dcase-ae", *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asdcore", "train", "--recipe", recipe, "--preset", "tiny",
                             "--data", str(data), "--run-dir", str(run_dir), "--quiet", "--set", "eval.umap=false",
                             *extra], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"), **popen)


def epochs_of(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines()] if path.exists() else []


def test_two_runs_at_once_keep_each_its_own_files(tiny_toy_root, tmp_path):
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    procs = [train(a, tiny_toy_root, "dcase-ae", "--set", "train.epochs=2"),
             train(b, tiny_toy_root, "stgram-ce", "--set", "train.epochs=1")]  # same data, same audio cache
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    for run, recipe, epochs in ((a, "dcase-ae", [1, 2]), (b, "stgram-ce", [1])):
        assert json.loads((run / "config.json").read_text())["recipe"] == recipe
        assert json.loads((run / "status.json").read_text())["state"] == "finished"
        assert epochs_of(run) == epochs  # each epoch once: no rows of the other run
        assert json.loads((run / "eval" / "metrics.json").read_text())["recipe"] == recipe
        log = (run / "train.log").read_text()
        assert log.startswith(f"{recipe} (tiny)") and log.count("finished") == 1


def test_a_folder_in_training_is_refused_to_a_second_training_and_freed_when_its_process_dies(tiny_toy_root,
                                                                                             tmp_path):
    run = tmp_path / "run"
    first = train(run, tiny_toy_root, "dcase-ae", "--set", "train.epochs=200")
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not epochs_of(run):
            assert first.poll() is None, first.communicate()
            time.sleep(0.3)
        assert epochs_of(run), "the first run trained no epoch in time"
        config_before = (run / "config.json").read_bytes()
        for extra in ([], ["--resume"]):  # a fresh training of the folder, and a resume of it
            second = subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", "stgram-ce", "--preset",
                                     "tiny", "--data", str(tiny_toy_root), "--run-dir", str(run), "--quiet", *extra],
                                    cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
            assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
            assert f"is being trained by another process (pid {first.pid})" in second.stderr
        assert (run / "config.json").read_bytes() == config_before  # the first run's files untouched
        assert json.loads((run / "status.json").read_text())["pid"] == first.pid
        first.send_signal(signal.SIGKILL)  # no handler runs: the kernel frees the lock with the process
        first.wait(timeout=30)
        os.close(claim(run))  # free for a --resume at once
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
