"""Weight files: a damaged one is refused with a message naming it, and a tampered one runs no code."""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asdcore.runtime import CheckpointError, load_checkpoint

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "stgram-ce"


class RunsCode:
    """What an attacker pickles: unpickling it would call os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "plain pickle"])
def test_a_planted_pickle_is_refused_and_runs_nothing(tmp_path, how):
    marker = tmp_path / "the-code-ran"
    path = tmp_path / "model.pt"
    payload = {"config": {}, "groups": {}, "epoch": 1, "extra": RunsCode(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(CheckpointError, match="refused.*ran none of it") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_a_truncated_or_foreign_weight_file_is_refused_with_its_name(tmp_path):
    data = (BUNDLED / "model.pt").read_bytes()
    truncated = tmp_path / "model.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated") as err:
        load_checkpoint(truncated)
    assert str(truncated) in str(err.value)
    foreign = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a weight file written by asdcore"):
        load_checkpoint(foreign)
    assert load_checkpoint(BUNDLED / "model.pt")["groups"]  # an intact one loads


def test_evaluate_on_a_truncated_model_says_so_without_a_traceback(tmp_path, default_toy_root):
    run = tmp_path / "run"
    shutil.copytree(BUNDLED, run)
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[:1000])
    env = {**os.environ, "ASD_DATA": str(default_toy_root)}
    done = subprocess.run([sys.executable, "-m", "asdcore", "evaluate", str(run), "--recompute"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "damaged or truncated" in done.stderr and str(run / "model.pt") in done.stderr
    assert "Traceback" not in done.stderr
