"""The 137 real DCASE 2020 clips in ../shared/real-audio (skipped where that folder is absent)."""
import re
from collections import Counter

from asdcore.cli import main
from asdcore.data import load_clip, scan_dataset
from asdcore.features import LogMel


def test_loader_parses_all_137_clips_with_their_labels(real_audio_root):
    ds = scan_dataset(real_audio_root)
    assert len(ds.records) == 137 and ds.problems == []
    assert set(ds.machine_types) == {"fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"}
    for r in ds.records:
        # the record agrees with the path it came from
        m = re.fullmatch(r"(\w+)/(train|test)/(normal|anomaly)_(id_\d\d)_\d{8}\.wav", r.relpath)
        assert m, r.relpath
        assert (r.machine_type, r.split, r.label, r.machine_id) == m.groups()
    splits = Counter((r.split, r.label) for r in ds.records)
    assert splits[("train", "normal")] == 75  # slider id_00's training normals
    assert splits[("test", "normal")] + splits[("test", "anomaly")] == 62


def test_eleven_second_toycar_clips_are_cropped_to_the_clip_length(real_audio_root):
    ds = scan_dataset(real_audio_root)
    toycar = ds.select(machine_type="ToyCar")
    assert toycar
    full = load_clip(toycar[0].path)
    assert abs(len(full) / 16000 - 11.0) < 0.05
    clip = load_clip(toycar[0].path, clip_seconds=10.0)
    assert clip.shape == (160000,)
    assert LogMel()(__import__("torch").from_numpy(clip)).shape == (128, 313)


def test_data_check_reports_the_real_clips(real_audio_root, capsys):
    assert main(["data", "check", str(real_audio_root)]) == 0
    out = capsys.readouterr().out
    assert "137 usable clips" in out and "layout found: dcase2020" in out
    assert "11 s @ 16000 Hz" in out and "10 s @ 16000 Hz" in out
    assert "no problem files" in out
