"""DCASE 2024/2025 names: `noAttribute` sections are one class each; 2025's supplemental folder is
counted by `data check` and never trained on nor scored."""
import numpy as np
import soundfile as sf

from asdcore.cli import main
from asdcore.data import parse_name, scan_dataset
from asdcore.data.classes import classifier_classes
from asdcore.data.layouts import supplemental_kind
from asdcore.runs import Run

SR = 16000


def _tone(path, hz: float, seed: int, seconds: float = 1.0, anomalous: bool = False):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x = 0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(len(t))
    if anomalous:
        x += 0.3 * np.sin(2 * np.pi * 3.3 * hz * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


# Supplemental names as public code reading the 2025 development set writes them (the forms differ:
# asdcore.data.layouts.SUPPLEMENTAL_FOLDER), and a plain "noise" one.
SUPPLEMENTAL = {"clean": ["section_00_source_supplemental_machine_0000.wav",
                          "section_00_machine_source_0001_noAttribute.wav"],
                "noise": ["section_00_noise_supplemental_normal_0000.wav",
                          "section_00_noise_source_0001_noAttribute.wav"]}


def dcase2025_like(root, n_train: int = 4, n_test: int = 2, with_attributes: bool = True):
    """bearing and slider recorded without attributes (`noAttribute`), one section each; fan with the
    attribute "vel" (two values) when with_attributes; a supplemental folder under bearing and fan."""
    seed = 0
    kinds = [("bearing", 300.0, [None]), ("slider", 500.0, [None])]
    if with_attributes:
        kinds.append(("fan", 200.0, ["4", "8"]))
    for machine_type, hz, values in kinds:
        for vel in values:
            tail = "noAttribute" if vel is None else f"vel_{vel}"
            for _ in range(n_train):
                seed += 1
                _tone(root / machine_type / "train" / f"section_00_source_train_normal_{seed:04d}_{tail}.wav", hz, seed)
            for label in ("normal", "anomaly"):
                for _ in range(n_test):
                    seed += 1
                    _tone(root / machine_type / "test" / f"section_00_source_test_{label}_{seed:04d}_{tail}.wav",
                          hz, seed, anomalous=label == "anomaly")
    for machine_type in ("bearing", "fan") if with_attributes else ("bearing",):
        for kind, names in SUPPLEMENTAL.items():
            for i, name in enumerate(names):
                _tone(root / machine_type / "supplemental" / name, 900.0 if kind == "noise" else 300.0, 7000 + i)
    return root


def test_noattribute_is_no_attributes_in_the_2022_scheme():
    p = parse_name("section_00_source_train_normal_0001_noAttribute.wav")
    assert p.attributes == () and p.layout == "dcase2022" and p.label == "normal"
    q = parse_name("section_00_target_test_anomaly_0003_noAttribute.wav")
    assert q.attributes == () and q.layout == "dcase2022" and q.domain == "target"


def test_noattribute_sections_are_one_class_each(tmp_path):
    ds = scan_dataset(dcase2025_like(tmp_path / "plain", with_attributes=False))
    assert ds.layouts == ["dcase2022"] and ds.problems == []
    mode, classes, trained = classifier_classes(ds.records)
    assert mode == "section" and trained == 2
    assert classes == [("slider", "section_00"), ("bearing", "section_00")]


def test_noattribute_sections_beside_attribute_classes_stay_one_class_each(tmp_path):
    ds = scan_dataset(dcase2025_like(tmp_path / "mixed"))
    mode, classes, trained = classifier_classes(ds.records)
    # every type has one section and fan's normals carry two values: attribute classes, where
    # the sections without attributes are one class each, named by the section alone
    assert mode == "attributes" and trained == 4
    assert classes == [("fan", "section_00 vel=4"), ("fan", "section_00 vel=8"), ("slider", "section_00"),
                       ("bearing", "section_00")]


def test_supplemental_clips_are_counted_and_never_records(tmp_path):
    root = dcase2025_like(tmp_path / "d25")
    ds = scan_dataset(root)
    assert not any("supplemental" in r.relpath for r in ds.records)
    assert ds.problems == []  # not "name not understood" either
    assert ds.supplemental_counts() == {"bearing": (2, 2), "fan": (2, 2)}
    assert {c.kind for c in ds.supplemental if "noise" in c.path} == {"noise"}
    assert supplemental_kind("section_00_source_supplemental_machine_0000.wav") == "clean"
    assert supplemental_kind("x/section_00_noise_supplemental_normal_0000.wav") == "noise"
    # a machine-type folder given as the root itself
    assert scan_dataset(root / "bearing").supplemental_counts() == {"bearing": (2, 2)}


def test_data_check_reports_the_supplemental_counts(tmp_path, capsys):
    root = dcase2025_like(tmp_path / "d25")
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    line = "2 clean machine, 2 noise-only clips, not used for training or scoring"
    assert f"supplemental (bearing): {line}" in out and f"supplemental (fan): {line}" in out
    assert "supplemental (slider)" not in out and "problem file" not in out.replace("no problem files", "")


def test_a_tiny_run_trains_on_2025_names_without_the_supplemental_clips(tmp_path):
    root = dcase2025_like(tmp_path / "d25")
    run_dir = tmp_path / "run"
    code = main(["train", "--recipe", "tastgram-arcface", "--preset", "tiny", "--data", str(root),
                 "--run-dir", str(run_dir), "--quiet", "--set", "train.epochs=1", "--set", "eval.umap=false"])
    assert code == 0
    assert "4 classes, one per machine type x section (attribute values)" in (run_dir / "train.log").read_text()
    run = Run(run_dir)
    clips, train = run.clips(), run.train_clips()
    for table in (clips, train):
        assert not table["path"].astype(str).str.contains("supplemental").any()
    assert len(clips) == 4 * 2 * 2 and clips["score"].notna().all() and len(train) == 4 * 4
