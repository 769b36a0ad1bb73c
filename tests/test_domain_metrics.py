"""DCASE 2021-2023 metrics, recomputed by hand on small cases (the official evaluator's definitions)."""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from asdcore.data import scan_dataset
from asdcore.data.check import check_report, domain_table
from asdcore.evaluation.domain_metrics import (decision_metrics, domain_shift_metrics, harmonic_mean,
                                               threshold_at_percentile)
from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve
from asdcore.runs import Run


def section(machine_type="fan", section=0, normals_source=(0.1, 0.2), normals_target=(0.5, 0.6),
            anomalies_source=(0.3,), anomalies_target=(0.7,)):
    rows = [(machine_type, section, "source", 0, s) for s in normals_source]
    rows += [(machine_type, section, "target", 0, s) for s in normals_target]
    rows += [(machine_type, section, "source", 1, s) for s in anomalies_source]
    rows += [(machine_type, section, "target", 1, s) for s in anomalies_target]
    return pd.DataFrame(rows, columns=["machine_type", "section", "domain", "label", "score"])


def test_domain_aucs_use_that_domains_normals_against_all_anomalies():
    result = domain_shift_metrics(section())
    row = result.sections.iloc[0]
    # source normals {0.1, 0.2} below both anomalies {0.3, 0.7}: 4 of 4 pairs ordered
    assert row["auc_source"] == 1.0
    # target normals {0.5, 0.6} vs anomalies {0.3, 0.7}: 0.7 beats both, 0.3 neither: 2 of 4
    assert row["auc_target"] == 0.5
    assert (row["normals_source"], row["normals_target"], row["anomalies_source"], row["anomalies_target"]) == \
        (2, 2, 1, 1)


def test_pauc_pools_both_domains_and_is_mcclish_standardised():
    row = domain_shift_metrics(section()).sections.iloc[0]
    # all normals {0.1, 0.2, 0.5, 0.6}; only 0.7 beats them all: TPR 0.5 from FPR 0 to 0.1,
    # raw area A = 0.05; McClish with p = 0.1: 0.5 (1 + (A - p^2/2) / (p - p^2/2))
    assert row["pauc"] == pytest.approx(0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)))


def test_official_score_is_the_harmonic_mean_of_source_target_aucs_and_paucs():
    clips = pd.concat([section(), section("valve", 1, normals_target=(0.05, 0.15))])
    result = domain_shift_metrics(clips)
    s = result.sections.set_index("machine_type")
    # valve: normals {0.1, 0.2} and {0.05, 0.15} all below both anomalies {0.3, 0.7}: every AUC
    # and the pAUC are 1
    assert s.loc["valve", "auc_target"] == 1.0 and s.loc["valve", "pauc"] == 1.0
    values = [1.0, 1.0, 1.0, 0.5, s.loc["fan", "pauc"], 1.0]
    assert result.official_score == pytest.approx(len(values) / sum(1 / v for v in values))
    assert result.arithmetic_mean == pytest.approx(np.mean(values))
    assert result.hmean_source == pytest.approx(1.0)
    assert result.hmean_target == pytest.approx(2 / (1 / 0.5 + 1 / 1.0))


def test_machine_type_means_are_over_its_sections():
    clips = pd.concat([section(section=0), section(section=1, normals_target=(0.05, 0.15))])
    summary = domain_shift_metrics(clips).machine_types.set_index("mean")
    assert summary.loc["arithmetic", "auc_target"] == pytest.approx(0.75)
    assert summary.loc["harmonic", "auc_target"] == pytest.approx(2 / (1 / 0.5 + 1 / 1.0))


def test_an_auc_of_zero_is_clamped_not_a_division_by_zero():
    assert harmonic_mean([0.0, 1.0]) == pytest.approx(2 / (1 / np.finfo(float).eps + 1))
    assert harmonic_mean([]) is None


def test_sections_without_anomalies_or_normals_are_named_and_left_out():
    clips = pd.concat([section(), section("pump", anomalies_source=(), anomalies_target=()),
                       section("valve", normals_target=())])
    result = domain_shift_metrics(clips)
    assert "pump section 0 AUC (source): no anomalies" in result.undefined
    assert "pump section 0 pAUC: no anomalies" in result.undefined
    assert "valve section 0 AUC (target): no target normals" in result.undefined
    fan_only = domain_shift_metrics(section())
    # valve's defined source AUC and pAUC count; nothing of pump and valve's target AUC does
    assert math.isnan(result.sections.set_index("machine_type").loc["pump", "auc_source"])
    assert len([u for u in result.undefined if "valve" in u]) == 1
    assert result.hmean_target == fan_only.hmean_target


