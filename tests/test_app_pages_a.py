"""The Home, Train, Compare and Margin lab pages, in AppTest, against one real evaluated run.

One tiny run (TASTgram-MFN with Noisy-ArcMix, one epoch, no UMAP) is trained once for the module
and served as the bundled runs (ASD_BUNDLED), with a copy whose numbers are all lower, so the
Compare table has a known best row.  The user's runs folder (ASD_RUNS) is a fresh folder per test.
"""
from __future__ import annotations

import json
import os
import re
from urllib.parse import quote
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from apptest import run_page

from asdcore.jobs import launcher
from asdcore.recipes import resolve
from asdcore.runs import Run, mark_queued, write_json_atomic

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAM, WEAKER = "tastgram-noisy-arcmix", "weaker-copy"


@pytest.fixture(scope="module")
def bundled(tiny_toy_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pages_a") / "bundled"
    proc = subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", NAM, "--preset", "tiny",
                           "--data", str(tiny_toy_root), "--run-dir", str(folder / NAM), "--quiet",
                           "--set", "train.epochs=1", "--set", "eval.umap=false"],
                          cwd=PROJECT_ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # a second evaluated run for the Compare table: every number lower, and no gmm back-end
    shutil.copytree(folder / NAM, folder / WEAKER)
    config = json.loads((folder / WEAKER / "config.json").read_text())
    write_json_atomic(folder / WEAKER / "config.json", dict(config, label="Weaker copy"))
    metrics = json.loads((folder / WEAKER / "eval" / "metrics.json").read_text())
    metrics["by_backend"].pop("gmm")
    write_json_atomic(folder / WEAKER / "eval" / "metrics.json", _scaled(metrics, 0.9))
    # and really weaker on its test clips, so that Compare's paired test tells the two apart: every
    # anomaly scored below every normal of its run
    clips = pd.read_parquet(folder / WEAKER / "eval" / "clips.parquet")
    clips.loc[clips["label"] == 1, "score"] = clips["score"].min() - 1.0
    clips.to_parquet(folder / WEAKER / "eval" / "clips.parquet", index=False)
    return folder


def _scaled(node, factor):
    """Every auc / pauc / mauc number in a metrics.json, times factor."""
    if isinstance(node, dict):
        return {k: (v * factor if k in ("auc", "pauc", "mauc") and isinstance(v, float) else _scaled(v, factor))
                for k, v in node.items()}
    return [_scaled(v, factor) for v in node] if isinstance(node, list) else node


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def env(bundled, runs_dir, tiny_toy_root, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(bundled))
    monkeypatch.setenv("ASD_RUNS", str(runs_dir))
    monkeypatch.setenv("ASD_DATA", str(tiny_toy_root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))  # the pages import app_pages.shared, as under app.py


@pytest.fixture
def page(env):
    """page(name, **query) -> the AppTest of app_pages/<name>.py after its first run."""
    return run_page


def widget(at: AppTest, kind: str, label: str):
    return next(w for w in getattr(at, kind) if w.label == label)


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def running_blocker(runs_dir: Path) -> Path:
    """A run that reads as training (this test's pid): a run started now waits behind it."""
    folder = runs_dir / "0-someone-else"
    mark_queued(folder, resolve("stgram-ce", "tiny"))
    write_json_atomic(folder / "status.json", dict(Run(folder).status, state="running", pid=os.getpid(),
                                                   created=time.time() - 60))
    return folder


# --- Home --------------------------------------------------------------------------------------

