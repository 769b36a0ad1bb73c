"""The original MIMII recordings: found, split as DCASE 2020 split them, any channel readable."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asdcore.data import scan_dataset
from asdcore.data.audio import AudioError, load_clip
from asdcore.data.check import check_report
from asdcore.recipes import resolve


def write_8ch(path, seconds=0.5):
    """An 8-channel 16 kHz file whose channel c holds the constant c / 10."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(16000 * seconds)
    sf.write(path, np.tile(np.arange(8, dtype=np.float32) / 10, (n, 1)), 16000)


@pytest.fixture
def mimii_root(tmp_path):
    root = tmp_path / "mimii"
    for machine_id, (n_normal, n_abnormal) in {"id_00": (5, 2), "id_02": (4, 1)}.items():
        for label, n in (("normal", n_normal), ("abnormal", n_abnormal)):
            for i in range(n):
                write_8ch(root / "6_dB_fan" / "fan" / machine_id / label / f"{i:08d}.wav")
    return root


def test_mimii_folders_are_found_and_split_as_dcase_2020_did(mimii_root):
    ds = scan_dataset(mimii_root)
    assert ds.layouts == ["mimii"] and ds.classes == [("fan", "id_00"), ("fan", "id_02")] and not ds.problems
    for machine_id, n_abnormal, n_normal in (("id_00", 2, 5), ("id_02", 1, 4)):
        test = ds.select(split="test", machine_id=machine_id)
        train = ds.select(split="train", machine_id=machine_id)
        # every abnormal clip and as many normal ones are tested; the other normals train
        assert sum(r.label == "anomaly" for r in test) == n_abnormal
        assert sum(r.label == "normal" for r in test) == n_abnormal
        assert len(train) == n_normal - n_abnormal and all(r.label == "normal" for r in train)
        # the tested normals are the last ones by name: the same split every time
        assert max(r.clip_index for r in train) < min(r.clip_index for r in test if r.label == "normal")
    assert all(r.attributes == (("snr", "6_dB"),) for r in ds.records)
    assert scan_dataset(mimii_root / "6_dB_fan").classes == ds.classes  # an <snr>_<type> folder as root
    assert scan_dataset(mimii_root / "6_dB_fan" / "fan").classes == ds.classes  # a <type> folder as root
    assert "layout found: mimii" in check_report(ds) and "8 ch" in check_report(ds)


def test_any_channel_is_read_and_a_missing_one_is_named(mimii_root):
    path = next(mimii_root.rglob("*.wav"))
    assert load_clip(path, 0.1)[0] == pytest.approx(0.0)  # channel 0 by default, as DCASE 2020
    assert load_clip(path, 0.1, channel=5)[0] == pytest.approx(0.5)
    with pytest.raises(AudioError, match=f"{path.name}.*no channel 8"):
        load_clip(path, 0.1, channel=8)
    assert resolve("stgram-ce", "tiny", {"data.channel": 3}).data.channel == 3
    with pytest.raises(ValueError, match="data.channel counts from 0"):
        resolve("stgram-ce", "tiny", {"data.channel": -1})