def test_unlabelled_evaluation_clips_are_never_counted():
    clips = section()
    unlabelled = pd.DataFrame([("fan", 0, "target", np.nan, 0.99)], columns=clips.columns)
    assert domain_shift_metrics(pd.concat([clips, unlabelled])).sections.equals(domain_shift_metrics(clips).sections)


def test_decisions_give_precision_recall_and_f1_per_domain():
    clips = section()
    clips["decision"] = (clips["score"] > 0.25).astype(int)  # flags 0.3, 0.5, 0.6, 0.7
    row = domain_shift_metrics(clips, decision="decision").sections.iloc[0]
    # source clips 0.1, 0.2 (normal), 0.3 (anomaly): tp 1, fp 0, fn 0
    assert (row["precision_source"], row["recall_source"], row["f1_source"]) == (1.0, 1.0, 1.0)
    # target clips 0.5, 0.6 (normal), 0.7 (anomaly): tp 1, fp 2 -> P 1/3, R 1, F1 0.5
    assert row["precision_target"] == pytest.approx(1 / 3) and row["recall_target"] == 1.0
    assert row["f1_target"] == pytest.approx(0.5)
    assert decision_metrics([0, 1], [0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_threshold_is_the_90th_percentile_of_training_normals():
    assert threshold_at_percentile(np.arange(11.0)) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="no finite"):
        threshold_at_percentile([np.nan])


def test_bad_tables_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="lacks column"):
        domain_shift_metrics(section().drop(columns="domain"))
    clips = section()
    clips.loc[0, "domain"] = "Source"
    with pytest.raises(ValueError, match="found Source"):
        domain_shift_metrics(clips)


# --- end to end: a run on data in the DCASE 2022 layout --------------------------------------

@pytest.fixture(scope="module")
def dcase2022_layout(tiny_toy_root, tmp_path_factory):
    """The tiny toy set renamed into the DCASE 2022 layout: machine ID k of a type becomes section
    0k, every third clip is in the target domain, each name carries a speed attribute."""
    root = tmp_path_factory.mktemp("dcase2022") / "dev"
    for wav in sorted(tiny_toy_root.glob("*/*/*.wav")):
        label, _, machine_id, index = wav.stem.split("_")
        domain = "target" if int(index) % 3 == 0 else "source"
        split = wav.parent.name
        name = f"section_{int(machine_id):02d}_{domain}_{split}_{label}_{int(index):04d}_speed_{int(index) % 2}.wav"
        out = root / wav.parent.parent.name / split / name
        out.parent.mkdir(parents=True, exist_ok=True)
        os.link(wav, out)
    return root


@pytest.mark.slow  # trains a model
def test_a_run_on_dcase2022_data_reports_the_official_score(dcase2022_layout, tmp_path):
    config = resolve("stgram-ce", "tiny", {"data.roots": [str(dcase2022_layout)], "train.epochs": 1,
                                           "eval.umap": False, "data.max_test_clips_per_class": None})
    run = Run(train_run(config, tmp_path / "run", progress=False))
    clips = run.clips()
    assert set(clips["domain"]) == {"source", "target"} and clips["section"].notna().all()
    assert clips["attributes"].str.startswith("speed=").all()
    block = run.eval_metrics()["domain_shift"]["by_backend"]["softmax"]
    recomputed = domain_shift_metrics(clips, "score_softmax")
    assert block["official_score"] == pytest.approx(recomputed.official_score)
    assert block["hmean_source"] == pytest.approx(recomputed.hmean_source)
    assert {(r["machine_type"], r["section"]) for r in block["sections"]} == \
        set(map(tuple, clips[["machine_type", "section"]].drop_duplicates().to_numpy()))
    assert all(r["f1_source"] is not None for r in block["sections"])  # decisions were thresholded


def test_data_check_counts_clips_per_section_and_domain(dcase2022_layout):
    ds = scan_dataset(dcase2022_layout)
    table = domain_table(ds)
    records = [r for r in ds.records if (r.machine_type, r.section) == ("fan", "00")]
    expected = {(d, f"{r_split} {label}"): sum(1 for r in records if (r.domain, r.split, r.label) == (d, r_split, label))
                for d in ("source", "target") for r_split, label in (("train", "normal"), ("test", "normal"),
                                                                    ("test", "anomaly"))}
    fan = table[(table["machine_type"] == "fan") & (table["section"] == "00")].set_index("domain")
    assert {(d, c): int(fan.loc[d, c]) for d, c in expected} == expected
    assert sum(expected.values()) == len(records) > 0
    report = check_report(ds)
    assert "layout found: dcase2022" in report and "per section and domain" in report