def test_home_guides_lists_runs_and_plays_a_normal_and_an_anomalous_clip(env, bundled):
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60)
    at.query_params["type"] = "valve"
    started = time.perf_counter()
    at.run()
    print(f"Home first render in AppTest: {time.perf_counter() - started:.2f} s")
    assert not at.exception, [e.message for e in at.exception]
    guide = texts(at.markdown)
    assert "**Start here:** [the Lessons](lessons?lesson=1)" in guide  # a newcomer's path starts at lesson 1
    for name in ("Lessons", "Train", "Compare", "Angles", "Attention", "Embeddings", "False alarms", "Margin lab"):
        assert f"**{name}**" in guide
    assert len(at.table[0].value) == 12  # the data set's counts per machine ID come first
    # the machine type from the URL: one normal and one anomalous valve clip, each heard and drawn
    assert widget(at, "selectbox", "Machine type").value == "valve"
    assert len(at.get("audio")) == 2
    captions = [caption for image in at.get("image") for caption in image.captions]
    assert len(captions) == 2 and "fault" not in captions[0] and "the orange bar marks the fault" in captions[1]
    assert figures(at) == []  # pictures, not plotly figures: the first page loads no plotly.js
    assert "valve/test/anomaly_id_00" in guide and "fault: **" in guide  # the toy factory's fault label
    # what the toy data set is, what each preset teaches, its faults as an engineer would hear them
    assert "toy factory**'s `tiny` preset" in guide and "Why ID classifiers work here" in guide
    tables = [t.value for t in at.table]
    presets = next(t for t in tables if "what it teaches" in t.columns)
    assert {"tiny", "default", "hard", "dcase-scale"} <= set(presets["preset"])
    faults = next(t for t in tables if "family" in t.columns)
    assert set(faults["family"]) == {"structural", "added"} and set(faults["machine type"]) >= {"fan", "valve"}
    runs = next(t for t in tables if "run" in t.columns).set_index("run")
    assert set(runs.index) == {NAM, WEAKER} and set(runs["state"]) == {"finished"}
    average = json.loads((bundled / NAM / "eval" / "metrics.json").read_text())["average"]
    assert runs.loc[NAM, "AUC"] == f"{100 * average['auc']:.1f} %"  # a percentage with one decimal, not 57.5700


def test_home_another_pair_goes_in_the_url(page):
    at = page("home", type="fan")
    at = widget(at, "number_input", "Pair").set_value(2).run()
    assert at.query_params["pair"] == "2" and at.query_params["type"] == "fan"
    assert "fan/test/normal_id_00_00000001.wav" in texts(at.markdown)


# --- Train -------------------------------------------------------------------------------------

def test_train_start_button_queues_a_run_folder(page, runs_dir, tiny_toy_root):
    running_blocker(runs_dir)  # so the new run waits in the queue instead of training
    at = page("train")
    at = widget(at, "number_input", "epochs").set_value(1).run()
    assert "--set epochs=1" in texts(at.code)
    at = widget(at, "button", "Start training").click().run()
    assert not at.exception, [e.message for e in at.exception]
    new = [p for p in runs_dir.iterdir() if p.name != "0-someone-else"]
    assert len(new) == 1
    run = Run(new[0])
    try:
        assert run.recipe == "tastgram-noisy-arcmix" and run.config["preset"] == "tiny"
        assert run.config["train"]["epochs"] == 1 and run.config["data"]["roots"] == [str(tiny_toy_root)]
        assert run.state == "queued"
        # the new run is selected, in the URL and in the picker, and its live view says it waits
        assert at.query_params["run"] == run.id
        assert widget(at, "selectbox", "Run to watch").value == run.id
        assert "Started" in texts(at.success) and "queued, number 2 in line" in texts(at.success)
        assert "number 2 in line" in at.get("progress")[0].proto.text
        assert widget(at, "button", "Cancel this run")
    finally:
        launcher.cancel(run)
        assert launcher.wait_for(run, timeout=30) == "cancelled"
    # the notice follows the run: once it trains it no longer says queued, once it ends it goes
    write_json_atomic(run.path / "status.json", dict(run.status, state="running", phase="training", pid=os.getpid()))
    at = at.run()
    assert "it is training now" in texts(at.success) and "queued" not in texts(at.success)
    write_json_atomic(run.path / "status.json", dict(run.status, state="cancelled"))
    at = at.run()
    assert "Started" not in texts(at.success)


