"""Bad recordings among good ones: every bad file is named with its reason, in `data check`, in the
training log and metrics, and on the Train page; the good files still train; nothing crashes.

One folder holds the tiny toy set's fan and pump clips plus, among fan's training clips, a truncated
WAV, a WAV with a broken header, an empty file, a text file named .wav, an 8-channel file, 44.1, 48
and 8 kHz files, 24-bit and float files, a 0.3 s and a 60 s clip, NaN and infinite samples, a silent
clip and a name no layout knows.  Its path holds a space and a non-ASCII letter, and it is read-only.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from apptest import run_page

from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def bad_name(i: int) -> str:
    return f"normal_id_00_{90000000 + i:08d}.wav"


# file -> the words its line must hold; SKIPPED files cannot be used, USABLE ones train with a note
SKIPPED = {bad_name(1): "truncated", bad_name(2): "not audio / unreadable", bad_name(3): "empty file",
           bad_name(4): "not audio / unreadable", bad_name(13): "10 NaN or infinite", bad_name(14): "1 NaN or infinite",
           "recording from monday.wav": "name not understood"}
USABLE = {bad_name(5): "8 channels", bad_name(6): "44100 Hz", bad_name(7): "48000 Hz", bad_name(8): "8000 Hz",
          bad_name(11): "only 0.30 s long", bad_name(12): "60.0 s long", bad_name(15): "silent"}
PLAIN = (bad_name(9), bad_name(10))  # 24-bit and float: read like any clip, nothing to say


@pytest.fixture(scope="module")
def bad_root(tiny_toy_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "my recordings é"
    for machine_type in ("fan", "pump"):
        shutil.copytree(tiny_toy_root / machine_type, root / machine_type)
    train = root / "fan" / "train"
    good, sr = sf.read(sorted(train.glob("*.wav"))[0], dtype="float32")

    def write(i, x, rate=sr, subtype="PCM_16"):
        sf.write(train / bad_name(i), x, rate, subtype=subtype)

    write(1, good)
    data = (train / bad_name(1)).read_bytes()
    (train / bad_name(1)).write_bytes(data[:len(data) // 3])  # a copy interrupted a third of the way
    (train / bad_name(2)).write_bytes(b"RIFF\0\0\0\0WAVEjunk" + (good * 3e4).astype("<i2").tobytes()[:1000])
    (train / bad_name(3)).write_bytes(b"")
    (train / bad_name(4)).write_text("this is not audio\n")
    write(5, np.tile(good[:, None], (1, 8)))
    for i, rate in ((6, 44100), (7, 48000), (8, 8000)):
        write(i, resample_poly(good, rate, sr).astype(np.float32), rate)
    write(9, good, subtype="PCM_24")
    write(10, good, subtype="FLOAT")
    write(11, good[:int(0.3 * sr)])
    write(12, np.tile(good, 30)[:60 * sr])
    nan, inf = good.copy(), good.copy()
    nan[100:110], inf[5] = np.nan, np.inf
    write(13, nan, subtype="FLOAT")
    write(14, inf, subtype="FLOAT")
    write(15, np.zeros_like(good))
    sf.write(train / "recording from monday.wav", good, sr)
    # read-only, as a shared data folder often is: nothing may need to write beside the clips
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield root
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def listing(root: Path) -> dict:
    """Every file and folder under root with its size and modification time."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in [root, *root.rglob("*")]}


def test_data_check_names_every_bad_file_with_its_reason(bad_root):
    proc = subprocess.run([sys.executable, "-m", "asdcore", "data", "check", str(bad_root)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # the good clips are usable
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    problems = lines[lines.index("7 problem file(s):") + 1:]
    notes = lines[lines.index("7 usable file(s) to look at:") + 1:lines.index("7 problem file(s):")]
    for name, words in SKIPPED.items():
        assert any(f"{bad_root}/fan/train/{name}: " in line and words in line for line in problems), name
    for name, words in USABLE.items():
        assert any(f"{bad_root}/fan/train/{name}: " in line and words in line for line in notes), name
    assert not any(name in proc.stdout for name in PLAIN)  # 24-bit and float clips are fine as they are
    # fan id_00's training normals: the tiny set's 8, and the 9 odd but usable files
    assert re.search(r"^\s*fan\s+id_00\s+4\s+4\s+17$", proc.stdout, re.M), proc.stdout


def test_training_skips_bad_files_names_them_and_trains_on_the_rest(bad_root, tmp_path, monkeypatch):
    before = listing(bad_root)
    runs = tmp_path / "runs"
    config = resolve("stgram-arcface", "tiny", {"data.roots": [str(bad_root)], "device": "cpu",
                                                "train.epochs": 1, "eval.umap": False,
                                                "data.max_train_clips_per_class": None})
    train_run(config, runs / "bad-data", progress=False)
    run = runs / "bad-data"
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    log = (run / "train.log").read_text()
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    for name, words in SKIPPED.items():
        assert any(name in line and words in line for line in log.splitlines()), name
        assert any(name in line and words in line for line in metrics["skipped_files"]), name
    # the usable odd files train with the good ones: 17 fan id_00 clips, 8 of each other ID
    n_train, n_val = map(int, re.search(r"(\d+) training clips, (\d+) validation", log).groups())
    assert n_train + n_val == 17 + 3 * 8
    assert listing(bad_root) == before  # nothing written into (or beside) the data

    # the Train page shows the finished run with the files it skipped
    monkeypatch.setenv("ASD_RUNS", str(runs))
    at = run_page("train", run="bad-data")
    warning = "\n".join(w.value for w in at.warning)
    assert "7 file(s) of the data could not be used" in warning
    for name in SKIPPED:
        assert name in warning


def test_train_page_names_bad_files_before_training_without_crashing(bad_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    at = run_page("train")
    next(w for w in at.radio if w.label == "Data").set_value("Folders on this machine").run()
    next(w for w in at.text_area if w.label == "Data-set folders, one per line").input(str(bad_root)).run()
    assert not at.exception, [e.message for e in at.exception]
    warning = "\n".join(w.value for w in at.warning)
    info = "\n".join(w.value for w in at.info)
    assert "7 file(s) cannot be used and will be skipped" in warning
    for name, words in SKIPPED.items():
        assert any(name in line and words in line for line in warning.splitlines()), name
    assert "7 usable file(s) to look at" in info
    shown = info.splitlines()
    for name, words in USABLE.items():
        assert any(name in line and words in line for line in shown), name
    assert not next(w for w in at.button if w.label == "Start training").disabled  # the good clips can train


def test_an_empty_folder_is_refused_with_a_reason(tmp_path):
    empty = tmp_path / "empty folder ü"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "asdcore", "data", "check", str(empty)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no usable clips found" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", "stgram-arcface", "--preset", "tiny",
                           "--data", str(empty), "--run-dir", str(tmp_path / "run"), "--quiet"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"no training normals under {empty}" in proc.stdout + proc.stderr
