"""What a visitor types into the URL, or a hand-edited run folder, never reaches outside the runs
folder or the run's data roots: unknown run ids fall back to a listed run, and a clip path that
leaves its data root is refused before any file is read.  A clip file damaged after its run read it
is named on the pages, not a crash."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from apptest import run_page
from asdcore.runs import Run, list_runs

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"
ESCAPES = ["../../etc", "/etc/passwd", "..", "../checkpoints/stgram-ce", "stgram-ce/../../..", "%2e%2e%2fetc"]


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("ASD_RUNS", str(runs))
    return runs


def test_clip_paths_that_leave_the_data_root_are_refused(tmp_path):
    run = Run(BUNDLED / "stgram-arcface")
    root = run.data_roots()[0]
    assert run.clip_path({"root_index": 0, "path": "fan/test/anomaly_id_00_00000000.wav"}) == \
        Path(os.path.normpath(root / "fan/test/anomaly_id_00_00000000.wav"))
    for bad in ["../../../etc/passwd", "/etc/passwd", "fan/../../outside.wav"]:
        with pytest.raises(ValueError, match="leaves its data root"):
            run.clip_path({"root_index": 0, "path": bad})
    with pytest.raises(ValueError, match="names data root 3"):
        run.clip_path({"root_index": 3, "path": "fan/test/anomaly_id_00_00000000.wav"})


@pytest.mark.parametrize("page, key", [("embeddings", "run"), ("false_alarms", "run"), ("attention", "run"),
                                       ("train", "run"), ("angles", "runs"), ("compare", "runs")])
def test_run_ids_in_the_url_select_only_listed_runs(runs_dir, page, key):
    shutil.copytree(BUNDLED / "stgram-arcface", runs_dir / "mine")  # something to watch on the Train page
    listed = {r.id for r in list_runs()} | {f"bundled:{r.id}" for r in list_runs()}
    for escape in ESCAPES:
        at = run_page(page, **{key: escape})  # fails the test on any exception
        assert at.query_params[key], escape  # the page chose a run itself ...
        chosen = at.query_params[key][0] if isinstance(at.query_params[key], list) else at.query_params[key]
        assert all(i in listed for i in chosen.split(",")), (escape, chosen)  # ... among the listed ones
        assert escape not in chosen.split(",")


@pytest.mark.parametrize("page", ["attention", "false_alarms", "embeddings"])
def test_a_run_folder_edited_to_read_another_file_is_refused_on_the_pages(runs_dir, tmp_path, page):
    outside = tmp_path / "secret" / "outside.wav"  # real audio, readable, outside every data root
    outside.parent.mkdir()
    sf.write(outside, np.zeros(32000, dtype=np.float32), 16000)
    shutil.copytree(BUNDLED / "tastgram-arcface", runs_dir / "edited")
    root = Run(runs_dir / "edited").data_roots()[0]
    for name in ("clips.parquet", "train_clips.parquet"):
        clips = pd.read_parquet(runs_dir / "edited" / "eval" / name)
        clips["path"] = os.path.relpath(outside, root)
        clips.to_parquet(runs_dir / "edited" / "eval" / name)
    at = run_page(page, run="edited", clip=0)
    assert any("leaves its data root" in e.value for e in at.error)
    assert not at.get("audio")  # nothing was played


@pytest.mark.parametrize("page", ["attention", "false_alarms", "embeddings"])
def test_a_clip_file_damaged_after_the_run_is_named_on_the_pages(tmp_path, monkeypatch, page):
    root = tmp_path / "data"
    runs = tmp_path / "runs"
    shutil.copytree(BUNDLED / "tastgram-arcface", runs / "later-damaged")
    config = json.loads((runs / "later-damaged" / "config.json").read_text())
    config["data"]["roots"] = [str(root)]
    (runs / "later-damaged" / "config.json").write_text(json.dumps(config))
    damaged = root / "fan" / "test" / "anomaly_id_00_00000000.wav"
    damaged.parent.mkdir(parents=True)
    damaged.write_text("overwritten by a text file after the evaluation\n")
    for name in ("clips.parquet", "train_clips.parquet"):
        clips = pd.read_parquet(runs / "later-damaged" / "eval" / name)
        clips["path"] = "fan/test/anomaly_id_00_00000000.wav"  # every clip is that file now
        clips.to_parquet(runs / "later-damaged" / "eval" / name)
    monkeypatch.setenv("ASD_RUNS", str(runs))
    at = run_page(page, run="later-damaged", clip=0)  # fails the test on any exception
    shown = "\n".join(w.value for w in at.warning)
    assert f"{damaged}" in shown and "cannot be read as audio" in shown
    assert not at.get("audio")