def test_train_prefills_each_recipes_settings_and_sets_only_changes(page):
    at = page("train")
    for recipe in ("stgram-ce", "tfstgram-osscl", "dcase-ae"):
        at = widget(at, "selectbox", "Recipe").set_value(recipe).run()
        assert not at.exception, [e.message for e in at.exception]
        config = resolve(recipe, "tiny").to_dict()
        boxes = {w.label: w for w in at.number_input}
        assert boxes["epochs"].value == config["train"]["epochs"]
        assert boxes["learning rate"].value == pytest.approx(config["train"]["lr"])
        if "m" in config["loss"]:
            assert boxes["m (margin, rad)"].value == pytest.approx(config["loss"]["m"])  # 0.4 for TFSTgram
        else:
            assert "m (margin, rad)" not in boxes  # no margin to set for CE or the autoencoder
        assert "--set" not in texts(at.code)  # nothing changed: the plain command
    at = widget(at, "radio", "Preset").set_value("quick").run()
    assert widget(at, "number_input", "epochs").value == resolve("dcase-ae", "quick").train.epochs
    at = widget(at, "number_input", "learning rate").set_value(0.002).run()
    assert "--preset quick" in texts(at.code) and "--set lr=0.002" in texts(at.code)


def test_train_refuses_data_it_cannot_use(page, tmp_path):
    at = page("train")
    at = widget(at, "radio", "Data").set_value("Folders on this machine").run()
    assert widget(at, "button", "Start training").disabled
    missing = tmp_path / "not-here"
    at = widget(at, "text_area", "Data-set folders, one per line").input(str(missing)).run()
    assert str(missing) in texts(at.error) and "no such folder" in texts(at.error)
    assert widget(at, "button", "Start training").disabled
    empty = tmp_path / "empty"
    empty.mkdir()
    at = widget(at, "text_area", "Data-set folders, one per line").input(str(empty)).run()
    assert "Nothing to train on" in texts(at.error) and "no training normals" in texts(at.error)
    assert widget(at, "button", "Start training").disabled
    assert "Score a clip" not in texts(at.info)  # nothing there to score either
    # test clips only: nothing trains, and the page points to scoring them with a trained run
    tests_only = tmp_path / "tests only"
    for name in ("normal_id_00_00000000.wav", "anomaly_id_00_00000000.wav"):
        path = tests_only / "fan" / "test" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.zeros(32000, dtype=np.float32), 16000)
    at = widget(at, "text_area", "Data-set folders, one per line").input(str(tests_only)).run()
    assert "Nothing to train on" in texts(at.error)
    assert f"(score?path={quote(str(tests_only))})" in texts(at.info)


def test_train_refuses_a_classifier_on_a_single_machine_and_offers_the_autoencoder(page, tmp_path):
    one = tmp_path / "one-machine"
    for i in range(3):
        path = one / "slider" / "train" / f"normal_id_00_{i:08d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.zeros(16000, dtype=np.float32), 16000)
    at = page("train")
    at = widget(at, "radio", "Data").set_value("Folders on this machine").run()
    at = widget(at, "text_area", "Data-set folders, one per line").input(str(one)).run()
    assert "single class" in texts(at.error) and "dcase-ae" in texts(at.error)
    assert widget(at, "button", "Start training").disabled
    at = widget(at, "selectbox", "Recipe").set_value("dcase-ae").run()
    assert "single class" not in texts(at.error)
    assert not widget(at, "button", "Start training").disabled


def test_train_failed_run_says_what_to_do(page, runs_dir):
    folder = runs_dir / "broken-run"
    mark_queued(folder, resolve("stgram-ce", "tiny"))
    write_json_atomic(folder / "status.json", dict(Run(folder).status, state="failed", phase="done",
                                                   error="FloatingPointError: the loss became nan"))
    at = page("train", run="broken-run")
    assert "the loss became nan" in texts(at.error)
    assert launcher.resume_command(Run(folder)) in texts(at.code)
    assert widget(at, "button", "Resume")


