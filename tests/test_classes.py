"""What a class is: machine IDs / sections, or attribute values where each type has one section
(DCASE 2023), and the refusal of a classifier recipe on data with a single class."""
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdcore.cli import main
from asdcore.data import scan_dataset
from asdcore.data.classes import TooFewClasses, assign_classes, check_classes, choose_class_mode
from asdcore.recipes import resolve
from asdcore.runs import Run
from asdcore.runtime import prepare_splits

SR = 16000


def _tone(path, hz: float, seed: int, seconds: float = 2.0, anomalous: bool = False):
    """A machine hum at `hz` with noise; an anomaly adds a strong tone at 3.3 x hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x = 0.3 * np.sin(2 * np.pi * hz * (1 + 0.01 * rng.standard_normal()) * t) + 0.05 * rng.standard_normal(len(t))
    if anomalous:
        x += 0.3 * np.sin(2 * np.pi * 3.3 * hz * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def dcase2023_like(root, n_train: int = 12, n_test: int = 4, unseen_test: bool = False, evaluation: bool = False):
    """Two machine types with one section each; the attribute "vel" (two values) changes the hum."""
    seed = 0
    for machine_type, base in [("fan", 200.0), ("valve", 700.0)]:
        for vel, factor in [("4", 1.0), ("8", 1.5)]:
            hz = base * factor
            for _ in range(n_train):
                seed += 1
                _tone(root / machine_type / "train" / f"section_00_source_train_normal_{seed:04d}_vel_{vel}.wav", hz, seed)
            for label in ("normal", "anomaly"):
                for _ in range(n_test):
                    seed += 1
                    _tone(root / machine_type / "test" / f"section_00_source_test_{label}_{seed:04d}_vel_{vel}.wav",
                          hz, seed, anomalous=label == "anomaly")
    if unseen_test:  # attribute values that no training normal carries
        _tone(root / "fan" / "test" / "section_00_source_test_normal_9999_vel_16.wav", 400.0, 9999)
    if evaluation:  # DCASE 2023 evaluation names: section and number only, no label, no attributes
        for i in range(2):
            _tone(root / "valve" / "test" / f"section_00_{i:04d}.wav", 700.0, 5000 + i, anomalous=i == 1)
    return root


def test_auto_takes_attributes_only_where_every_type_has_a_single_section(tmp_path):
    ds = scan_dataset(dcase2023_like(tmp_path / "d23", n_train=2, n_test=1))
    normals = ds.select(split="train", label="normal")
    assert choose_class_mode(normals) == "attributes"
    _, classes = assign_classes(ds.records, "attributes")
    assert classes == [("fan", "section_00 vel=4"), ("fan", "section_00 vel=8"),
                       ("valve", "section_00 vel=4"), ("valve", "section_00 vel=8")]
    # a second section of one type: the sections are the classes again (DCASE 2021-2022)
    _tone(tmp_path / "d23" / "fan" / "train" / "section_01_source_train_normal_0001_vel_4.wav", 300.0, 1)
    normals = scan_dataset(tmp_path / "d23").select(split="train", label="normal")
    assert choose_class_mode(normals) == "section"
    # one section per type but no attributes (DCASE 2021-style names): sections
    plain = tmp_path / "plain"
    for machine_type in ("fan", "valve"):
        _tone(plain / machine_type / "train" / "section_00_source_train_normal_0001.wav", 200.0, 1)
    assert choose_class_mode(scan_dataset(plain).records) == "section"
    with pytest.raises(ValueError, match="data.classes must be one of auto, section, attributes"):
        choose_class_mode(normals, "ids")


def test_a_test_clip_takes_the_class_of_its_attributes_or_none(tmp_path):
    ds = scan_dataset(dcase2023_like(tmp_path / "d23", n_train=1, n_test=1, unseen_test=True))
    records, classes = assign_classes(ds.records, "attributes")
    by_name = {r.relpath.split("/")[-1]: r for r in records}
    test = by_name["section_00_source_test_anomaly_0006_vel_8.wav"]
    assert classes[test.class_index] == ("fan", "section_00 vel=8")
    assert by_name["section_00_source_test_normal_9999_vel_16.wav"].class_index == -1
    # sections: every clip of a type's section_00 shares one class, whatever its attributes
    records, classes = assign_classes(ds.records, "section")
    assert classes == [("fan", "section_00"), ("valve", "section_00")]
    assert {r.class_index for r in records if r.machine_type == "fan"} == {0}


def test_a_classifier_on_a_single_class_is_refused_and_told_about_the_autoencoder(tmp_path):
    root = tmp_path / "one"
    for i in range(4):
        _tone(root / "slider" / "train" / f"normal_id_00_{i:08d}.wav", 300.0, i)
        _tone(root / "slider" / "test" / f"anomaly_id_00_{i:08d}.wav", 300.0, i, anomalous=True)
    config = resolve("tastgram-arcface", "tiny", {"data.roots": [str(root)]})
    with pytest.raises(TooFewClasses, match=r"1 class \(slider id_00\).*--recipe dcase-ae"):
        prepare_splits(config)
    # the autoencoder learns from one machine
    splits = prepare_splits(resolve("dcase-ae", "tiny", {"data.roots": [str(root)]}))
    assert len(splits.train) + len(splits.val) == 4
    with pytest.raises(TooFewClasses, match="0 class"):
        check_classes([], [], "tastgram-arcface")


def test_train_cli_says_why_a_single_class_cannot_train(tmp_path, capsys):
    root = tmp_path / "one"
    for i in range(3):
        _tone(root / "slider" / "train" / f"normal_id_00_{i:08d}.wav", 300.0, i)
    code = main(["train", "--recipe", "tastgram-noisy-arcmix", "--preset", "tiny", "--data", str(root),
                 "--run-dir", str(tmp_path / "run"), "--quiet"])
    out = capsys.readouterr()
    assert code != 0
    assert "needs two or more machine IDs, sections, or attribute values" in out.out + out.err


def test_data_check_says_what_the_classes_are(tmp_path, capsys):
    root = dcase2023_like(tmp_path / "d23", n_train=1, n_test=1)
    assert main(["data", "check", str(root)]) == 0
    assert "4 classes, one per machine type x section (attribute values)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_classifier_trains_on_attribute_classes_and_scores_each_section(tmp_path):
    root = dcase2023_like(tmp_path / "d23", unseen_test=True, evaluation=True)
    run_dir = tmp_path / "run"
    code = main(["train", "--recipe", "tastgram-arcface", "--preset", "tiny", "--data", str(root),
                 "--set", "data.max_test_clips_per_class=100", "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    run = Run(run_dir)
    assert "4 classes, one per machine type x section (attribute values)" in (run_dir / "train.log").read_text()
    clips = run.clips()
    unseen = clips["path"].str.endswith("vel_16.wav")
    # every clip has a score; the one whose attributes no training normal has has no own centre
    assert clips["score"].notna().all() and clips.loc[~unseen, "angle_to_centre_deg"].notna().all()
    assert clips.loc[unseen, "angle_to_centre_deg"].isna().all()
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    # the metrics stay per machine type and section, not per attribute class
    assert set(metrics["per_type"]) == {"fan", "valve"}
    assert metrics["n_test_clips"] == len(clips) == 2 * 2 * 2 * 4 + 1
    # the evaluation clips (no label) are scored apart and never counted
    unlabelled = pd.read_parquet(run_dir / "eval" / "unlabelled_clips.parquet")
    assert sorted(unlabelled["path"]) == ["valve/test/section_00_0000.wav", "valve/test/section_00_0001.wav"]
    assert unlabelled["score"].notna().all() and (unlabelled["class_index"] == -1).all()
    assert metrics["n_unlabelled_clips"] == 2 and not clips["path"].str.contains("section_00_000").any()
