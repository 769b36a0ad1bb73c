"""The organisers' evaluation ground truth (eval_data_list_<year>.csv) labels the evaluation clips,
which DCASE ships without the normal/anomaly word: DCASE 2021's `section_03_source_test_0000.wav`
is read, labelled from the list, and scored by AUC; a clip the list does not name stays unlabelled."""
import json

import numpy as np
import pytest
import soundfile as sf

from asdcore.cli import main
from asdcore.data import parse_name, scan_dataset
from asdcore.data.ground_truth import GroundTruthError, read_ground_truth

SR = 16000


def _tone(path, hz: float, seed: int, anomalous: bool = False):
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    x = 0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(len(t))
    if anomalous:
        x += 0.3 * np.sin(2 * np.pi * 3.3 * hz * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def dcase2021_eval_like(root, unlisted: int = 1):
    """fan and pump, section 03: training normals in the additional-training layout, test clips as
    the 2021 evaluation set ships them (source_test/ and target_test/, no label in the name), and
    the organisers' list for all but the last `unlisted` clips of fan's source_test."""
    rows, seed = [], 0
    for machine_type, hz in (("fan", 200.0), ("pump", 450.0)):
        rows.append(machine_type)
        for i in range(6):
            seed += 1
            _tone(root / machine_type / "train" / f"section_03_source_train_normal_{i:04d}_strength_1.wav", hz, seed)
        for domain in ("source", "target"):
            names = []
            for i, label in enumerate(["normal", "anomaly", "normal", "anomaly"]):
                seed += 1
                name = f"section_03_{domain}_test_{i:04d}.wav"
                _tone(root / machine_type / f"{domain}_test" / name, hz, seed, anomalous=label == "anomaly")
                names.append(f"{name},section_03_{domain}_test_{label}_{i:04d}.wav")
            if machine_type == "fan" and domain == "source":
                names = names[:len(names) - unlisted]
            rows += names
    (root / "eval_data_list_2021.csv").write_text("\n".join(rows) + "\n")
    return root


def test_dcase2021_evaluation_names_are_read_as_unlabelled_test_clips_of_their_domain():
    p = parse_name("section_03_target_test_0007.wav")
    assert (p.label, p.split, p.domain, p.section, p.layout) == (None, "test", "target", "03", "dcase2021")
    # a labelled 2021 name is still read as labelled
    assert parse_name("section_03_target_test_anomaly_0007.wav").label == "anomaly"


def test_the_list_labels_the_clips_it_names_and_data_check_says_so(tmp_path, capsys):
    root = dcase2021_eval_like(tmp_path / "eval2021")
    ds = scan_dataset(root)
    assert not ds.problems
    test = {(r.machine_type, r.domain, r.clip_index): r for r in ds.records if r.split == "test"}
    assert len(test) == 16
    assert test[("fan", "target", "0001")].label == "anomaly"
    assert test[("pump", "source", "0002")].label == "normal"
    assert test[("fan", "target", "0001")].labelled_by == "eval_data_list_2021.csv"
    # the one clip the list leaves out stays unlabelled
    assert test[("fan", "source", "0003")].label is None and test[("fan", "source", "0003")].labelled_by is None
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "evaluation ground truth: 15 test clips labelled from eval_data_list_2021.csv" in out
    assert "1 test clips carry no label" in out


def test_a_run_scores_the_labelled_evaluation_clips_by_auc(tmp_path):
    root = dcase2021_eval_like(tmp_path / "eval2021")
    run_dir = tmp_path / "run"
    code = main(["train", "--recipe", "tastgram-arcface", "--preset", "tiny", "--data", str(root),
                 "--run-dir", str(run_dir), "--quiet", "--set", "train.epochs=1", "--set", "eval.umap=false"])
    assert code == 0
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["n_unlabelled_clips"] == 1  # fan's unlisted clip: scored, not in the AUC
    assert set(metrics["per_type"]) == {"fan", "pump"}
    assert all(0.0 <= row["auc"] <= 1.0 for row in metrics["per_type"].values())


@pytest.mark.parametrize("text, why", [
    ("section_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav\n", "before any machine-type line"),
    ("fan\nsection_03_source_test_0000.wav,section_03_source_test_0000.wav\n", "carries no normal/anomaly label"),
    ("fan\nsection_03_0000.wav,machine_03_0000.wav\n", "name not understood"),
])
def test_a_malformed_list_is_refused_with_its_file_and_line(tmp_path, text, why):
    path = tmp_path / "eval_data_list_2021.csv"
    path.write_text(text)
    with pytest.raises(GroundTruthError, match=why) as exc:
        read_ground_truth(path)
    assert str(path) in str(exc.value)


def test_two_lists_that_disagree_on_a_clip_are_refused(tmp_path):
    root = dcase2021_eval_like(tmp_path / "eval2021")
    (root / "eval_data_list_2022.csv").write_text(
        "fan\nsection_03_target_test_0001.wav,section_03_target_test_normal_0001.wav\n")
    with pytest.raises(GroundTruthError, match="label fan/section_03_target_test_0001.wav differently"):
        scan_dataset(root)


def test_a_2022_to_2025_evaluation_clip_gets_its_label_domain_and_attributes_from_the_list(tmp_path):
    """From 2022 the shipped name drops the domain too (section_00_0001.wav); the list's labelled
    name gives it back, with the attributes (the form of the organisers' 2025 list)."""
    root = tmp_path / "eval2025"
    for i in range(3):
        _tone(root / "AutoTrash" / "train" / f"section_00_source_train_normal_{i:04d}_id_B2_spd_1_mic_2.wav", 300, i)
    _tone(root / "AutoTrash" / "test" / "section_00_0001.wav", 300, 9)
    (root / "eval_data_list_2025.csv").write_text(
        "AutoTrash\nsection_00_0001.wav,section_00_target_test_normal_0031_id_C1_spd_2_mic_2.wav\n")
    (clip,) = [r for r in scan_dataset(root).records if r.split == "test"]
    assert (clip.label, clip.domain, clip.section) == ("normal", "target", "00")
    assert dict(clip.attributes) == {"id": "C1", "spd": "2", "mic": "2"}
