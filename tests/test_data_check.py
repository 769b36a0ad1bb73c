"""`python -m asdcore data check`: the layout, the counts, every problem file with its reason."""
import subprocess
import sys

import numpy as np
import soundfile as sf

from asdcore.cli import main

PROJECT_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _wav(path, seconds=0.25):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(16000 * seconds)) + 0.01, 16000, subtype="PCM_16")


def test_reports_counts_and_each_problem_with_its_reason(tmp_path, capsys):
    _wav(tmp_path / "fan/train/normal_id_00_00000000.wav")
    _wav(tmp_path / "fan/train/normal_id_00_00000001.wav")
    _wav(tmp_path / "fan/test/anomaly_id_00_00000000.wav")
    (tmp_path / "fan/test/normal_id_00_00000007.wav").write_bytes(b"")
    (tmp_path / "fan/test/normal_id_00_00000008.wav").write_bytes(b"RIFF garbage")
    (tmp_path / "fan/test/notes.txt").write_text("hello")
    _wav(tmp_path / "fan/test/recording_42.wav")
    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "layout found: dcase2020" in out
    assert "3 usable clips" in out
    row = [line for line in out.splitlines() if line.strip().startswith("fan")][0].split()
    assert row == ["fan", "id_00", "1", "2"]  # test anomaly, train normal
    assert "4 problem file(s)" in out
    assert "normal_id_00_00000007.wav: empty file (0 bytes)" in out
    assert "normal_id_00_00000008.wav: not audio / unreadable" in out
    assert "notes.txt: not audio" in out
    assert "recording_42.wav: name not understood" in out


def test_exit_status_is_non_zero_when_nothing_usable(tmp_path, capsys):
    (tmp_path / "fan/train").mkdir(parents=True)
    (tmp_path / "fan/train/x.txt").write_text("x")
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "no usable clips found" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().out


def test_runs_as_a_module(tmp_path):
    _wav(tmp_path / "valve/test/normal_id_00_00000000.wav")
    done = subprocess.run([sys.executable, "-m", "asdcore", "data", "check", str(tmp_path)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    assert "1 usable clips" in done.stdout
