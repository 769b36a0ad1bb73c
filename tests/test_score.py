"""Scoring new recordings with a trained run (asdcore.clip_scoring, `asdcore score`, the Score a clip page):
a clip of the run's own test split gets what `evaluate` wrote of it in eval/clips.parquet (score, decision,
diagnosis), files the run cannot judge are refused with the reason, and nothing is written into the run
folder unless --save asks."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdcore import alarms, plots
from asdcore.cli import main
from asdcore.clip_scoring import REFUSED, SCORED, RunScorer, save_scoring, score_files, score_uploads, ScoringError
from asdcore.runs import Run
from tests.apptest import run_page

ROOT = Path(__file__).resolve().parent.parent
TAST = ROOT / "checkpoints" / "tastgram-noisy-arcmix"
AE = ROOT / "checkpoints" / "dcase-ae"
ANOMALY = "fan/test/anomaly_id_00_00000000.wav"
NORMAL = "fan/test/normal_id_00_00000000.wav"
# The bundled runs keep model.pt in float16, their eval/ files are those of the float32 model
# (scripts/make_checkpoints.py): scores move by ~1e-3 relative (at most 2 % over the 2300 test clips of
# tastgram-noisy-arcmix, whose softmax scores near 0 are the most sensitive).  A float32 run agrees
# exactly (test_a_run_with_float32_weights_scores_its_test_clips_exactly_as_evaluate_did).
FLOAT16_RTOL = 2e-2


@pytest.fixture(scope="module")
def toy(default_toy_root) -> Path:
    return default_toy_root


@pytest.fixture(scope="module")
def tast() -> RunScorer:
    return RunScorer.load(TAST)


@pytest.fixture(scope="module")
def autoencoder() -> RunScorer:
    return RunScorer.load(AE)


def evaluated(run: Run, relpaths: list[str], k: int = 5) -> pd.DataFrame:
    """What the run's evaluation says of these test clips, decided and diagnosed as the False alarms page
    does at its defaults: the default back-end, the 90th percentile of each ID's reference normals."""
    test, train = run.clips(), run.train_clips()
    column = alarms.decision_column(test, f"score_{run.eval_metrics()['backend']}")
    reference = alarms.threshold_reference(train)
    rule = run.config["eval"].get("threshold_rule", "percentile")
    decided = alarms.decide(test, alarms.thresholds_per_id(reference, column, 90.0, rule=rule), column)
    limits = alarms.per_id_percentile(reference, "angle_to_centre_deg", 90.0, keys=alarms.MACHINE)
    limits = limits.set_index(alarms.MACHINE)["value"]
    names = alarms.class_names(test, train)
    embeddings, train_embeddings = run.embeddings(), run.train_embeddings()
    rows = decided[decided["path"].isin(relpaths)].set_index("path").loc[relpaths]
    positions = [int(np.flatnonzero(decided["path"].to_numpy() == p)[0]) for p in relpaths]
    rows["diagnosis"] = [
        alarms.diagnose(row, limits.get((row["machine_type"], row["machine_id"])), names,
                        neighbours=alarms.nearest_training_clips(embeddings[i], train_embeddings, train,
                                                                 row["machine_type"], k))
        for (_, row), i in zip(rows.iterrows(), positions)]
    return rows


def without_numbers(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", text)


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.1 * np.sin(2 * np.pi * 440 * t), rate, subtype="PCM_16")
    return path


# --- a clip of the run's own test split gets what evaluate wrote ----------------------------------

def test_a_test_split_clip_gets_the_score_decision_and_diagnosis_evaluate_gave_it(tast, toy):
    result = tast.score([toy / ANOMALY, toy / NORMAL])
    mine = result.clips.set_index("name")
    expected = evaluated(Run(TAST), [ANOMALY, NORMAL])
    assert list(mine["status"]) == [SCORED, SCORED] and result.backend == "softmax"
    for relpath, want in expected.iterrows():
        got = mine.loc[Path(relpath).name]
        assert got["score"] == pytest.approx(want["score"], rel=FLOAT16_RTOL)
        assert got["threshold"] == pytest.approx(want["threshold"], rel=1e-12)  # the run's own threshold
        assert got["outcome"] == want["outcome"]
        assert got["diagnosis"] == want["diagnosis"]
        assert got["predicted_class"] == want["predicted_class"]
        assert got["angle_to_centre_deg"] == pytest.approx(want["angle_to_centre_deg"], abs=0.1)
        assert got["angle_to_nearest_other_deg"] == pytest.approx(want["angle_to_nearest_other_deg"], abs=0.1)
    assert mine.loc["anomaly_id_00_00000000.wav", "outcome"] == alarms.MISSED  # below fan id_00's threshold
    near = result.details[0].neighbours
    assert len(near) == 5 and (near["machine_type"] == "fan").all()
    assert near["similarity"].is_monotonic_decreasing
    assert result.details[0].attention is not None  # TAgram's weights, one per frame of the log-mel
    assert result.details[0].attention.shape == (result.details[0].logmel.shape[1],)


