"""Faults during training: a non-finite loss stops the run with where it happened and why; a full
disk fails the run cleanly and leaves the previous checkpoint whole, so the run resumes."""
from __future__ import annotations

import errno
import json

import numpy as np
import pytest
import torch

from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve
from asdcore.runtime import Waveforms, load_checkpoint


def test_clips_that_turn_nan_stop_the_run_with_their_names_and_the_batch(tiny_toy_root, tmp_path, monkeypatch):
    # the scan skips files holding NaN samples (tests/test_bad_input.py); a clip can still turn
    # non-finite later (a file rewritten while the run reads it): the first clip of every batch does here
    batch = Waveforms.batch

    def poisoned(self, index):
        out = batch(self, index).clone()
        out[0, 100:110] = float("nan")
        return out

    monkeypatch.setattr(Waveforms, "batch", poisoned)
    config = resolve("stgram-arcface", "tiny", {"data.roots": [str(tiny_toy_root)], "device": "cpu"})
    with pytest.raises(FloatingPointError) as err:
        train_run(config, tmp_path / "run", progress=False)
    message = str(err.value)
    assert "in epoch 1, batch 1 of" in message and "1 clip(s) of that batch hold NaN or infinite samples" in message
    assert str(tiny_toy_root) in message  # the clip is named by its path
    assert "train.lr" not in message  # not the advice for a diverging run
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "in epoch 1, batch 1" in status["error"]


def test_a_diverging_run_stops_with_the_batch_and_the_advice_to_lower_the_learning_rate(tiny_toy_root, tmp_path):
    config = resolve("stgram-arcface", "tiny", {"data.roots": [str(tiny_toy_root)], "device": "cpu",
                                                "train.lr": 1e30})
    with pytest.raises(FloatingPointError, match="every clip of the batch finite: the training diverged") as err:
        train_run(config, tmp_path / "run", progress=False)
    assert "in epoch 1, batch" in str(err.value) and "train.lr" in str(err.value)


def test_a_full_disk_fails_the_run_and_leaves_the_last_checkpoint_whole(tiny_toy_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = resolve("dcase-ae", "tiny", {"data.roots": [str(tiny_toy_root)], "device": "cpu", "train.epochs": 2,
                                          "eval.umap": False})
    save = torch.save

    def disk_fills_in_epoch_2(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2 and "checkpoint" in getattr(f, "name", ""):
            f.write(b"\0" * 4096)  # part of the file made it to the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_fills_in_epoch_2)
    with pytest.raises(OSError, match="No space left on device"):
        train_run(config, run, progress=False)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed"
    assert "No space left on device" in status["error"] and "the previous checkpoint.pt is unchanged" in status["error"]
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1  # epoch 1's, whole
    assert not list(run.glob(".*.tmp"))  # the partial file is gone
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1]

    monkeypatch.setattr(torch, "save", save)  # space freed: the run resumes and finishes
    train_run(None, run, resume=True, progress=False)
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert np.isfinite(json.loads((run / "eval" / "metrics.json").read_text())["average"]["auc"])
