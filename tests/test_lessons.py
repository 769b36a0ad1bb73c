"""The lessons (asdcore.lessons, the Lessons page, notebooks/lessons/): every answer is checked against an
independent computation on the bundled runs' files; every lesson renders on the page with no error; every
"try it" link opens a page that renders; the run buttons queue the run they name; the notebooks are what
scripts/make_lesson_notebooks.py writes, and they execute.  The real-browser check is in test_browser.py."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from apptest import run_page
from asdcore import lessons
from asdcore.lessons import methods as methods_module

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = PROJECT_ROOT / "checkpoints"
TOY = PROJECT_ROOT / "data" / "toy"


@pytest.fixture(scope="module")
def context():
    if not (TOY / "metadata.csv").exists():
        pytest.fail("the lessons read data/toy, the bundled runs' data: run `make data`")
    return lessons.Context(CHECKPOINTS, TOY, TOY)


def clips_of(run_id: str, name: str = "clips") -> pd.DataFrame:
    return pd.read_parquet(CHECKPOINTS / run_id / "eval" / f"{name}.parquet")


def dcase_auc(clips: pd.DataFrame, score: str = "score") -> float:
    """DCASE 2020 protocol from its definition: AUC per machine ID, mean per type, mean over types."""
    per_type = []
    for _, of_type in clips.groupby("machine_type"):
        ids = [roc_auc_score(g["label"], g[score]) for _, g in of_type.groupby("machine_id") if g["label"].nunique() == 2]
        if ids:
            per_type.append(np.mean(ids))
    return float(np.mean(per_type))


def test_there_are_eight_numbered_lessons_each_with_a_goal_question_figures_and_a_step_to_try(context):
    assert [lesson.number for lesson in lessons.LESSONS] == list(range(1, 9))
    for lesson in lessons.LESSONS:
        assert lesson.goal.endswith(".") and lesson.question.endswith("?")
        assert lesson.figures(context), lesson.title
        assert lesson.links(context), f"lesson {lesson.number} has nothing to try"


def test_lesson_1_counts_the_test_clips_and_their_faults_from_the_files(context):
    values = lessons.get(1).answer(context).values
    wavs = list(TOY.glob("*/test/*.wav"))
    assert values["n_test"] == len(wavs)
    assert values["n_anomalous"] == sum(p.name.startswith("anomaly") for p in wavs)
    meta = pd.read_csv(TOY / "metadata.csv")
    faults = meta[meta["path"].str.contains("/test/") & meta["fault_kind"].notna()]
    length = faults["fault_offset_s"] - faults["fault_onset_s"]
    assert values["median_fault_s"] == pytest.approx(length.median())
    assert values["share_short"] == pytest.approx((length < 1.0).mean())
    assert values["share_by_family"]["added"] == pytest.approx((faults["fault_family"] == "added").mean())


def test_lesson_2_id_accuracies_and_their_wilson_intervals(context):
    values = lessons.get(2).answer(context).values
    clips = clips_of("tastgram-noisy-arcmix")
    for label, key in ((0, "normal"), (1, "anomalous")):
        of_label = clips[clips["label"] == label]
        k, n = int((of_label["predicted_class"] == of_label["class_index"]).sum()), len(of_label)
        assert values[key] == pytest.approx(k / n)
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert values[f"{key}_ci"] == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert values["auc"] == pytest.approx(dcase_auc(clips), abs=1e-9)
    assert values["normal_ci"][0] > values["anomalous_ci"][1]  # the lesson's claim: faults lower ID accuracy


def test_lesson_3_angles_and_the_paired_difference_of_ce_and_arcface(context):
    values = lessons.get(3).answer(context).values
    for key, run in (("ce", "tastgram-ce"), ("arcface", "tastgram-arcface")):
        clips = clips_of(run)
        assert values[key]["median_normal_deg"] == pytest.approx(clips.loc[clips["label"] == 0, "angle_to_centre_deg"].median())
        lo, hi = values[key]["angle_auc_ci"]
        angle_auc = roc_auc_score(clips["label"], clips["angle_to_centre_deg"])  # Fig. 1's pooled angle AUC
        assert lo <= angle_auc <= hi and values[key]["angle_auc"] == pytest.approx(angle_auc, abs=1e-9)
    d = values["score_difference"]
    expected = dcase_auc(clips_of("tastgram-arcface")) - dcase_auc(clips_of("tastgram-ce"))
    assert d["difference"] == pytest.approx(expected, abs=1e-9)
    assert d["ci_low"] < d["difference"] < d["ci_high"]


def test_lesson_4_paired_differences_and_which_lie_within_the_noise(context):
    answer = lessons.get(4).answer(context)
    for pair, v in answer.values["pairs"].items():
        a, b = pair.split(" - ")
        expected = dcase_auc(clips_of(a)) - dcase_auc(clips_of(b))
        assert v["difference"] == pytest.approx(expected, abs=1e-9), pair
        assert v["within_noise"] == (v["ci_low"] <= 0 <= v["ci_high"])
        assert ("within the noise" in answer.text) or not v["within_noise"]
        # the same pair on Fig. 1's pooled angle AUC, against sklearn's AUC of each run's angles
        angle = answer.values["angle_pairs"][pair]
        auc = {r: roc_auc_score(clips_of(r)["label"], clips_of(r)["angle_to_centre_deg"]) for r in (a, b)}
        assert angle["difference"] == pytest.approx(auc[a] - auc[b], abs=1e-9), pair
    conclusion = lessons.get(4).conclude(context, answer)
    for pair, angle in answer.values["angle_pairs"].items():
        # a pair equal in detection but not in angle is named in the conclusion, with its angle interval
        named = answer.values["names"][pair] in conclusion and f"{angle['difference']:+.3f}" in conclusion
        assert named == (answer.values["pairs"][pair]["within_noise"] and not angle["within_noise"]), pair
    seeds = json.loads((CHECKPOINTS / "seeds.json").read_text())
    for recipe, (n, mean, sd) in answer.values["seeds"].items():
        averages = [100 * r["average"]["auc"] for r in seeds[recipe].values()]
        assert (n, mean, sd) == (len(averages), pytest.approx(np.mean(averages)), pytest.approx(np.std(averages, ddof=1)))


def test_lesson_5_auc_per_fault_family(context):
    values = lessons.get(5).answer(context).values
    meta = pd.read_csv(TOY / "metadata.csv")[["path", "fault_family"]]
    for run in ("tastgram-noisy-arcmix", "dcase-ae"):
        clips = clips_of(run).drop(columns="fault_family", errors="ignore").merge(meta, on="path", how="left")
        for family in ("structural", "added"):
            anomalies = clips[(clips["label"] == 1) & (clips["fault_family"] == family)]
            normals = clips[(clips["label"] == 0) & clips["machine_type"].isin(anomalies["machine_type"])]
            v = values[f"{run}:{family}"]
            assert v["n_anomalies"] == len(anomalies)
            assert v["auc"] == pytest.approx(dcase_auc(pd.concat([normals, anomalies])), abs=1e-9)
            assert v["ci"][0] <= v["auc"] <= v["ci"][1]


def test_lesson_5_answers_whether_the_attention_finds_the_shown_fault(context):
    """The figure asks "does the attention find it?": the conclusion answers for the clip shown, with its
    mean weight inside and outside the fault's span, recomputed here from the run's files."""
    lesson = lessons.get(5)
    text = lesson.conclude(context, lesson.answer(context))
    clips = clips_of("tastgram-noisy-arcmix")
    row = methods_module.short_added_fault(context)
    weights = np.load(CHECKPOINTS / "tastgram-noisy-arcmix" / "eval" / "attention.npy").astype(float)
    w = weights[clips.index.get_loc(row.name)]
    seconds = np.arange(len(w)) * 512 / 16000  # the run's hop and sample rate
    inside = (seconds >= row["fault_onset_s"]) & (seconds <= row["fault_offset_s"])
    w_in, w_out = w[inside].mean(), w[~inside].mean()
    assert f"the attention's mean weight is {w_in:.2f} inside the fault and {w_out:.2f} outside" in text
    assert ("it opens on the fault" if w_in > w_out else "it does not open on the fault") in text


def test_lesson_6_auc_per_domain(context):
    values = lessons.get(6).answer(context).values
    clips = clips_of("shift-tastgram-noisy-arcmix")
    label = "TASTgram-MFN (Noisy-ArcMix)"  # the run's label without " · domain shift"
    for domain in ("source", "target"):
        assert values[label][domain]["auc"] == pytest.approx(dcase_auc(clips[clips["domain"] == domain]), abs=1e-9)
        assert values["Noisy-ArcMix, gmm"][domain]["auc"] == pytest.approx(
            dcase_auc(clips[clips["domain"] == domain], "score_gmm"), abs=1e-9)


def test_lesson_7_finds_the_normal_clip_furthest_above_its_ids_threshold(context):
    values = lessons.get(7).answer(context).values
    test, train = clips_of("tastgram-noisy-arcmix"), clips_of("tastgram-noisy-arcmix", "train_clips")
    held_out = train[train["role"] == "val"]  # every ID of the bundled run keeps >= 3 held-out normals
    thresholds = held_out.groupby(["machine_type", "machine_id"])["score"].quantile(0.9)
    normals = test[test["label"] == 0]
    above = normals["score"] - thresholds.reindex(pd.MultiIndex.from_frame(normals[["machine_type", "machine_id"]])).to_numpy()
    assert values["n_false_alarms"] == int((above > 0).sum())
    assert values["index"] == int(above.idxmax())
    assert values["threshold"] == pytest.approx(values["score"] - above.max())
    row = test.loc[values["index"]]
    assert values["predicted_class"] == row["predicted_class"] and values["class_index"] == row["class_index"]
    if row["predicted_class"] != row["class_index"]:
        assert "ID confusion" in values["diagnosis"]


def test_lesson_8_describes_the_data_set_in_use(context, tiny_toy_root):
    values = lessons.get(8).answer(context).values
    assert values["n_clips"] == len(list(TOY.glob("*/*/*.wav")))
    assert values["layouts"] == ["dcase2020"]
    # DCASE 2020 names: <type>/<split>/<label>_id_XX_NNNNNNNN.wav
    ids = {(p.parent.parent.name, "_".join(p.stem.split("_")[1:3])) for p in TOY.glob("*/*/*.wav")}
    assert values["n_ids"] == len(ids)
    assert values["n_types"] == len({t for t, _ in ids})
    other = lessons.get(8).answer(lessons.Context(CHECKPOINTS, TOY, tiny_toy_root)).values
    assert other["n_clips"] == len(list(Path(tiny_toy_root).glob("*/*/*.wav")))  # it follows ASD_DATA


@pytest.mark.parametrize("number", range(1, 9))
def test_every_lesson_renders_on_the_page_without_errors(number):
    at = run_page("lessons", lesson=number)
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown)
    assert f"Lesson {number}" in " ".join(h.value for h in at.header)
    assert "**Question.**" in text and "**What to conclude.**" in text
    assert at.get("plotly_chart")


def _page_files() -> dict[str, str]:
    """url path -> page file, from app.py's st.Page(...) lines."""
    app = (PROJECT_ROOT / "app.py").read_text()
    pages = {m.group(2): Path(m.group(1)).stem for m in re.finditer(r'st\.Page\("([^"]+)"[^)]*?url_path="([^"]+)"', app)}
    pages["."] = "home"
    return pages


