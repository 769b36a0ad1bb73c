"""DCASE file names, clip records, the class order and combining several roots."""
import numpy as np
import pytest
import soundfile as sf

from asdcore.data import NameNotUnderstood, parse_name, scan_dataset
from asdcore.data.records import class_list


def _wav(path, seconds=0.5, sr=16000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = 0.1 * np.random.default_rng(0).standard_normal((int(sr * seconds), channels)).astype(np.float32)
    sf.write(str(path), data if channels > 1 else data[:, 0], sr, subtype="PCM_16")
    return path


def test_parse_dcase2020_names():
    p = parse_name("fan/train/normal_id_02_00000123.wav")
    assert (p.machine_id, p.label, p.clip_index, p.layout) == ("id_02", "normal", "00000123", "dcase2020")
    assert parse_name("anomaly_id_06_00000001.wav").label == "anomaly"
    unlabelled = parse_name("id_05_00000000.wav")  # DCASE 2020 evaluation set
    assert unlabelled.label is None and unlabelled.machine_id == "id_05"


def test_parse_dcase2021_to_2023_names():
    p = parse_name("section_01_target_test_anomaly_0042.wav")
    assert (p.machine_id, p.section, p.domain, p.split, p.label, p.clip_index) == (
        "section_01", "01", "target", "test", "anomaly", "0042")
    q = parse_name("section_00_source_train_normal_0001_vel_8_loc_A.wav")
    assert q.attributes == (("vel", "8"), ("loc", "A")) and q.layout == "dcase2022"
    r = parse_name("section_00_source_train_normal_0001_noAttribute.wav")
    assert r.attributes == () and r.layout == "dcase2022"  # DCASE 2024/2025: no attributes
    assert parse_name("section_00_0003.wav").label is None


@pytest.mark.parametrize("bad", ["normal_00000123.wav", "abnormal_id_00_1.wav", "id_x_0001.wav", "readme.wav"])
def test_unknown_names_are_rejected_with_the_name(bad):
    with pytest.raises(NameNotUnderstood, match=bad.replace(".wav", "")):
        parse_name(bad)


def test_scan_builds_records_with_stable_class_order(tmp_path):
    root = tmp_path / "dev"
    for rel in ["valve/train/normal_id_02_00000000.wav", "fan/train/normal_id_04_00000000.wav",
                "fan/train/normal_id_00_00000000.wav", "fan/test/anomaly_id_00_00000000.wav",
                "ToyCar/test/normal_id_01_00000000.wav"]:
        _wav(root / rel)
    ds = scan_dataset(root)
    # DCASE 2020's type order (fan, pump, slider, valve, ToyCar, ToyConveyor), then ID
    assert ds.classes == [("fan", "id_00"), ("fan", "id_04"), ("valve", "id_02"), ("ToyCar", "id_01")]
    rec = {r.relpath: r for r in ds.records}
    a = rec["fan/test/anomaly_id_00_00000000.wav"]
    assert (a.machine_type, a.machine_id, a.split, a.label, a.is_anomaly, a.class_index) == (
        "fan", "id_00", "test", "anomaly", 1, 0)
    assert rec["valve/train/normal_id_02_00000000.wav"].class_index == 2
    assert ds.problems == []


def test_several_roots_combine_like_dev_plus_additional_training(tmp_path):
    dev, add = tmp_path / "dev_data", tmp_path / "add_dev_data"
    _wav(dev / "pump/train/normal_id_00_00000000.wav")
    _wav(dev / "pump/test/anomaly_id_00_00000000.wav")
    _wav(add / "pump/train/normal_id_01_00000000.wav")
    ds = scan_dataset([dev, add])
    assert ds.classes == [("pump", "id_00"), ("pump", "id_01")]
    assert {r.root for r in ds.records} == {str(dev), str(add)}
    assert all(not r.relpath.startswith("/") for r in ds.records)


def test_a_machine_type_folder_can_be_the_root(tmp_path):
    _wav(tmp_path / "slider/train/normal_id_00_00000000.wav")
    ds = scan_dataset(tmp_path / "slider")
    assert ds.classes == [("slider", "id_00")]


def test_class_order_does_not_depend_on_discovery_order(tmp_path):
    _wav(tmp_path / "a/fan/train/normal_id_06_00000000.wav")
    _wav(tmp_path / "b/fan/train/normal_id_00_00000000.wav")
    ab = scan_dataset([tmp_path / "a", tmp_path / "b"])
    ba = scan_dataset([tmp_path / "b", tmp_path / "a"])
    assert ab.classes == ba.classes == class_list(ab.records)


def test_dcase2021_folders_read_into_the_same_records(tmp_path):
    _wav(tmp_path / "gearbox/train/section_00_source_train_normal_0000_volt_1.0.wav")
    _wav(tmp_path / "gearbox/target_test/section_00_target_test_anomaly_0001.wav")
    ds = scan_dataset(tmp_path)
    test = [r for r in ds.records if r.split == "test"][0]
    assert (test.machine_id, test.domain, test.section, test.label) == ("section_00", "target", "00", "anomaly")
    train = [r for r in ds.records if r.split == "train"][0]
    assert dict(train.attributes) == {"volt": "1.0"}