def test_train_finished_run_shows_results_curves_and_log(page, runs_dir, bundled):
    shutil.copytree(bundled / NAM, runs_dir / "my-run")
    at = page("train", run="my-run")
    average = json.loads((bundled / NAM / "eval" / "metrics.json").read_text())["average"]
    assert widget(at, "metric", "average AUC").value == f"{100 * average['auc']:.2f} %"
    curves = figures(at)[0]
    assert {t["name"] for t in curves["data"]} >= {"training loss", "validation loss"}
    assert "epoch 1/1" in texts(at.code)
    assert at.get("progress")[0].proto.value == 100
    # the closing note links to each page it names, by app.py's url paths
    links = re.findall(r"\[([^]]+)\]\(([^)]+)\)", texts(at.success))
    assert [name for name, _ in links] == ["Compare", "Angles", "Embeddings", "False alarms"]
    url_paths = re.findall(r'url_path="([^"]+)"', (PROJECT_ROOT / "app.py").read_text())
    # each opens this run, not the pages' default bundled runs
    assert [path for _, path in links] == ["compare?runs=my-run", "angles?runs=my-run", "embeddings?run=my-run",
                                           "false-alarms?run=my-run"]
    assert set(path.split("?")[0] for _, path in links) <= set(url_paths)
    # one tiny epoch does not tell the machine IDs apart: the AUC shown comes with a warning saying so
    history = [json.loads(line) for line in (runs_dir / "my-run" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["val_acc"] < 0.9
    assert "Under-trained: `my-run`" in texts(at.warning) and "smoke test" in texts(at.warning)
    # a run whose evaluated epoch learnt its classes shows no such warning
    shutil.copytree(bundled / NAM, runs_dir / "learnt")
    (runs_dir / "learnt" / "metrics.jsonl").write_text(
        "\n".join(json.dumps(dict(row, val_acc=0.97)) for row in history) + "\n")
    assert "Under-trained" not in texts(page("train", run="learnt").warning)


# --- Compare -----------------------------------------------------------------------------------

class _Cells(HTMLParser):
    """(row header, [(cell id, text)]) per body row of the Styler table."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell, self._in_body = [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag in ("th", "td"):
            self._cell = [dict(attrs).get("id", ""), ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append((self._cell[0], self._cell[1].strip()))
            self._cell = None


def results_table(at: AppTest) -> tuple[dict[str, list[tuple[str, str]]], str]:
    html = at.get("html")[0].proto.body
    parser = _Cells()
    parser.feed(html)
    return {row[0][1]: row[1:] for row in parser.rows}, html


def is_bold(html: str, cell_id: str) -> bool:
    """Whether the Styler's CSS (rules shared by cells as "#a, #b { ... }") makes the cell bold."""
    for selectors, props in re.findall(r"([^{}]+)\{([^}]*)\}", html):
        if f"#{cell_id}" in [sel.strip() for sel in selectors.split(",")] and "font-weight: bold" in props:
            return True
    return False


def test_compare_marks_the_best_and_shows_published_rows(page, bundled):
    at = page("compare")
    rows, html = results_table(at)
    best, weaker = rows["TASTgram-MFN (Noisy-ArcMix)"], rows["Weaker copy"]
    # 6 machine types x (AUC, pAUC), then average AUC, pAUC, mAUC
    assert len(best) == 15
    average_auc = json.loads((bundled / NAM / "eval" / "metrics.json").read_text())["average"]["auc"]
    assert best[12][1] == f"{100 * average_auc:.2f}¹" and weaker[12][1].endswith("²")
    assert is_bold(html, best[12][0]) and not is_bold(html, weaker[12][0])
    published = rows["TASTgram-MFN (Noisy-ArcMix) [published]"]
    assert published[12][1] == "94.65" and published[0][1] == "–"
    assert not is_bold(html, published[12][0])  # reference rows are never ranked
    captions = texts(at.caption)
    assert "**bold**" in captions and "¹" in captions and "not comparable to toy-data runs" in captions
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV", "Download LaTeX"]
    assert r"\textbf{" in texts(at.code)


def test_compare_backend_and_protocol_follow_the_url(page, bundled):
    at = page("compare", backend="gmm", protocol="pooled", published="0")
    assert widget(at, "selectbox", "Scoring back-end").value == "gmm"
    assert widget(at, "radio", "Protocol").value == "pooled"
    rows, _ = results_table(at)
    assert set(rows) == {"TASTgram-MFN (Noisy-ArcMix)", "Weaker copy"}
    assert {text for _, text in rows["Weaker copy"]} == {"–"}  # no gmm back-end in that run
    gmm = json.loads((bundled / NAM / "eval" / "metrics.json").read_text())["by_backend"]["gmm"]["pooled"]
    assert rows["TASTgram-MFN (Noisy-ArcMix)"][0][1].startswith(f"{100 * gmm['per_type']['fan']['auc']:.2f}")
    assert "no results for back-end 'gmm'" in texts(at.caption)


def test_compare_shows_source_target_and_the_official_score_for_domain_shift_runs(page, bundled, tmp_path,
                                                                                    monkeypatch):
    at = page("compare")
    assert "Domain shift (DCASE 2021-2023)" not in [h.value for h in at.subheader]  # DCASE 2020-style runs
    # the same run, as if evaluated on DCASE 2021-2023 data: its metrics.json gains a domain_shift block
    folder = tmp_path / "bundled"
    shutil.copytree(bundled / NAM, folder / NAM)
    metrics = json.loads((folder / NAM / "eval" / "metrics.json").read_text())
    rows = [{"machine_type": "fan", "mean": "harmonic", "auc_source": 0.9, "auc_target": 0.45, "pauc": 0.6}]
    metrics["domain_shift"] = {"by_backend": {metrics["backend"]: {
        "official_score": 0.6, "hmean_source": 0.9, "hmean_target": 0.45, "arithmetic_mean": 0.65,
        "machine_types": rows, "sections": [], "undefined": []}}}
    write_json_atomic(folder / NAM / "eval" / "metrics.json", metrics)
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    at = page("compare")
    assert "Domain shift (DCASE 2021-2023)" in [h.value for h in at.subheader]
    shown = at.dataframe[0].value
    assert shown.loc["TASTgram-MFN (Noisy-ArcMix)", ("fan", "AUC target")] == 45.0
    assert shown.loc["TASTgram-MFN (Noisy-ArcMix)", ("Score", "official score")] == 60.0
    assert "harmonic means over its sections" in texts(at.caption)


def test_compare_shows_one_data_set_at_a_time(page, bundled, tmp_path, monkeypatch):
    """Runs on other data (here the domain-shift set) are not mixed into the table unless asked for."""
    folder = tmp_path / "bundled"
    shutil.copytree(bundled, folder)
    shutil.copytree(bundled / NAM, folder / "shift-run")
    config = json.loads((folder / "shift-run" / "config.json").read_text())
    config.update(label="On domain-shift data", data=dict(config["data"], roots=["data/toy-domain"]))
    write_json_atomic(folder / "shift-run" / "config.json", config)
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    at = page("compare", published="0")
    data_set = widget(at, "selectbox", "Data set")
    assert data_set.value == config_roots(bundled / NAM)  # the data set with most runs (two)
    assert data_set.options[1:] == ["data/toy-domain (1 run)", "all data sets"]
    rows, _ = results_table(at)
    assert set(rows) == {"TASTgram-MFN (Noisy-ArcMix)", "Weaker copy"}
    assert "different data sets" not in texts(at.warning)
    at = page("compare", published="0", data="data/toy-domain")
    assert set(results_table(at)[0]) == {"On domain-shift data"}
    at = page("compare", published="0", data="all data sets")
    assert len(results_table(at)[0]) == 3 and "different data sets" in texts(at.warning)
    # a link naming a run but no data set (Train's "Compare" link) opens on that run's data set
    at = page("compare", published="0", runs="shift-run")
    assert widget(at, "selectbox", "Data set").value == "data/toy-domain"
    assert set(results_table(at)[0]) == {"On domain-shift data"}


def test_the_bundled_domain_shift_run_shows_its_source_and_target_aucs(page, monkeypatch):
    """The bundled run on the domain-shift preset, in Compare as a user finds it (its data set's entry)."""
    bundled = PROJECT_ROOT / "checkpoints"
    monkeypatch.setenv("ASD_BUNDLED", str(bundled))
    metrics = json.loads((bundled / "shift-tastgram-noisy-arcmix" / "eval" / "metrics.json").read_text())
    scores = metrics["domain_shift"]["by_backend"][metrics["backend"]]
    at = page("compare", data="data/toy-domain", published="0")
    assert "Domain shift (DCASE 2021-2023)" in [h.value for h in at.subheader]
    shown = at.dataframe[0].value
    row = shown.loc["TASTgram-MFN (Noisy-ArcMix) · domain shift"]
    assert row[("Score", "official score")] == pytest.approx(100 * scores["official_score"], abs=0.01)
    assert row[("Score", "h-mean source")] == pytest.approx(100 * scores["hmean_source"], abs=0.01)
    assert row[("Score", "h-mean target")] == pytest.approx(100 * scores["hmean_target"], abs=0.01)
    toycar = next(r for r in scores["machine_types"] if r["machine_type"] == "ToyCar" and r["mean"] == "harmonic")
    assert row[("ToyCar", "AUC target")] == pytest.approx(100 * toycar["auc_target"], abs=0.01)
    assert row[("ToyCar", "AUC target")] < row[("ToyCar", "AUC source")]  # the target domain is harder
    # with the published rows on: the domain-shift systems' own numbers, and no DCASE 2020 rows in the main table
    at = page("compare", data="data/toy-domain", published="1")
    rows, _ = results_table(at)
    assert not any("published" in name.lower() or "paper" in name.lower() for name in rows), list(rows)
    assert any("left out of the table below" in c.value for c in at.caption)
    assert "Published: the domain-shift systems on the real DCASE 2021-2022 data" in texts(at.markdown)


def config_roots(run_dir: Path) -> str:
    return ", ".join(json.loads((run_dir / "config.json").read_text())["data"]["roots"])


def test_a_run_of_yours_named_like_a_bundled_one_is_its_own_row(page, bundled, tmp_path, monkeypatch):
    """A run folder of yours may be named like a bundled run: both are listed and picked apart."""
    shutil.copytree(bundled / NAM, tmp_path / "mine" / NAM)
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "mine"))
    at = page("compare", published="0")
    picked = widget(at, "multiselect", "Runs (one row each)").value
    assert NAM in picked and f"bundled:{NAM}" in picked and len(picked) == len(set(picked))
    rows, _ = results_table(at)
    assert len([name for name in rows if name.startswith("TASTgram-MFN (Noisy-ArcMix)")]) == 2


