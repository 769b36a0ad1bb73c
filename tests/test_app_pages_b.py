"""The analysis pages (Angles, Attention, Embeddings, False alarms) against real evaluated runs.

Two tiny runs are trained once for the module, in parallel: TASTgram-MFN with Noisy-ArcMix (class
centres, angles, TAgram attention) and the DCASE 2020 autoencoder (none of these).  Each page
file runs in AppTest with ASD_BUNDLED pointing at them; the URL's query parameters are set as a
shared link would set them.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest import run_page

from asdcore import alarms, plots

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAM, AE = "tastgram-noisy-arcmix", "dcase-ae"


@pytest.fixture(scope="module")
def bundled(tiny_toy_root, tmp_path_factory) -> Path:
    """A bundled-runs folder with the two evaluated runs (one epoch each, no UMAP: seconds)."""
    folder = tmp_path_factory.mktemp("pages_b") / "bundled"
    # one thread each: two processes side by side on a small CPU, without fighting over cores
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "asdcore", "train", "--recipe", recipe, "--preset", "tiny",
                               "--data", str(tiny_toy_root), "--run-dir", str(folder / recipe), "--quiet",
                               "--set", "train.epochs=1", "--set", "eval.umap=false"],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for recipe in (NAM, AE)]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    return folder


@pytest.fixture
def page(bundled, tiny_toy_root, tmp_path, monkeypatch):
    """page(name, **query) -> the AppTest of app_pages/<name>.py after its first run."""
    monkeypatch.setenv("ASD_BUNDLED", str(bundled))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ASD_DATA", str(tiny_toy_root))
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))  # the pages import app_pages.shared, as under app.py

    return run_page


def clips_of(bundled: Path, run: str, name: str = "clips.parquet") -> pd.DataFrame:
    return pd.read_parquet(bundled / run / "eval" / name)


def figures(at: AppTest) -> list[dict]:
    """The page's plotly figures as the JSON the browser gets."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array) -> np.ndarray:
    """A figure's array: plain JSON, or plotly's binary encoding {"dtype", "bdata"}."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def widget(at: AppTest, kind: str, label: str):
    return next(w for w in getattr(at, kind) if w.label == label)


# --- Angles ----------------------------------------------------------------------------------

def test_angles_defaults_to_the_margin_loss_runs_and_states_the_separation(page, bundled):
    at = page("angles")
    # the Fig. 1 default: the TASTgram runs (here only Noisy-ArcMix), not the autoencoder
    assert at.multiselect[0].value == [NAM]
    assert at.query_params["runs"] == NAM
    fig = figures(at)[0]
    assert {t["name"] for t in fig["data"] if t["type"] == "histogram"} == {"normal", "anomaly"}
    table = at.dataframe[0].value
    clips = clips_of(bundled, NAM)
    sep = plots.angle_separation(clips.loc[clips["label"] == 0, "angle_to_centre_deg"],
                                 clips.loc[clips["label"] == 1, "angle_to_centre_deg"])
    assert table["angle AUC"].item() == pytest.approx(sep["auc"])
    assert table["median gap (°)"].item() == pytest.approx(sep["median_gap_deg"])
    assert table["overlap"].item() == pytest.approx(sep["overlap"])


def test_angles_one_panel_per_selected_run_and_the_autoencoder_explained(page, bundled):
    at = page("angles", runs=f"{NAM},{AE}", type="fan")
    fig = figures(at)[0]
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert "TASTgram-MFN (Noisy-ArcMix)" in titles and "DCASE 2020 AE baseline" in titles
    assert "xaxis2" in fig["layout"]  # two panels side by side
    table = at.dataframe[0].value.set_index("run")
    assert len(table) == 2
    fans = clips_of(bundled, NAM).query("machine_type == 'fan'")
    assert table.loc["TASTgram-MFN (Noisy-ArcMix)", "normal / anomalous clips"] == \
        f"{(fans['label'] == 0).sum()} / {(fans['label'] == 1).sum()}"
    assert table.loc["DCASE 2020 AE baseline", "note"] == "no class centres: no angles"
    assert any("no class centres" in i.value for i in at.info)


# --- Attention -------------------------------------------------------------------------------

def test_attention_defaults_to_a_faulty_clip_with_weights_and_fault_span(page, bundled):
    at = page("attention", run=NAM)
    clips = clips_of(bundled, NAM)
    clip = int(at.query_params["clip"])
    row = clips.loc[clip]
    assert row["label"] == 1 and np.isfinite(row["fault_onset_s"])
    fig = figures(at)[0]
    assert plots.ATTENTION_TRACE in [t.get("name") for t in fig["data"]]
    attention = next(t for t in fig["data"] if t.get("name") == plots.ATTENTION_TRACE)
    weights = np.load(bundled / NAM / "eval" / "attention.npy")[clip].astype(np.float32)
    np.testing.assert_allclose(values(attention["y"]), weights, atol=1e-6)
    span = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
    assert span and span[0]["x0"] == pytest.approx(row["fault_onset_s"]) and \
        span[0]["x1"] == pytest.approx(row["fault_offset_s"])
    assert len(at.get("audio")) == 1
    # from the walkthrough: the default clip shows the summary's typical case (weights higher inside the
    # fault, as for most short faults), and the page says how this clip compares
    summary = json.loads((bundled / NAM / "eval" / "metrics.json").read_text())["attention"]
    assert summary["inside_higher"] > 0.5
    times = np.arange(len(weights)) * 512 / 16000
    inside = (times >= row["fault_onset_s"]) & (times < row["fault_offset_s"])
    assert weights[inside].mean() > weights[~inside].mean()
    assert any(f"This clip: mean weight **{weights[inside].mean():.2f}** inside" in c.value and "higher inside" in c.value
               for c in at.caption)
    # the score's rank among the test clips and the verdict at the 90th-percentile threshold
    rank = int((clips["score"] > row["score"]).sum()) + 1
    assert widget(at, "metric", "Rank among the test clips").value == f"{rank} of {len(clips)}"
    assert any("threshold" in m.value for m in [*at.success, *at.error])


def test_attention_opens_the_clip_named_in_the_url(page, bundled):
    clips = clips_of(bundled, NAM)
    normal = int(clips.index[clips["label"] == 0][3])
    at = page("attention", run=NAM, clip=normal)
    assert widget(at, "selectbox", "Clip").value == normal
    assert widget(at, "selectbox", "Label").value == "normal"
    assert widget(at, "selectbox", "Machine ID").value == clips.loc[normal, "machine_id"]
    # picking another clip puts it in the URL
    other = [i for i in widget(at, "selectbox", "Clip").options]
    at = widget(at, "selectbox", "Label").select("anomaly").run()
    assert clips.loc[int(at.query_params["clip"]), "label"] == 1
    assert other  # the box listed the clips of that ID


def test_attention_picker_shows_fault_spans_and_filters_short_faults(page, bundled):
    clips = clips_of(bundled, NAM)
    at = page("attention", run=NAM)
    clip_box = widget(at, "selectbox", "Clip")
    # every anomalous clip's line names its fault's span and length, as clips.parquet has them
    faulty = clips[(clips["label"] == 1) & clips["fault_onset_s"].notna()]
    row = faulty.iloc[0]
    length = row["fault_offset_s"] - row["fault_onset_s"]
    span = f"{row['fault_onset_s']:.2f}-{row['fault_offset_s']:.2f} s ({length:.2f} s)"
    at = widget(at, "selectbox", "Machine type").select(row["machine_type"]).run()
    at = widget(at, "selectbox", "Machine ID").select(row["machine_id"]).run()
    assert any(span in option for option in widget(at, "selectbox", "Clip").options)
    assert clip_box.options  # the default view listed clips too
    # "short faults only" lists only anomalous clips whose fault covers < 60 % of the clip
    cfg = json.loads((bundled / NAM / "config.json").read_text())
    clip_seconds = float(cfg["data"]["clip_seconds"])
    spans = clips["fault_offset_s"] - clips["fault_onset_s"]
    short = set(clips.index[(clips["label"] == 1) & (spans < 0.6 * clip_seconds)])
    assert short and short != set(clips.index[clips["label"] == 1])  # the filter has something to leave out
    box = next(c for c in at.checkbox if c.label.startswith("Short faults only"))
    assert f"({len(short)} clips" in box.label
    at = box.check().run()
    for machine_type in widget(at, "selectbox", "Machine type").options:
        at = widget(at, "selectbox", "Machine type").select(machine_type).run()
        for machine_id in widget(at, "selectbox", "Machine ID").options:
            at = widget(at, "selectbox", "Machine ID").select(machine_id).run()
            listed = {int(o.split(" ", 1)[0][1:]) for o in widget(at, "selectbox", "Clip").options}
            assert listed <= short, (machine_type, machine_id)
    assert int(at.query_params["clip"]) in short


def test_attention_without_tagram_still_shows_spectrogram_and_span(page, bundled):
    at = page("attention", run=AE)
    assert any("no temporal attention" in i.value for i in at.info)
    fig = figures(at)[0]
    assert plots.ATTENTION_TRACE not in [t.get("name") for t in fig["data"]]
    assert [t["type"] for t in fig["data"]] == ["heatmap"]
    assert any(s["type"] == "rect" for s in fig["layout"]["shapes"])


# --- Embeddings ------------------------------------------------------------------------------

def test_embeddings_scatter_and_the_clip_in_the_url_with_its_neighbours(page, bundled):
    clips, train = clips_of(bundled, NAM), clips_of(bundled, NAM, "train_clips.parquet")
    clip = int(clips.index[(clips["label"] == 1) & (clips["machine_type"] == "valve")][0])
    at = page("embeddings", run=NAM, clip=clip)
    scatter = figures(at)[0]
    names = [t.get("name") for t in scatter["data"]]
    assert plots.TRAIN_TRACE in names and plots.HIGHLIGHT_TRACE in names
    assert next(t for t in scatter["data"] if t.get("name") == plots.HIGHLIGHT_TRACE)["customdata"] == [[clip]]
    # every test point maps back to a clips row
    points = [c[0] for t in scatter["data"] if t.get("customdata") and t["name"] != plots.HIGHLIGHT_TRACE
              for c in t["customdata"]]
    assert sorted(points) == list(clips.index)
    # the opened clip: audio, spectrogram with attention, and the 5 nearest valve training normals
    assert len(at.get("audio")) == 1 + 5
    assert plots.ATTENTION_TRACE in [t.get("name") for t in figures(at)[1]["data"]]
    expected = alarms.nearest_training_clips(np.load(bundled / NAM / "eval" / "embeddings.npy")[clip],
                                             np.load(bundled / NAM / "eval" / "train_embeddings.npy"),
                                             train, "valve", k=5)
    shown = [m.value for m in at.markdown if "similarity" in m.value]
    assert len(shown) == 5
    for text, (_, neighbour) in zip(shown, expected.iterrows()):
        assert neighbour["path"] in text and f"{neighbour['similarity']:.4f}" in text
        assert neighbour["path"].startswith("valve/")


def test_embeddings_without_a_clip_asks_for_a_click(page):
    at = page("embeddings", run=AE, color="angle_to_centre_deg")
    assert any("Click" in i.value for i in at.info)
    assert any("no angles" in c.value for c in at.caption)


# --- False alarms ----------------------------------------------------------------------------

def recount(test: pd.DataFrame, train: pd.DataFrame, column: str, percentile: float) -> tuple[int, int]:
    """False alarms and missed anomalies, recomputed with a plain loop over the machine IDs."""
    fp = fn = 0
    for (machine_type, machine_id), rows in test.groupby(["machine_type", "machine_id"]):
        mine = train[(train["machine_type"] == machine_type) & (train["machine_id"] == machine_id)]
        threshold = np.percentile(mine[column].dropna(), percentile)
        fp += int(((rows["label"] == 0) & (rows[column] > threshold)).sum())
        fn += int(((rows["label"] == 1) & (rows[column] <= threshold)).sum())
    return fp, fn


@pytest.mark.parametrize("run, backend, pct", [(NAM, None, None), (NAM, "cosine", 50), (AE, None, None)])
def test_false_alarm_counts_match_a_recount(page, bundled, run, backend, pct):
    query = {"run": run, **({"backend": backend} if backend else {}), **({"pct": pct} if pct else {})}
    at = page("false_alarms", **query)
    test, train = clips_of(bundled, run), clips_of(bundled, run, "train_clips.parquet")
    column = f"score_{backend or json.loads((bundled / run / 'config.json').read_text())['eval']['backend']}"
    fp, fn = recount(test, train, column, pct or 90.0)
    assert widget(at, "metric", "False alarms / normal clips").value == f"{fp} / {(test['label'] == 0).sum()}"
    assert widget(at, "metric", "Missed / anomalous clips").value == f"{fn} / {(test['label'] == 1).sum()}"
    assert widget(at, "selectbox", "Scoring back-end").value == column[len("score_"):]
    # the opened clip (the worst false alarm, or the worst miss) comes with a diagnosis
    if fp or fn:
        assert any(w.value.startswith("**Diagnosis:**") for w in at.warning)
        assert int(at.query_params["clip"]) in test.index


def test_false_alarms_opens_the_clip_in_the_url_and_lists_missed_anomalies(page, bundled):
    test = clips_of(bundled, NAM)
    at = page("false_alarms", run=NAM, list="missed")
    listed = at.dataframe[1].value
    assert (test.loc[listed["clip"], "label"] == 1).all()
    clip = int(listed["clip"].iloc[-1])
    at = page("false_alarms", run=NAM, list="missed", clip=clip)
    assert widget(at, "selectbox", "Open a clip").value == clip
    assert len(at.get("audio")) == 1 + 5  # the clip and its nearest training normals


def test_false_alarms_diagnosis_reads_the_nearest_normals_the_page_shows(page, monkeypatch):
    """On the bundled Noisy-ArcMix run: the table's diagnosis and the opened clip's are one text, and
    a clip "far from every centre" says whether its nearest training normals (the ones listed below
    it) are of its own machine (a diagnosis once said "unlike any training normal" of a clip whose
    five nearest normals were all of its own ID)."""
    bundled = PROJECT_ROOT / "checkpoints"
    monkeypatch.setenv("ASD_BUNDLED", str(bundled))
    test, train = clips_of(bundled, NAM), clips_of(bundled, NAM, "train_clips.parquet")
    embeddings = np.load(bundled / NAM / "eval" / "embeddings.npy")
    train_embeddings = np.load(bundled / NAM / "eval" / "train_embeddings.npy")
    at = page("false_alarms", run=NAM)
    table = at.dataframe[1].value.set_index("clip")
    far = table.index[table["diagnosis"].str.startswith("far from every centre")]
    assert len(far) >= 3
    for clip in far[:3]:
        at = page("false_alarms", run=NAM, clip=int(clip))
        shown = next(w.value for w in at.warning if w.value.startswith("**Diagnosis:**"))
        assert shown == f"**Diagnosis:** {table.loc[clip, 'diagnosis']}"
        nearest = alarms.nearest_training_clips(embeddings[clip], train_embeddings, train,
                                                test.loc[clip, "machine_type"], k=5)
        own = int(((nearest["machine_type"] == test.loc[clip, "machine_type"])
                   & (nearest["machine_id"] == test.loc[clip, "machine_id"])).sum())
        if own >= 3:
            assert f"yet {own} of its 5 nearest training normals are of its own machine" in shown, shown
        else:
            assert "most of its nearest training normals are of other machines" in shown, shown


def test_false_alarms_another_run_opens_on_its_own_back_end_and_worst_clip(page, bundled):
    """Switching the run drops the last run's back-end and clip from the URL: the new run opens as
    a fresh link to it would (a softmax score and clip kept over the autoencoder had no meaning)."""
    at = page("false_alarms", run=NAM, backend="cosine")
    assert at.query_params["backend"] == "cosine" and "clip" in at.query_params
    at = widget(at, "selectbox", "Run").select(AE).run()
    fresh = page("false_alarms", run=AE)
    # the autoencoder's own default back-end, in the box and in the URL: not the cosine carried over
    ae_default = json.loads((bundled / AE / "config.json").read_text())["eval"]["backend"]
    assert ae_default != "cosine"
    assert widget(at, "selectbox", "Scoring back-end").value == ae_default
    assert at.query_params["backend"] == ae_default
    assert widget(fresh, "selectbox", "Scoring back-end").value == ae_default
    assert at.query_params.get("clip") == fresh.query_params.get("clip")


# --- empty states and the run in the URL ---------------------------------------------------

@pytest.mark.parametrize("name", ["angles", "attention", "embeddings", "false_alarms"])
def test_pages_without_runs_say_what_to_do(page, monkeypatch, tmp_path, name):
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled-runs"))
    failed = tmp_path / "runs" / "broken-run"  # ASD_RUNS: a run that failed is named, with its error
    failed.mkdir(parents=True)
    (failed / "config.json").write_text(json.dumps({"recipe": NAM}))
    (failed / "status.json").write_text(json.dumps({"state": "failed", "error": "out of memory"}))
    at = page(name)
    assert any("No evaluated runs yet" in i.value for i in at.info)
    assert any("broken-run" in c.value and "failed" in c.value and "out of memory" in c.value for c in at.caption)


def test_missing_audio_says_how_to_make_the_data(page, bundled, tmp_path, monkeypatch):
    """A run evaluated on a data set this machine does not have: the page says what to do."""
    moved = tmp_path / "bundled-elsewhere"
    shutil.copytree(bundled / NAM, moved / NAM, ignore=shutil.ignore_patterns("*.pt"))
    config = json.loads((moved / NAM / "config.json").read_text())
    config["data"]["roots"] = [str(tmp_path / "not-made-yet")]
    (moved / NAM / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("ASD_BUNDLED", str(moved))
    at = page("attention", run=NAM)
    assert any("make data" in w.value for w in at.warning)
    assert any("make data" in c.value for c in at.caption)  # in place of the audio player


def test_the_run_in_the_url_is_the_one_shown(page):
    at = page("false_alarms", run=AE)
    assert widget(at, "selectbox", "Run").value == AE
    assert widget(at, "selectbox", "Scoring back-end").options == ["reconstruction"]


# --- DCASE 2021-2023 data: domains and attributes --------------------------------------------

SHIFT = "shift-run"


@pytest.fixture
def shift_bundled(bundled, tmp_path, monkeypatch) -> Path:
    """The Noisy-ArcMix run as if its data had source and target domains: every third clip of a
    machine ID is a target-domain clip recorded by a far microphone (the scores and angles stay
    those of the real run), served beside the run on the plain data."""
    folder = tmp_path / "bundled"
    shutil.copytree(bundled, folder)
    shutil.copytree(bundled / NAM, folder / SHIFT)
    for name in ("clips.parquet", "train_clips.parquet"):
        clips = clips_of(folder, SHIFT, name)
        target = clips.groupby(["machine_type", "machine_id"]).cumcount() % 3 == 0
        clips["domain"] = np.where(target, "target", "source")
        clips["attributes"] = np.where(target, "mic=far", "mic=near")
        clips["section"] = clips["machine_id"].str[-2:]
        # the subcluster back-end of a run on domain data: target clips ranked on another scale than
        # the source ones (eq. 3 against eq. 2), decided on a score like the source clips' (eq. 3's first term)
        clips["score_subcluster"] = clips["score_gmm"] + np.where(target, 5.0, 0.0)
        clips["decision_subcluster"] = clips["score_gmm"]
        clips.to_parquet(folder / SHIFT / "eval" / name)
    config = json.loads((folder / SHIFT / "config.json").read_text())
    config["data"]["roots"] = ["data/toy-domain"]
    (folder / SHIFT / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    return folder


def test_angles_split_by_domain_and_filtered_to_the_target_domain(page, shift_bundled):
    at = page("angles", runs=SHIFT, split="1")
    assert widget(at, "selectbox", "Domain").options == ["all", "source", "target"]
    names = {t["name"] for t in figures(at)[0]["data"] if t["type"] == "histogram"}
    assert names == {"normal · source", "normal · target", "anomaly · source", "anomaly · target"}
    clips = clips_of(shift_bundled, SHIFT)
    # each domain's normals against all the anomalies, as DCASE 2021-2023 score a domain
    target_normals = clips.loc[(clips["label"] == 0) & (clips["domain"] == "target"), "angle_to_centre_deg"]
    sep = plots.angle_separation(target_normals, clips.loc[clips["label"] == 1, "angle_to_centre_deg"])
    table = at.dataframe[0].value
    assert table["angle AUC target"].item() == pytest.approx(sep["auc"])
    assert table["median normal target (°)"].item() == pytest.approx(sep["median_normal_deg"])

    at = page("angles", runs=SHIFT, domain="target", attr="mic=far")
    target = clips[clips["domain"] == "target"]
    assert at.dataframe[0].value["normal / anomalous clips"].item() == \
        f"{(target['label'] == 0).sum()} / {(target['label'] == 1).sum()}"
    assert at.query_params["domain"] == "target" and at.query_params["attr"] == "mic=far"


def test_angles_warns_when_the_panels_come_from_different_data_sets(page, shift_bundled):
    at = page("angles", runs=f"{NAM},{SHIFT}")
    assert any("different data sets" in w.value and "data/toy-domain" in w.value for w in at.warning)
    assert not any("different data sets" in w.value for w in page("angles", runs=NAM).warning)


def test_embeddings_coloured_by_domain_with_the_target_training_normals_marked(page, shift_bundled):
    at = page("embeddings", run=SHIFT, color="domain", projection="pca")
    traces = figures(at)[0]["data"]
    names = [t["name"] for t in traces]
    assert {"source", "target", "training normals (target)"} <= set(names)
    clips = clips_of(shift_bundled, SHIFT)
    target = next(t for t in traces if t["name"] == "target")
    assert sorted(int(c[0]) for c in target["customdata"]) == sorted(clips.index[clips["domain"] == "target"])
    assert any("domain shift" in c.value for c in at.caption)
    # filtered to one section and the target domain: only its target clips are drawn
    at = page("embeddings", run=SHIFT, color="attributes", projection="pca", type="fan", id="id_00",
              domain="target")
    drawn = [int(c[0]) for t in figures(at)[0]["data"] if t.get("customdata") for c in t["customdata"]]
    wanted = clips.index[(clips["machine_type"] == "fan") & (clips["machine_id"] == "id_00")
                         & (clips["domain"] == "target")]
    assert sorted(drawn) == sorted(wanted)
    # on data without domains there is nothing to colour or filter by domain
    at = page("embeddings", run=NAM)
    assert "domain" not in widget(at, "radio", "Colour by").options
    assert not [w for w in at.selectbox if w.label == "Domain"]


def test_false_alarms_per_domain(page, shift_bundled):
    at = page("false_alarms", run=SHIFT, domain="target")
    test, train = clips_of(shift_bundled, SHIFT), clips_of(shift_bundled, SHIFT, "train_clips.parquet")
    column = f"score_{json.loads((shift_bundled / SHIFT / 'config.json').read_text())['eval']['backend']}"
    decided = alarms.decide(test, alarms.thresholds_per_id(alarms.threshold_reference(train), column, 90.0), column)
    target = decided[decided["domain"] == "target"]
    assert widget(at, "metric", "False alarms / normal clips").value == \
        f"{len(alarms.false_alarms(target))} / {(target['label'] == 0).sum()}"
    counts = at.dataframe[0].value
    assert set(counts["domain"]) == {"target"}
    rate = {d: len(alarms.false_alarms(decided[decided["domain"] == d]))
            / ((decided["domain"] == d) & (decided["label"] == 0)).sum() for d in ("source", "target")}
    assert f"source {rate['source']:.0%}, target {rate['target']:.0%} of the normals" in " ".join(c.value for c in at.caption)


def test_false_alarms_threshold_each_section_and_domain_and_subcluster_decides_on_its_decision_score(
        page, shift_bundled):
    """On data with domains: one threshold per section and domain (the sub-cluster AdaCos report), from
    the held-out normals where a group has 3 or more, else all its training normals; the subcluster
    back-end decides target clips on eq. 3's first term (decision_subcluster)."""
    test, train = clips_of(shift_bundled, SHIFT), clips_of(shift_bundled, SHIFT, "train_clips.parquet")
    assert "decision_subcluster" in test.columns
    at = page("false_alarms", run=SHIFT, backend="subcluster")
    fp = 0
    for (machine_type, machine_id, domain), rows in test.groupby(["machine_type", "machine_id", "domain"]):
        mine = train[(train["machine_type"] == machine_type) & (train["machine_id"] == machine_id)
                     & (train["domain"] == domain)]
        held_out = mine[mine["role"] == "val"]
        reference = held_out if len(held_out) >= 3 else mine
        threshold = np.percentile(reference["decision_subcluster"], 90.0)
        fp += int(((rows["label"] == 0) & (rows["decision_subcluster"] > threshold)).sum())
    assert widget(at, "metric", "False alarms / normal clips").value == f"{fp} / {(test['label'] == 0).sum()}"
    assert any("first term of eq. 3" in c.value for c in at.caption)
    # the gamma rule is a choice kept in the URL, and changes the thresholds
    gamma = page("false_alarms", run=SHIFT, backend="subcluster", rule="gamma")
    assert widget(gamma, "selectbox", "Rule").value == "gamma"
    assert widget(gamma, "metric", "False alarms / normal clips").value != f"{fp} / {(test['label'] == 0).sum()}"