def test_every_try_it_link_opens_a_page_that_renders(context):
    pages = _page_files()
    for lesson in lessons.LESSONS:
        for step in lesson.links(context):
            if not isinstance(step, lessons.Link):
                continue
            page = step.page or "."
            assert page in pages, f"lesson {lesson.number}: no page {page!r} ({step.text})"
            at = run_page(pages[page], **step.query)
            assert not at.error, (lesson.number, step.url, [e.value for e in at.error])
            for key, value in step.query.items():  # the page kept the state the link set
                kept = at.query_params[key]
                assert (kept if isinstance(kept, str) else kept[0]) == str(value), (step.url, key, kept)


def test_a_try_it_button_queues_the_run_it_promises(monkeypatch, tmp_path):
    """Lesson 4's button queues a quick Noisy-ArcMix run with seed 3 on the bundled runs' data (the
    process that would train it is not started here)."""
    from asdcore.jobs import launcher

    spawned = []
    monkeypatch.setattr(launcher, "_spawn", lambda run_dir: spawned.append(run_dir))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path))
    at = run_page("lessons", lesson=4)
    button = next(b for b in at.button if "new seed" in b.label)
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (run_dir,) = spawned
    assert run_dir.parent == tmp_path
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["recipe"], config["preset"], config["seed"]) == ("tastgram-noisy-arcmix", "quick", 3)
    assert [str(Path(r)) for r in config["data"]["roots"]] == ["data/toy"]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "queued"
    assert any(run_dir.name in s.value for s in at.success)  # the page names the run and links to it


def test_the_notebooks_are_what_the_generator_writes():
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from make_lesson_notebooks import expected

    folder = PROJECT_ROOT / "notebooks" / "lessons"
    assert sorted(p.name for p in folder.glob("*.ipynb")) == sorted(expected())
    for name, text in expected().items():
        assert (folder / name).read_text() == text, f"{name} is stale: run scripts/make_lesson_notebooks.py"


@pytest.mark.parametrize("lesson", lessons.LESSONS, ids=lambda lesson: lesson.name)
def test_every_lesson_notebook_executes_with_its_figures_and_answer(lesson):
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "lessons" / f"{lesson.name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks" / "lessons")}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"], [o.get("evalue") for o in outputs]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, "no interactive figure"
    markdown = " ".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert f"Lesson {lesson.number}" in markdown and "computed from the runs now" in markdown