def test_an_autoencoder_clip_gets_its_score_and_decision_and_a_diagnosis_without_centres(autoencoder, toy):
    relpaths = [ANOMALY, "ToyCar/test/anomaly_id_01_00000005.wav"]
    result = autoencoder.score([toy / p for p in relpaths])
    expected = evaluated(Run(AE), relpaths)
    assert result.backend == "reconstruction"
    for (_, got), (_, want) in zip(result.clips.iterrows(), expected.iterrows()):
        assert got["status"] == SCORED
        assert got["score"] == pytest.approx(want["score"], rel=1e-3)
        assert got["outcome"] == want["outcome"]
        # the diagnosis prints the margin to 3 digits, which the float16 weights can move by one
        assert without_numbers(got["diagnosis"]) == without_numbers(want["diagnosis"])
        assert got["diagnosis"].startswith("no class centres in this model")
        assert "angle_to_centre_deg" not in result.clips.columns


@pytest.mark.slow  # trains a model
def test_a_run_with_float32_weights_scores_its_test_clips_exactly_as_evaluate_did(tiny_toy_root, tmp_path_factory):
    """The bundled runs' float16 weights are the only reason for the tolerance above."""
    run_dir = tmp_path_factory.mktemp("runs") / "tast"
    assert main(["train", "--recipe", "tastgram-noisy-arcmix", "--preset", "tiny", "--data", str(tiny_toy_root),
                 "--run-dir", str(run_dir), "--quiet", "--set", "train.epochs=1",
                 "--set", 'eval.backends=["softmax"]', "--set", "eval.umap=false"]) == 0
    run = Run(run_dir)
    test = run.clips()
    relpaths = list(test.groupby(["machine_type", "label"])["path"].first())
    result = RunScorer.load(run).score([tiny_toy_root / p for p in relpaths])
    expected = evaluated(run, relpaths)
    np.testing.assert_allclose(result.clips["score"].astype(float), expected["score"], rtol=1e-6)
    assert list(result.clips["outcome"]) == list(expected["outcome"])
    assert list(result.clips["diagnosis"]) == list(expected["diagnosis"])


# --- files the run cannot judge ------------------------------------------------------------------------

def test_files_the_run_cannot_judge_are_refused_with_the_reason_naming_the_file(tast, toy, tmp_path):
    resampled = tmp_path / "fan" / "test" / "normal_id_00_00000000.wav"
    resampled.parent.mkdir(parents=True)
    x, rate = sf.read(toy / NORMAL)
    from scipy.signal import resample_poly

    sf.write(resampled, resample_poly(x, 441, 160), 44100)  # the same clip at 44.1 kHz
    files = {
        "unknown id": write_wav(tmp_path / "fan" / "test" / "normal_id_07_00000000.wav", 2.0),
        "unknown type": write_wav(tmp_path / "bearing" / "test" / "normal_id_00_00000000.wav", 2.0),
        "too short": write_wav(tmp_path / "pump" / "test" / "normal_id_02_00000000.wav", 0.5),
        "no id in the name": write_wav(tmp_path / "valve" / "field recording.wav", 2.0),
        "unreadable": tmp_path / "slider" / "test" / "normal_id_00_00000000.wav",
    }
    files["unreadable"].parent.mkdir(parents=True)
    files["unreadable"].write_text("not audio")
    result = tast.score([tmp_path])
    by_file = result.clips.set_index("file")
    reasons = {what: by_file.loc[str(path), "reason"] for what, path in files.items()}
    assert all(by_file.loc[str(p), "status"] == REFUSED for p in files.values())
    assert all(reason.startswith(str(files[what])) for what, reason in reasons.items())  # names the file
    assert "fan id_07 is not a machine this run was trained on (its fan IDs: id_00, id_02, id_04, id_06" \
        in reasons["unknown id"]
    assert "machine type 'bearing' (its folder) is not one this run was trained on (its types: fan, pump, slider, " \
           "valve, ToyCar, ToyConveyor)" in reasons["unknown type"]
    assert "too short: 0.50 s of audio, and this run judges clips of 2 s" in reasons["too short"]
    assert "cannot tell its machine ID from its name" in reasons["no id in the name"]
    assert "--id" in reasons["no id in the name"] and "id_00" in reasons["no id in the name"]
    assert "unreadable as audio" in reasons["unreadable"]
    # another sample rate is resampled, noted, and scores as the 16 kHz original does
    assert by_file.loc[str(resampled), "status"] == SCORED
    assert by_file.loc[str(resampled), "notes"] == "recorded at 44100 Hz: resampled to 16000 Hz, the run's rate"
    original = tast.score([toy / NORMAL]).clips.iloc[0]
    assert by_file.loc[str(resampled), "score"] == pytest.approx(original["score"], rel=0.5)
    assert by_file.loc[str(resampled), "outcome"] == original["outcome"]
    assert by_file.loc[str(resampled), "angle_to_centre_deg"] == pytest.approx(original["angle_to_centre_deg"], abs=1.0)
    # told the ID, the clip whose name says none is scored
    told = tast.score([files["no id in the name"]], machine_id="id_00")
    assert told.clips.iloc[0]["status"] == SCORED and told.clips.iloc[0]["machine_type"] == "valve"
    assert pd.isna(told.clips.iloc[0]["label"]) and told.clips.iloc[0]["outcome"] in ("called anomalous",
                                                                                     "called normal")
    missing = tast.score([tmp_path / "nowhere.wav"]).clips.iloc[0]
    assert missing["status"] == REFUSED and missing["reason"].endswith("nowhere.wav: no such file or folder")


