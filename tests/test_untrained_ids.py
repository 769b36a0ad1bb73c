"""Test clips of machine IDs without training clips: left out and named, never scored as if learnt."""
from __future__ import annotations

import json

import pandas as pd

from asdcore.cli import main


def test_ids_without_training_clips_are_left_out_and_named(real_audio_root, tmp_path, capsys):
    # the real sample: only slider id_00 has training clips; 15 other IDs have test clips alone
    run = tmp_path / "ae"
    assert main(["train", "--recipe", "dcase-ae", "--preset", "tiny", "--data", str(real_audio_root),
                 "--run-dir", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert list(metrics["per_type"]) == ["slider"]  # the one type with a trained machine
    left = metrics["untrained_left_out"]
    assert left["fan id_06"] == 7 and left["ToyCar id_04"] == 6 and "slider id_00" not in left
    clips = pd.read_parquet(run / "eval" / "clips.parquet")
    assert set(zip(clips.machine_type, clips.machine_id)) == {("slider", "id_00")}
    assert "warning: 54 test clip(s) of machine IDs / sections with no training clips were left out" in out
    assert "fan id_06 (7)" in out
