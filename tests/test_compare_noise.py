"""Compare tells a real difference from noise: in each AUC column a run within the noise of the run
ranked next to it (DeLong's paired 95 % CI includes 0) loses its rank and bold and is marked ≈; a run
the test clips tell apart keeps them.  Angles and Compare show bootstrap intervals, and Compare the
spread over training seeds.

The fixture: three copies of a bundled run whose test-clip scores are replaced by simulated ones,
"Sharp" and "Sharp twin" (anomalies 2 sd above the normals, independent noise: equally good) and
"Blunt" (0.5 sd: clearly worse), with metrics.json recomputed from those scores."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from apptest import run_page
from asdcore import compare
from asdcore.evaluation import metrics as metrics_mod
from asdcore.evaluation.intervals import auc_intervals, separation_intervals
from asdcore.runs import Run, write_json_atomic
from asdcore.significance import PairwiseComparer

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "checkpoints" / "tastgram-noisy-arcmix"
SIMULATED = {"sharp": ("Sharp", 2.0, 1), "sharp-twin": ("Sharp twin", 2.0, 2), "blunt": ("Blunt", 0.5, 3)}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("noise") / "bundled"
    for run_id, (label, shift, seed) in SIMULATED.items():
        shutil.copytree(SOURCE, folder / run_id, ignore=shutil.ignore_patterns("model.pt"))
        config = json.loads((folder / run_id / "config.json").read_text())
        write_json_atomic(folder / run_id / "config.json", dict(config, label=label))
        clips = pd.read_parquet(folder / run_id / "eval" / "clips.parquet")
        rng = np.random.default_rng(seed)
        clips["score"] = rng.normal(size=len(clips)) + shift * clips["label"]
        clips.to_parquet(folder / run_id / "eval" / "clips.parquet", index=False)
        metrics = json.loads((folder / run_id / "eval" / "metrics.json").read_text())
        result = metrics_mod.evaluate_all(clips, {metrics["backend"]: "score"})
        metrics["by_backend"] = result["by_backend"]
        metrics.update({k: result["by_backend"][metrics["backend"]]["dcase"][k] for k in ("per_type", "average")})
        metrics["intervals"] = {"auc": auc_intervals(clips), "angles": separation_intervals(clips)}
        write_json_atomic(folder / run_id / "eval" / "metrics.json", metrics)
    return folder


def test_runs_the_test_clips_cannot_tell_apart_lose_their_rank_and_the_others_keep_it(simulated, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(simulated))  # bundled runs: named by their method alone
    runs = [Run(simulated / r) for r in SIMULATED]
    table = compare.mark_within_noise(compare.results_table(runs, reference=False), PairwiseComparer(runs))
    average = (compare.AVERAGE, "AUC")
    assert table.noise.at["Sharp", average] and table.noise.at["Sharp twin", average]  # equally good
    assert not table.noise.at["Blunt", average]  # told apart from the sharp ones
    assert table.ranks[average].isna()[["Sharp", "Sharp twin"]].all() and table.ranks.at["Blunt", average] == 3
    shown = compare.display_frame(table)
    assert shown.at["Sharp", average].endswith("≈") and shown.at["Blunt", average].endswith("³")
    assert not table.best[average].any()  # no bold where the best is within the noise
    assert table.ranks[(compare.AVERAGE, "pAUC")].isna().all()  # no paired test for pAUC: not ranked
    assert "Sharp twin ≈ Sharp" in compare.noise_line(table) or "Sharp ≈ Sharp twin" in compare.noise_line(table)
    # without the twin, the sharp run is the best and the test clips say so: bold and ¹
    alone = compare.mark_within_noise(compare.results_table(runs[::2], reference=False), PairwiseComparer(runs[::2]))
    assert alone.best.at["Sharp", average] and not alone.noise[average].any()
    assert "every run differs" in compare.noise_line(alone)


def test_where_the_toy_cannot_order_noisy_arcmix_and_arcmix_the_paper_s_order_is_named(simulated, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(simulated))
    runs = [Run(simulated / r) for r in SIMULATED]
    table = compare.mark_within_noise(compare.results_table(runs, reference=False), PairwiseComparer(runs))
    # the simulated runs are all Noisy-ArcMix copies: say the twin was trained with ArcMix
    note = compare.paper_order_note(table, {"Sharp": "noisy_arcmix", "Sharp twin": "arcmix", "Blunt": "arcface"})
    assert note and "Noisy-ArcMix 94.65" in note and "ArcMix 92.38" in note and "300 epochs" in note
    # told apart (Blunt, the ArcFace stand-in, is not within the noise of the others): nothing to say
    assert compare.paper_order_note(table, {"Sharp": "noisy_arcmix", "Sharp twin": "ce", "Blunt": "arcface"}) is None


def test_compare_page_marks_noise_says_so_and_shows_intervals_and_seed_spread(simulated, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(simulated))
    monkeypatch.setenv("ASD_RUNS", str(simulated.parent / "no-runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    shutil.copy(ROOT / "checkpoints" / "seeds.json", simulated / "seeds.json")
    at = run_page("compare", published="0")
    html = at.get("html")[0].proto.body
    assert "≈" in html
    infos = "\n".join(i.value for i in at.info)
    assert "within the noise of the test clips" in infos and "Sharp" in infos and "Blunt" not in infos
    intervals = at.dataframe[0].value  # the expander's table: "AUC [low, high]" per type
    stored = json.loads((simulated / "blunt" / "eval" / "metrics.json").read_text())["intervals"]["auc"]["average"]
    assert intervals.at["Blunt", "Average"] == (f"{100 * stored['value']:.1f} [{100 * stored['low']:.1f}, "
                                                f"{100 * stored['high']:.1f}]")
    # the seed spread of the bundled recipes chosen (all three are tastgram-noisy-arcmix copies)
    spread = at.dataframe[1].value
    assert list(spread.index) == ["TASTgram-MFN (Noisy-ArcMix)"] and spread.at["TASTgram-MFN (Noisy-ArcMix)", "seeds"] == 3
    assert "Over training seeds" in [h.value for h in at.subheader]


def test_compare_keeps_its_runs_when_the_data_set_changes(simulated, tmp_path, monkeypatch):
    """Switching the Data set box to another data set and back shows that data set's runs each time
    (the run picker used to keep the old data set's runs, which were no options there, and show none)."""
    folder = tmp_path / "bundled"
    shutil.copytree(simulated, folder)
    config = json.loads((folder / "blunt" / "config.json").read_text())
    write_json_atomic(folder / "blunt" / "config.json", dict(config, data=dict(config["data"], roots=["data/other"])))
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_file(str(ROOT / "app_pages" / "compare.py"), default_timeout=60)
    at.query_params["published"] = "0"
    at.run()

    def picked():
        return next(m for m in at.multiselect if m.label == "Runs (one row each)").value

    assert sorted(picked()) == ["sharp", "sharp-twin"]
    box = next(s for s in at.selectbox if s.label == "Data set")
    box.set_value("data/other").run()
    assert not at.exception and picked() == ["blunt"]
    box = next(s for s in at.selectbox if s.label == "Data set")
    box.set_value("data/toy").run()
    assert not at.exception and sorted(picked()) == ["sharp", "sharp-twin"]


def test_angles_shows_each_panels_interval(simulated, monkeypatch):
    monkeypatch.setenv("ASD_BUNDLED", str(simulated))
    monkeypatch.setenv("ASD_RUNS", str(simulated.parent / "no-runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    at = run_page("angles", runs="sharp,blunt")
    table = at.dataframe[0].value.set_index("run")
    stored = json.loads((simulated / "sharp" / "eval" / "metrics.json").read_text())["intervals"]["angles"]["auc"]
    assert table.at["Sharp", "95 % CI"] == f"[{stored['low']:.3f}, {stored['high']:.3f}]"
    assert table.at["Sharp", "gap 95 % CI"].startswith("[+")
    # filtered to one machine type: computed for the clips shown (a quarter of them: a wider interval)
    at = run_page("angles", runs="sharp", type="fan")
    shown = at.dataframe[0].value.set_index("run").loc["Sharp"]
    clips = Run(simulated / "sharp").clips()
    fan = separation_intervals(clips[clips["machine_type"] == "fan"])["auc"]
    assert shown["95 % CI"] == f"[{fan['low']:.3f}, {fan['high']:.3f}]"
    assert fan["low"] <= shown["angle AUC"] <= fan["high"]
    assert fan["high"] - fan["low"] > stored["high"] - stored["low"]


def test_bootstrap_intervals_cover_a_known_auc():
    """Percentile bootstrap within ID and label: on binormal scores of known AUC (Phi(mu / sqrt 2)),
    the 95 % interval of one ID's AUC holds it in about 95 % of simulated test sets."""
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    mu, hits, trials = 1.0, 0, 300
    truth = norm.cdf(mu / np.sqrt(2))
    for trial in range(trials):
        label = np.r_[np.zeros(60), np.ones(40)].astype(int)
        clips = pd.DataFrame({"machine_type": "fan", "machine_id": "id_00", "label": label,
                              "score": rng.normal(size=100) + mu * label})
        found = auc_intervals(clips, n_boot=400, seed=trial)["per_type"]["fan"]
        hits += found["low"] <= truth <= found["high"]
    assert 0.90 <= hits / trials <= 0.98, hits / trials


def test_compare_names_the_runs_too_under_trained_to_judge_their_method(tmp_path, monkeypatch):
    """A classifier whose evaluated epoch tells fewer than 90 % of its validation clips' machine IDs
    apart is named, with its selected epoch's accuracy and what its paper published; runs that learnt
    their classes are not; with none under-trained there is no note."""
    folder = tmp_path / "bundled"
    for run_id, label, accuracies, selected in (("starved", "TFSTgram (OS-SCL)", [0.3, 0.6, 0.5], 2),
                                                ("learnt", "TASTgram-MFN (ArcMix)", [0.7, 0.95], 2)):
        shutil.copytree(SOURCE, folder / run_id, ignore=shutil.ignore_patterns("model.pt"))
        config = json.loads((folder / run_id / "config.json").read_text())
        write_json_atomic(folder / run_id / "config.json", dict(config, label=label))
        metrics = json.loads((folder / run_id / "eval" / "metrics.json").read_text())
        write_json_atomic(folder / run_id / "eval" / "metrics.json", dict(metrics, selected_epoch=selected))
        (folder / run_id / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": i + 1, "val_acc": a}) + "\n" for i, a in enumerate(accuracies)))
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    starved, learnt = Run(folder / "starved"), Run(folder / "learnt")
    note = compare.undertrained_note([starved, learnt])
    assert note.startswith("Under-trained: TFSTgram (OS-SCL) (0.60 after 3 epochs; published 95.71 AUC)")
    assert "ArcMix" not in note
    assert compare.undertrained_note([learnt]) is None
    # a run of yours is named with its preset, data and date, and still finds its method's published AUC
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "elsewhere"))
    mine = compare.undertrained_note([Run(folder / "starved")])
    assert mine.startswith("Under-trained: TFSTgram (OS-SCL) · quick · toy · ") and "published 95.71 AUC" in mine


def test_compare_says_which_runs_were_scored_on_a_subset_of_the_test_clips(tmp_path, monkeypatch):
    """A tiny run keeps at most 8 test clips per class: Compare names it with its count against the
    others' (the old table set its 368-clip AUC beside 2300-clip AUCs without a word)."""
    folder = tmp_path / "bundled"
    for run_id, n_test, cap in (("full", 2300, None), ("smoke", 368, 8)):
        shutil.copytree(SOURCE, folder / run_id, ignore=shutil.ignore_patterns("model.pt"))
        config = json.loads((folder / run_id / "config.json").read_text())
        config["data"]["max_test_clips_per_class"] = cap
        write_json_atomic(folder / run_id / "config.json", dict(config, label=run_id))
        metrics = json.loads((folder / run_id / "eval" / "metrics.json").read_text())
        write_json_atomic(folder / run_id / "eval" / "metrics.json", dict(metrics, n_test_clips=n_test))
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    full, smoke = Run(folder / "full"), Run(folder / "smoke")
    note = compare.subset_note([full, smoke], ["full", "smoke"])
    assert note.startswith("Scored on a subset of the test clips: smoke on 368 of 2300 (at most 8 per class")
    assert "full on" not in note
    assert compare.subset_note([full], ["full"]) is None
    assert compare.subset_note([full, full], ["a", "b"]) is None
    # the page says it, above the table's captions
    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    at = run_page("compare", published="0")
    assert any(w.value.startswith("Scored on a subset of the test clips: smoke on 368 of 2300") for w in at.warning)


def test_angles_tests_each_pair_and_says_when_the_angle_differs_but_the_detection_does_not(
        simulated, tmp_path, monkeypatch):
    """The paired angle-AUC test (DeLong on the clips both runs judged) against an independent AUC,
    and the page's verdicts: the learner saw Noisy-ArcMix's angle AUC interval below ArcMix's while
    Compare called their detection AUCs equal, with nothing saying both can be true."""
    from sklearn.metrics import roc_auc_score

    from asdcore.significance import paired_angle_auc

    folder = tmp_path / "bundled"
    shutil.copytree(simulated, folder)
    # "blurred": sharp-twin's scores (detection as good as Sharp's), its angles blurred by noise
    shutil.copytree(folder / "sharp-twin", folder / "blurred")
    config = json.loads((folder / "blurred" / "config.json").read_text())
    write_json_atomic(folder / "blurred" / "config.json", dict(config, label="Blurred twin"))
    clips = pd.read_parquet(folder / "blurred" / "eval" / "clips.parquet")
    clips["angle_to_centre_deg"] += np.random.default_rng(5).normal(scale=15.0, size=len(clips))
    clips.to_parquet(folder / "blurred" / "eval" / "clips.parquet", index=False)
    monkeypatch.setenv("ASD_BUNDLED", str(folder))
    sharp, blurred, blunt = Run(folder / "sharp"), Run(folder / "blurred"), Run(folder / "blunt")

    test = paired_angle_auc(sharp, sharp.clips(), blurred, blurred.clips())
    for run, auc in ((sharp, test["auc_a"]), (blurred, test["auc_b"])):
        c = run.clips()
        assert auc == pytest.approx(roc_auc_score(c["label"], c["angle_to_centre_deg"]), abs=1e-9)
    assert test["difference"] == pytest.approx(test["auc_a"] - test["auc_b"]) and test["ci_low"] > 0
    assert test["n_clips"] == len(sharp.clips())
    same = paired_angle_auc(sharp, sharp.clips(), blunt, blunt.clips())  # the very same angles
    assert same["difference"] == 0 and same["ci_low"] <= 0 <= same["ci_high"]

    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    at = run_page("angles", runs="sharp,blurred,blunt")
    pairs = next(d.value for d in at.dataframe if "pair" in d.value.columns).set_index("pair")
    assert pairs.at["Sharp − Blurred twin", "angle AUC"] == "real"
    assert pairs.at["Sharp − Blurred twin", "score AUC"] == "within the noise"
    assert pairs.at["Sharp − Blunt", "angle AUC"] == "within the noise"  # same angles, other scores
    assert pairs.at["Sharp − Blunt", "score AUC"] == "real"
    assert pairs.at["Sharp − Blurred twin", "angle AUC difference"].startswith(f"{test['difference']:+.3f} [")
    caption = next(c.value for c in at.caption if c.value.startswith("DeLong's paired test"))
    assert "**Sharp − Blurred twin**: the histograms sit apart by a real margin" in caption


def test_a_chain_of_runs_within_the_noise_names_its_ends_when_they_differ_beyond_it():
    """From the newcomer walkthrough: 'ArcMix ≈ Noisy-ArcMix ≈ ArcFace' read as all three tied, while
    ArcMix − ArcFace is beyond the noise (lesson 4): ≈ links neighbours only, and the line says so."""
    from asdcore.paths import bundled_runs_root

    runs = [Run(bundled_runs_root() / r) for r in ("tastgram-arcmix", "tastgram-noisy-arcmix", "tastgram-arcface")]
    table = compare.mark_within_noise(compare.results_table(runs, reference=False), PairwiseComparer(runs))
    line = compare.noise_line(table)
    names = compare.unique_names([compare.entry_for(r) for r in runs])
    assert " ≈ ".join(names) in line  # the chain, highest first: ArcMix ≈ Noisy-ArcMix ≈ ArcFace
    (upper, lower, difference, low, high), = table.chain_pairs  # the one pair that is not neighbours
    assert (upper, lower) == (names[0], names[2]) and low > 0
    assert f"{names[0]} − {names[2]} {difference:+.2f} [{low:+.2f}, {high:+.2f}] AUC points is beyond the noise" in line