def test_uploads_are_scored_from_their_bytes_in_a_temporary_folder_that_is_then_gone(tast, toy):
    seen = []
    result = score_uploads(tast, [(Path(ANOMALY).name, (toy / ANOMALY).read_bytes()), ("normal_id_00_00000001.wav", b"hello")],
                           machine_type="fan", on_clip=lambda done, total, path: seen.append(Path(path)))
    scored, refused = result.clips.iloc[0], result.clips.iloc[1]
    direct = tast.score([toy / ANOMALY]).clips.iloc[0]
    assert scored["status"] == SCORED and scored["file"] == "anomaly_id_00_00000000.wav"
    assert scored["score"] == direct["score"] and scored["diagnosis"] == direct["diagnosis"]
    assert refused["status"] == REFUSED and refused["reason"].startswith("normal_id_00_00000001.wav: unreadable as audio")
    assert seen and not seen[-1].parent.parent.exists()  # the temporary folder is deleted


# --- the command line -------------------------------------------------------------------------------

def folder_state(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_score_command_prints_json_and_writes_only_with_save(toy, tmp_path, capsys):
    run_dir = tmp_path / "my-run"  # a run of yours (the bundled ones are read-only)
    shutil.copytree(TAST, run_dir)
    before = folder_state(run_dir)
    assert main(["score", str(run_dir), str(toy / ANOMALY), str(toy / NORMAL), "--json", "--neighbours", "3"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["anomaly_id_00_00000000.wav", "normal_id_00_00000000.wav"]
    first = records[0]
    assert first["decision"] == "normal" and first["outcome"] == alarms.MISSED and first["label"] == "anomaly"
    assert first["machine_type"] == "fan" and first["machine_id"] == "id_00" and first["predicted"]
    assert first["diagnosis"].startswith("near its own centre")
    assert len(first["nearest_training_normals"]) == 3
    assert set(first["nearest_training_normals"][0]) >= {"path", "machine_type", "machine_id", "similarity"}
    assert folder_state(run_dir) == before  # nothing written without --save

    assert main(["score", str(run_dir), str(toy / ANOMALY), "--save", "field-1", "--quiet"]) == 0
    saved = run_dir / "scorings" / "field-1"
    assert pd.read_parquet(saved / "clips.parquet")["name"].tolist() == ["anomaly_id_00_00000000.wav"]
    assert json.loads((saved / "scoring.json").read_text())["backend"] == "softmax"
    kept = folder_state(run_dir)
    assert main(["score", str(run_dir), str(toy / ANOMALY), "--save", "field-1"]) == 2  # never overwritten
    assert "already exists" in capsys.readouterr().err
    assert folder_state(run_dir) == kept


def test_a_table_for_people_and_a_bundled_run_is_never_written(tast, toy, capsys):
    assert main(["score", "tastgram-noisy-arcmix", str(toy / ANOMALY), "/no/such/clip.wav", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"anomaly_id_00_00000000\.wav +fan id_00 +0\.0142\d +0\.02045 +normal ", out)  # one row a clip
    assert "anomaly_id_00_00000000.wav: normal (missed anomaly); near its own centre" in out
    assert "not scored: /no/such/clip.wav: no such file or folder" in out
    with pytest.raises(ScoringError, match="bundled run"):
        save_scoring(tast.score([toy / ANOMALY]), "x")
    assert not (TAST / "scorings").exists()


# --- the difference view ------------------------------------------------------------------------------

def test_the_difference_view_is_the_clip_minus_its_neighbours_mean_on_a_scale_centred_on_zero():
    clip = np.zeros((4, 6))
    clip[1, 2] = 12.0  # a new tone in one band and frame
    normals = [np.full((4, 6), -3.0), np.full((4, 6), 3.0)]  # mean 0 dB
    diff = plots.logmel_difference(clip, normals)
    assert diff[1, 2] == 12.0 and np.count_nonzero(diff) == 1
    heatmap = plots.difference_figure(clip, normals).data[0]
    assert heatmap.zmid == 0 and heatmap.zmin == -heatmap.zmax and heatmap.zmax > 0
    assert heatmap.colorscale[0][1] != heatmap.colorscale[-1][1]  # diverging: blue below, red above
    with pytest.raises(ValueError, match=r"clip \(4, 6\), references \[\(4, 5\)\]"):
        plots.logmel_difference(clip, [np.zeros((4, 5))])
    assert plots.difference_figure(clip, []).data == ()  # no neighbours: a figure that says so


# --- the pages --------------------------------------------------------------------------------------

def test_the_score_page_shows_a_clip_of_a_folder_as_evaluate_scored_it(toy, tmp_path):
    folder = tmp_path / "fan" / "test"
    folder.mkdir(parents=True)
    for relpath in (ANOMALY, NORMAL):
        shutil.copy(toy / relpath, folder)
    at = run_page("score", run="tastgram-noisy-arcmix", path=str(folder), clip=0)
    want = evaluated(Run(TAST), [ANOMALY]).iloc[0]
    table = at.dataframe[0].value.set_index("clip")
    got = table.loc["anomaly_id_00_00000000.wav"]
    assert got["score"] == pytest.approx(want["score"], rel=FLOAT16_RTOL)
    assert got["outcome"] == want["outcome"] and got["decision"] == "normal"
    assert at.warning[0].value == f"**Diagnosis:** {want['diagnosis']}"
    assert len(at.get("plotly_chart")) == 2  # the log-mel with the attention, and the difference view
    assert plots.DIFFERENCE_NOTE in [c.value for c in at.caption]


def test_the_score_page_says_why_the_bundled_ensemble_cannot_score_and_what_to_use():
    at = run_page("score", run="shift-subcluster-adacos-ensemble")
    assert not at.exception
    text = " ".join(i.value for i in at.info)
    assert "cannot score new clips" in text and "weights are not here" in text and "shift-subcluster-adacos" in text


@pytest.mark.parametrize("page", ["false_alarms", "embeddings"])
def test_false_alarms_and_embeddings_show_the_difference_view_of_the_opened_clip(page):
    at = run_page(page, run="tastgram-noisy-arcmix", clip=0)
    assert plots.DIFFERENCE_NOTE in [c.value for c in at.caption]


def test_an_id_confusions_difference_view_compares_with_its_own_ids_normals():
    """Clip 0 of the bundled run (ToyCar id_01, an anomaly) has only id_04 normals among its nearest: its
    difference view uses id_01's nearest normals and says so; clip 1500 (slider id_00, own-ID neighbours)
    keeps its nearest ones."""
    at = run_page("embeddings", run="tastgram-noisy-arcmix", clip=0)
    captions = " ".join(c.value for c in at.caption)
    assert "5 of its 5 nearest training normals are of another machine ID" in captions
    assert "the 5 nearest normals of its own ID, ToyCar id_01" in captions
    at = run_page("embeddings", run="tastgram-noisy-arcmix", clip=1500)
    assert "nearest normals of its own ID" not in " ".join(c.value for c in at.caption)


def test_real_recordings_scored_by_a_run_trained_on_toy_data_are_called_unfamiliar(real_audio_root):
    """The walkthrough's trap: real pump clips scored by a toy-trained run were all 'anomalous', the
    normals false alarms, with no word that the run never heard such recordings."""
    folder = next(real_audio_root.rglob("pump/test"))
    result = score_files(TAST, [folder])
    scored = result.scored
    assert len(scored) >= 4
    unfamiliar = scored["diagnosis"].str.startswith("unlike every training recording of its machine type")
    assert unfamiliar.mean() >= 0.8, scored["diagnosis"].tolist()
