"""Own data without dead ends: a folder with no training clips is told which files its layout needs,
MIMII's split is explained and settable, repeated per-file notes read as one line, and the channel
and the split reach the run."""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from test_mimii import write_8ch

from asdcore.cli import _parse_sets, build_parser, main
from asdcore.data import scan_dataset
from asdcore.data.check import check_report, file_warnings, no_training_normals
from asdcore.data.layouts import TRAIN_PATTERNS
from asdcore.jobs import launcher
from asdcore.recipes import resolve
from asdcore.runs import Run
from asdcore.runtime import prepare_splits

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def mimii_tree(root: Path, n_normal: int = 20, n_abnormal: int = 20, ids=("id_00",), seconds=0.1) -> Path:
    """A raw MIMII folder: <snr>_<type>/<type>/id_XX/{normal,abnormal}/NNNNNNNN.wav, 8 channels."""
    for machine_id in ids:
        for label, n in (("normal", n_normal), ("abnormal", n_abnormal)):
            for i in range(n):
                write_8ch(root / "0_dB_pump" / "pump" / machine_id / label / f"{i:08d}.wav", seconds)
    return root


def dcase2023_test_only(root: Path) -> Path:
    """Real DCASE 2023 test clips alone: labelled development-set names and evaluation-set names."""
    for i in range(2):
        for path in (root / "bearing" / "test" / f"section_00_source_test_normal_{i:04d}_vel_8_loc_A.wav",
                     root / "fan" / "test" / f"section_00_{i:04d}.wav"):
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, np.full(1600, 0.01, dtype=np.float32), 16000)
    return root


@pytest.fixture
def data_folders(monkeypatch):
    """The app's data check (app_pages/shared/data_folders.py), importable however pytest was started."""
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))
    from app_pages.shared import data_folders

    return data_folders


def tiny_config(root: Path, **settings):
    # the autoencoder: it learns from one machine ID, as these folders hold
    return resolve("dcase-ae", "tiny", {"data.roots": [str(root)], **settings})


# --- no training normals: the layout that was found, and what to add ---------------------------------

def test_a_dcase2023_test_only_folder_is_told_its_own_training_file_pattern(tmp_path):
    root = dcase2023_test_only(tmp_path / "d23")
    ds = scan_dataset(root)
    assert ds.layouts == ["dcase2022"] and not ds.select(split="train")
    message = no_training_normals(ds)
    assert TRAIN_PATTERNS["dcase2022"] in message and "DCASE 2022/2023" in message
    assert TRAIN_PATTERNS["dcase2020"] not in message and "normal_id_XX" not in message  # not the 2020 pattern
    assert "additional training data" in message and "`train/`" in message  # what to add
    # the run refuses with the same text, and the data check prints it
    with pytest.raises(ValueError) as refused:
        prepare_splits(tiny_config(root))
    assert message in str(refused.value) and f"no training normals under {root}" in str(refused.value)
    assert message in check_report(ds)


