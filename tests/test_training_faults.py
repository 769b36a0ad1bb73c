"""Faults during training: a non-finite loss stops the run with where it happened and why."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve


def test_clips_with_nan_samples_stop_the_run_with_their_names_and_the_batch(tiny_toy_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_toy_root, root)
    # every training clip of one machine ID gets NaN samples: some batch of the first epoch holds one
    poisoned = sorted((root / "fan" / "train").glob("normal_id_00_*.wav"))
    for path in poisoned:
        x, sr = sf.read(path, dtype="float32")
        x[100:110] = np.nan
        sf.write(path, x, sr, subtype="FLOAT")
    config = resolve("stgram-arcface", "tiny", {"data.roots": [str(root)], "device": "cpu"})
    with pytest.raises(FloatingPointError) as err:
        train_run(config, tmp_path / "run", progress=False)
    message = str(err.value)
    assert "in epoch 1, batch" in message and "NaN or infinite samples" in message
    assert any(str(p) in message for p in poisoned)
    assert "train.lr" not in message  # not the advice for a diverging run
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "in epoch 1, batch" in status["error"]