def test_compare_without_runs_still_shows_the_published_numbers(page, tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "none"))
    at = page("compare")
    assert "No evaluated runs yet" in texts(at.info)
    rows, _ = results_table(at)
    assert len(rows) == 9 and all(name.endswith("[published]") for name in rows)


# --- Margin lab --------------------------------------------------------------------------------

def test_margin_lab_equations_figures_and_a_live_toy(page):
    at = page("margin_lab")
    latex = [e.value for e in at.get("latex")]
    # the four margin losses, then AdaCos and sub-cluster AdaCos (two equations each)
    assert len(latex) == 8 and r"\cos(\theta + m)" in latex[1] and r"\theta_{y_a} + m" in latex[3]
    assert r"\ln(C - 1)" in latex[4] and r"\ln(C S - 1)" in latex[7]
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert titles[0].startswith("Additive angular margin: s = 30, m = 0.70")
    assert titles[1].startswith("Decision boundaries")
    # next to the logit figure: why ArcFace's curve steps at pi - m, by how much at these s and m
    assert "the logit steps from -30.0 to -36.5" in texts(at.markdown)
    assert sum(": step 0, loss" in t for t in titles) == 4  # the initial embedding of each loss
    # no promise of "a few seconds": what a training does, and its time once it has run
    assert "4 losses × 300 steps, drawn 13 times" in texts(at.info)
    at = widget(at, "slider", "m (margin, radians)").set_value(0.5).run()
    assert figures(at)[0]["layout"]["title"]["text"].startswith("Additive angular margin: s = 30, m = 0.50")

    at = widget(at, "slider", "Training steps").set_value(100).run()
    at = widget(at, "button", "Train").click().run()
    assert not at.exception, [e.message for e in at.exception]
    summary = at.dataframe[0].value.set_index("loss")
    assert list(summary.index) == ["CE (no margin)", "ArcFace", "ArcMix", "Noisy-ArcMix"]
    assert re.search(r"This training took \d+\.\d s to train and draw \(4 losses × 100 steps, 11 frames\)",
                     texts(at.caption))
    arcface = summary.loc["ArcFace"]
    assert arcface["normals (°)"] < arcface["normals, start (°)"]
    # the results and what they say come right under the Train button, above the circles they explain
    def walk(node):
        for child in getattr(node, "children", {}).values():
            yield child
            yield from walk(child)
    order = [getattr(n, "type", type(n).__name__) for n in walk(at.main)]
    charts = [i for i, kind in enumerate(order) if kind == "plotly_chart"]
    assert order.index("dataframe") < charts[-5]  # the four circles and the histograms follow the table
    # short headers, each explained in its tooltip (long ones were cut at "accurac...")
    assert all(len(header) <= 18 for header in at.dataframe[0].value.columns)
    # under the table, what it shows, in this run's numbers
    notes = texts(at.markdown)
    noisy, arcmix = summary.loc["Noisy-ArcMix"], summary.loc["ArcMix"]
    assert (f"Noisy-ArcMix's normals {noisy['normals (°)']:.1f}° from W (ArcMix {arcmix['normals (°)']:.1f}°) "
            f"and a gap of {noisy['gap (°)']:+.1f}° (ArcMix {arcmix['gap (°)']:+.1f}°)") in notes
    # the next run replays the stored training: a step slider instead of a new training
    at.run()
    steps = widget(at, "select_slider", "Replay: step")
    assert steps.options[0] == "0" and steps.options[-1] == "100"


def test_train_cancel_button_stops_a_training_run_which_can_then_resume(page, runs_dir, tiny_toy_root):
    run = Run(launcher.start_training("dcase-ae", "tiny", [tiny_toy_root], {"epochs": 500, "eval.umap": False},
                                      "cpu", runs_dir))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not run.metrics_history():
            time.sleep(0.3)
        assert run.state == "running" and run.metrics_history(), run.log_tail()
        at = page("train", run=run.id)
        assert "**running**" in "\n".join(m.value for m in at.markdown)
        at = widget(at, "button", "Cancel this run").click().run()
        assert "Cancel sent" in texts(at.info) and "stops after its current batch" in texts(at.info)
        assert launcher.wait_for(run, timeout=60) == "cancelled"
        at = page("train", run=run.id)
        assert "Cancelled" in texts(at.warning) and widget(at, "button", "Resume")
        assert launcher.resume_command(run) in texts(at.warning)
        assert "cancelled" in run.log_tail()
    finally:
        if run.state in ("queued", "running"):
            launcher.cancel(run)
            launcher.wait_for(run, timeout=60)