def test_a_folder_with_no_recognised_clip_is_told_every_layout_read(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    message = no_training_normals(scan_dataset(empty))
    assert "no clip there was recognised" in message
    for pattern in TRAIN_PATTERNS.values():
        assert pattern in message


# --- MIMII: the split explained and settable ----------------------------------------------------------

def test_the_mimii_split_leaves_nothing_to_train_by_default_and_says_so(tmp_path):
    root = mimii_tree(tmp_path / "mimii")
    ds = scan_dataset(root)
    assert len(ds.select(split="test", label="normal")) == 20 and not ds.select(split="train")
    message = no_training_normals(ds)
    assert "MIMII has no train/test split" in message and "as many as its abnormal clips" in message
    assert "data.mimii_test_normals" in message and "pump id_00: 20 normal, 20 abnormal" in message
    assert TRAIN_PATTERNS["dcase2020"] not in message
    with pytest.raises(ValueError, match="data.mimii_test_normals"):
        prepare_splits(tiny_config(root))


def test_mimii_test_normals_sets_how_many_normals_train(tmp_path):
    root = mimii_tree(tmp_path / "mimii")
    ds = scan_dataset(root, mimii_test_normals=5)
    assert len(ds.select(split="train", label="normal")) == 15
    assert len(ds.select(split="test", label="normal")) == 5 and len(ds.select(split="test", label="anomaly")) == 20
    # the tested normals are still the last ones by name
    assert max(r.clip_index for r in ds.select(split="train")) < min(
        r.clip_index for r in ds.select(split="test", label="normal"))
    assert len(scan_dataset(root, mimii_test_normals=0).select(split="train")) == 20
    assert len(scan_dataset(root, mimii_test_normals=99).select(split="train")) == 0  # never more than it has
    # a run's setting reaches its splits: 15 training normals, split into train and validation
    splits = prepare_splits(tiny_config(root, **{"data.mimii_test_normals": 5, "data.max_train_clips_per_class": None,
                                                 "data.max_test_clips_per_class": None}))  # no tiny caps
    assert len(splits.train) + len(splits.val) == 15 and sum(r.label == "normal" for r in splits.test) == 5


@pytest.mark.parametrize("bad", [-1, 2.5, "five", True])
def test_an_invalid_mimii_test_normals_is_refused_by_name(tmp_path, bad):
    with pytest.raises(ValueError, match=r"data\.mimii_test_normals must be"):
        tiny_config(tmp_path, **{"data.mimii_test_normals": bad})


def test_the_data_check_command_takes_the_split_and_refuses_a_bad_one(tmp_path, capsys):
    root = mimii_tree(tmp_path / "mimii")
    assert main(["data", "check", str(root), "--mimii-test-normals", "5"]) == 0
    out = capsys.readouterr().out
    assert "(data.mimii_test_normals)" in out and "nothing to train on" not in out
    row = next(line for line in out.splitlines() if line.strip().startswith("pump")).split()
    assert row == ["pump", "id_00", "20", "5", "15"]  # test anomaly, test normal, train normal
    assert main(["data", "check", str(root), "--mimii-test-normals", "-3"]) == 2
    assert "data.mimii_test_normals must be a whole number >= 0" in capsys.readouterr().out
    assert main(["data", "check", str(root)]) == 0
    assert "nothing to train on" in capsys.readouterr().out


# --- repeated notes, grouped --------------------------------------------------------------------------

def test_identical_notes_of_many_files_are_one_line_and_a_unique_note_keeps_its_path(tmp_path, data_folders):
    root = mimii_tree(tmp_path / "mimii", seconds=1.0)
    silent = root / "0_dB_pump" / "pump" / "id_00" / "normal" / "00000003.wav"
    sf.write(silent, np.zeros((16000, 8), dtype=np.float32), 16000)
    ds = scan_dataset(root)
    assert len(file_warnings(ds)) == 40  # the per-file list is still there, one line per file
    report = check_report(ds).splitlines()
    assert "40 usable file(s) to look at:" in report
    channel_lines = [line for line in report if "8 channels" in line]
    assert len(channel_lines) == 1
    assert channel_lines[0].strip().startswith("40 files: 8 channels, channel 0 used (data.channel picks another)")
    assert "(e.g. " in channel_lines[0] and channel_lines[0].count(str(root)) == 2  # two example paths
    assert any(line.strip().startswith(f"{silent}: silent") for line in report)  # one file's note names it
    # the channel a run reads is the one the notes name
    assert "8 channels, channel 3 used" in "\n".join(data_folders.data_check([root], channel=3)["report"].splitlines())


def test_the_app_data_check_applies_the_split_and_the_channel(tmp_path, data_folders):
    root = mimii_tree(tmp_path / "mimii")
    default = data_folders.data_check([root])
    assert default["train_normals"] == 0 and "data.mimii_test_normals" in default["no_train_normals"]
    assert default["max_channels"] == 8 and "as many as its abnormal clips" in default["mimii_split"]
    assert len(default["warnings"]) == 40 and len(default["note_groups"]) == 2  # 8 channels; 0.1 s long
    five = data_folders.data_check([root], mimii_test_normals=5, channel=3)
    assert five["train_normals"] == 15 and five["no_train_normals"] is None
    assert "5 normal clip(s) go to test" in five["mimii_split"]
    assert any("channel 3 used" in g.note and len(g.paths) == 40 for g in five["note_groups"])
    assert data_folders.data_check([root], mimii_test_normals=-1)["error"].startswith("data.mimii_test_normals")
    assert default["channel_missing"] == [] and five["channel_missing"] == []


def test_the_app_data_check_names_ids_left_untrained_and_files_without_the_channel(tmp_path, data_folders):
    root = mimii_tree(tmp_path / "mimii", ids=("id_00",))
    mimii_tree(root, n_normal=20, n_abnormal=5, ids=("id_02",))
    mono = root / "0_dB_pump" / "pump" / "id_02" / "normal" / "00000019.wav"
    sf.write(mono, np.full(1600, 0.01, dtype=np.float32), 16000)
    check = data_folders.data_check([root])
    # id_02 trains 15 normals; id_00's 20 normals all go to test, so nothing learns id_00
    assert check["train_normals"] == 15 and check["mimii_untrained"] == ["pump id_00"]
    assert data_folders.data_check([root], mimii_test_normals=5)["mimii_untrained"] == []
    assert check["channel_missing"] == [] and data_folders.data_check([root], channel=3)["channel_missing"] == [str(mono)]


# --- the channel and the split reach the run ----------------------------------------------------------

def test_the_data_settings_reach_the_run_config_via_the_launcher(tmp_path, monkeypatch):
    root = mimii_tree(tmp_path / "mimii", n_normal=3, n_abnormal=1)
    settings = {"data.channel": 3, "data.mimii_test_normals": 1}
    # the terminal command the page shows parses back into the same settings
    command = launcher.cli_command("stgram-ce", "tiny", [root], settings, "cpu")
    assert "--set data.channel=3" in command and "--set data.mimii_test_normals=1" in command
    args = build_parser().parse_args(shlex.split(command)[3:])
    assert resolve(args.recipe, args.preset, _parse_sets(args.set)).data.channel == 3
    # and the run folder the page's Start button makes holds them (the process itself is not started)
    monkeypatch.setattr(launcher, "_spawn", lambda run_dir: None)
    run_dir = launcher.start_training("stgram-ce", "tiny", [root], settings, "cpu", tmp_path / "runs")
    data = Run(run_dir).config["data"]
    assert data["channel"] == 3 and data["mimii_test_normals"] == 1


# --- the Train page -----------------------------------------------------------------------------------

def test_the_train_page_offers_the_channel_and_the_mimii_split_on_a_mimii_folder(tmp_path, monkeypatch):
    root = mimii_tree(tmp_path / "mimii", ids=("id_00", "id_02"))  # two IDs: a classifier can train
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "bundled"))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ASD_DATA", str(tmp_path / "no-default-data"))
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))

    def widget(at, kind, label):
        return next(w for w in getattr(at, kind) if w.label == label)

    def texts(elements):
        return "\n".join(e.value for e in elements)

    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "train.py"), default_timeout=60)
    at.run()
    at = widget(at, "radio", "Data").set_value("Folders on this machine").run()
    at = widget(at, "text_area", "Data-set folders, one per line").input(str(root)).run()
    assert not at.exception, [e.message for e in at.exception]
    # 20 normal, 20 abnormal clips per ID: nothing trains, and the error names the split and its setting
    assert "Nothing to train on" in texts(at.error) and "data.mimii_test_normals" in texts(at.error)
    assert "MIMII has no train/test split" in texts(at.caption)
    channel = widget(at, "number_input", "channel")
    assert channel.value == 0 and channel.max == 7
    assert widget(at, "button", "Start training").disabled
    at = widget(at, "number_input", "MIMII normals tested per machine ID").set_value(5).run()
    at = widget(at, "number_input", "channel").set_value(3).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Nothing to train on" not in texts(at.error)
    assert "80 usable file(s) to look at" in texts(at.info) and "80 files: 8 channels, channel 3 used" in texts(at.info)
    command = texts(at.code)
    assert "--set data.channel=3" in command and "--set data.mimii_test_normals=5" in command
    assert not widget(at, "button", "Start training").disabled