@pytest.mark.slow  # makes a data set and trains a model
def test_the_tiny_domain_shift_preset_is_made_checked_and_trained_on(tmp_path, capsys):
    """The toy factory's domain-shift layout end to end: made, checked, trained on, scored per domain."""
    from asdcore.cli import main
    from asdcore.data.toy.presets import PRESETS as TOY_PRESETS

    root = tmp_path / "shift"
    assert main(["data", "toy", "--out", str(root), "--preset", "tiny-shift", "--seed", "0", "--quiet"]) == 0
    assert main(["data", "check", str(root)]) == 0
    report = capsys.readouterr().out
    assert "layout found: dcase2022" in report and "per section and domain" in report
    assert "12 classes, one per machine type x machine ID / section" in report
    preset = TOY_PRESETS["tiny-shift"]
    table = domain_table(scan_dataset(root))
    fan = table[(table["machine_type"] == "fan") & (table["section"] == "00")].set_index("domain")
    assert fan.loc["source", "train normal"] == preset.train_per_id
    assert fan.loc["target", "train normal"] == preset.target_train_per_id
    assert fan.loc["target", "test anomaly"] == preset.target_test_per_label
    config = resolve("tastgram-noisy-arcmix", "tiny", {"data.roots": [str(root)], "train.epochs": 1,
                                                       "eval.umap": False, "data.max_test_clips_per_class": None})
    run = Run(train_run(config, tmp_path / "run", progress=False))
    block = run.eval_metrics()["domain_shift"]["by_backend"]["softmax"]
    assert {r["machine_type"] for r in block["machine_types"]} == set(preset.ids)
    assert len(block["sections"]) == 12
    assert all(r["auc_source"] is not None and r["auc_target"] is not None for r in block["sections"])
    assert block["official_score"] is not None
    # the sub-cluster AdaCos system's eqs. 2-3, on every run on data with domains
    clips = run.clips()
    assert clips["score_subcluster"].notna().all()
    assert run.eval_metrics()["domain_shift"]["by_backend"]["subcluster"]["official_score"] is not None


@pytest.mark.slow  # makes a data set and trains two models
def test_both_domain_shift_systems_train_and_evaluate_on_the_tiny_domain_shift_preset(tmp_path):
    """Issue 12: the sub-cluster AdaCos system (two heads, eqs. 2-3, target decisions on eq. 3's first
    term) and the JLESS system (batch mixing, mixup/FMix, LOF k 4, mean cosine, gamma thresholds)."""
    import torch

    from asdcore import alarms
    from asdcore.cli import main

    root = tmp_path / "shift"
    assert main(["data", "toy", "--out", str(root), "--preset", "tiny-shift", "--seed", "0", "--quiet"]) == 0
    settings = {"data.roots": [str(root)], "train.epochs": 1, "eval.umap": False, "data.max_test_clips_per_class": None}
    for recipe in ("subcluster-adacos", "jless-mfn"):
        run = Run(train_run(resolve(recipe, "tiny", settings), tmp_path / recipe, progress=False))
        metrics = run.eval_metrics()
        block = metrics["domain_shift"]["by_backend"][metrics["backend"]]
        assert all(r["auc_source"] is not None and r["auc_target"] is not None for r in block["sections"])
        clips, train = run.clips(), run.train_clips()
        if recipe == "subcluster-adacos":
            assert metrics["backend"] == "subcluster"
            state = torch.load(run.path / "model.pt", weights_only=True)["groups"]["all"]
            n_attribute_classes = train[["machine_type", "machine_id", "attributes"]].drop_duplicates().shape[0]
            assert state["model"]["attribute_head.weight"].shape[0] == n_attribute_classes * 4
            assert {"sections.s", "attributes.s"} <= set(state["loss"])
            target = clips["domain"] == "target"
            assert (clips.loc[~target, "decision"] == clips.loc[~target, "score"]).all()
            # target clips: decided on eq. 3's first term, ranked by both terms where the section kept
            # target training clips for T_s (a tiny run holds some out for validation)
            assert (clips.loc[target, "decision"] != clips.loc[target, "score"]).any()
            assert alarms.decision_column(clips, "score_subcluster") == "decision_subcluster"
        else:
            assert run.config["train"]["batch_mixing"] and run.config["eval"]["lof_neighbors"] == 4
            assert clips["score_mean_cosine"].notna().all() and clips["score_lof"].notna().all()
            assert run.config["eval"]["threshold_rule"] == "gamma"
        log = (run.path / "train.log").read_text()
        assert (f"{n_attribute_classes} attribute classes (second head)" in log) == (recipe == "subcluster-adacos")
