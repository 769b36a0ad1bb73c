"""The engine: recipes, the training loop, run folders, resume, evaluation artefacts, the CLI."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asdcore import runs as runs_module
from asdcore.cli import main
from asdcore.config import RunConfig
from asdcore.recipes import PRESETS, RECIPES, resolve
from asdcore.runs import Run, list_runs, mark_queued, run_summary, wait_turn, write_json_atomic
from asdcore.runtime import split_train_val
from asdcore.jobs.pipeline import train_run

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ["stgram-ce", "stgram-arcface", "stgram-arcmix", "stgram-noisy-arcmix", "tastgram-ce", "tastgram-arcface",
            "tastgram-arcmix", "tastgram-noisy-arcmix", "logmel-osscl", "tfstgram-osscl", "dcase-ae"]


# --- recipes ------------------------------------------------------------------------------------

def test_every_seed_method_has_a_recipe_with_all_presets():
    assert set(REQUIRED) <= set(RECIPES)
    for name in RECIPES:
        for preset in PRESETS:
            config = resolve(name, preset)
            json.dumps(config.to_dict())  # plain data
            assert config.recipe == name and config.preset == preset


def test_paper_preset_has_the_papers_settings():
    for name in REQUIRED:
        c = resolve(name, "paper").to_dict()
        assert c["data"]["clip_seconds"] == 10.0
        if name == "dcase-ae":
            assert (c["train"]["epochs"], c["train"]["batch_size"], c["train"]["optimizer"]) == (100, 512, "adam")
            continue
        assert (c["train"]["epochs"], c["train"]["batch_size"], c["train"]["lr"]) == (300, 64, 1e-4)
        assert c["train"]["optimizer"] == "adamw" and c["train"]["schedule"] in ("cosine", "cosine_epoch")
        assert c["loss"].get("s", 30.0) == 30.0
        if "m" in c["loss"]:
            assert c["loss"]["m"] == (0.4 if name == "tfstgram-osscl" else 0.7)
        if c["mixup"]["mode"]:
            assert c["mixup"]["alpha"] == 0.5
        assert (c["train"]["ema_decay"] == 0.9999) == name.endswith("osscl")
    assert resolve("tfstgram-osscl", "paper").features.variant == "noisy_arcmix"


def test_the_ema_warm_up_is_for_short_runs_of_ema_recipes_only():
    """The quick and tiny presets warm the EMA's decay up (a few hundred steps); the paper preset
    keeps the OS-SCL code's fixed 0.9999; recipes without an EMA get neither setting."""
    for name, recipe in RECIPES.items():
        for preset in ("tiny", "quick", "paper"):
            t = resolve(name, preset).train
            assert t.ema_warmup == (recipe.ema and preset != "paper"), (name, preset)
            assert (t.ema_decay is not None) == recipe.ema, (name, preset)
    assert resolve("logmel-osscl", "paper").train.ema_decay == 0.9999


REFERENCE_MD = PROJECT_ROOT.parent / "shared" / "REFERENCE.md"
# The recipes the Noisy-ArcMix paper trained, and what ../shared/REFERENCE.md says its code does:
# each fact quoted from the file, with how a resolved `paper` config must show it.
NOISY_ARCMIX_RECIPES = ["tastgram-ce", "tastgram-arcface", "tastgram-arcmix", "tastgram-noisy-arcmix",
                        "stgram-noisy-arcmix"]
NOISY_ARCMIX_CODE_FACTS = [
    ("Noisy-ArcMix/OS-SCL code: n_fft 2048, slaney scale and norm, constant padding, 10*log10(x + eps)",
     lambda c: (c["features"]["variant"], c["features"]["n_fft"], c["features"]["mel_scale"], c["features"]["norm"],
                c["features"]["pad_mode"], c["features"]["eps"] > 0)
     == ("noisy_arcmix", 2048, "slaney", "slaney", "constant", True)),
    ("The reference mixes the waveform and the log-mel separately with the same lambda",
     lambda c: c["mixup"]["mode"] in (None, "waveform_and_logmel") and c["mixup"]["per_sample"] is False),
    ("AdamW lr 1e-4 with the default weight decay 0.01",
     lambda c: (c["train"]["optimizer"], c["train"]["lr"], c["train"]["weight_decay"]) == ("adamw", 1e-4, 0.01)),
    ("CosineAnnealingLR stepped once per epoch, T_max = epochs (300), eta_min = 0.1 x lr",
     lambda c: (c["train"]["schedule"], c["train"]["epochs"], c["train"]["eta_min_ratio"]) == ("cosine_epoch", 300, 0.1)),
    ("batch 64", lambda c: c["train"]["batch_size"] == 64),
    ("a random 95/5 train/validation split of all training clips",
     lambda c: (c["data"]["val_split"], c["data"]["val_fraction"]) == ("random", 0.05)),
    ("the checkpoint with the lowest validation CE (with margin) is kept", lambda c: c["train"]["select"] == "val_loss"),
    ("Papers: 10 s clips, 128 mels, hop 512", lambda c: (c["data"]["clip_seconds"], c["features"]["n_mels"],
                                                         c["features"]["hop_length"]) == (10.0, 128, 512)),
]


@pytest.mark.parametrize("recipe", NOISY_ARCMIX_RECIPES)
def test_noisy_arcmix_recipes_paper_preset_follows_the_reference_code(recipe):
    """TASTgram as its paper runs it: each fact of REFERENCE.md about the Noisy-ArcMix code holds in
    the recipe's paper preset (the facts are quoted, and the quote must still be in REFERENCE.md)."""
    config = resolve(recipe, "paper").to_dict()  # as config.json holds it
    reference = " ".join(REFERENCE_MD.read_text().split()) if REFERENCE_MD.exists() else None
    for fact, holds in NOISY_ARCMIX_CODE_FACTS:
        if reference is not None:
            assert fact in reference, f"REFERENCE.md no longer says {fact!r}: update this test"
        assert holds(config), f"{recipe} paper preset: {fact}"
    # the mixup recipes mix as the reference does; the others do not mix at all
    assert config["mixup"]["mode"] == ("waveform_and_logmel" if RECIPES[recipe].loss["name"] in ("arcmix", "noisy_arcmix")
                                       else None)


# The other recipes' paper presets, likewise: (recipes, quoted fact, how the config shows it).
OTHER_PAPER_FACTS = [
    (["stgram-ce", "stgram-arcface", "stgram-arcmix", "dcase-ae"],
     "STgram-MFN code: n_fft 1024, win 1024, hop 512, 128 mels, power 2, HTK scale, no filter norm",
     lambda c: (c["features"]["n_fft"], c["features"]["hop_length"], c["features"]["n_mels"], c["features"]["power"],
                c["features"]["mel_scale"], c["features"]["norm"]) == (1024, 512, 128, 2.0, "htk", None)),
    (["stgram-arcface", "stgram-arcmix", "stgram-noisy-arcmix", "tastgram-arcface", "tastgram-arcmix",
      "tastgram-noisy-arcmix", "logmel-osscl"],
     "s = 30, m = 0.7", lambda c: (c["loss"]["s"], c["loss"]["m"]) == (30.0, 0.7)),
    (["tfstgram-osscl"], "(OS-SCL TFSTgram m = 0.4)", lambda c: (c["loss"]["s"], c["loss"]["m"]) == (30.0, 0.4)),
    (["logmel-osscl", "tfstgram-osscl"], "EMA 0.9999, AdamW lr 1e-4, cosine annealing, batch 64",
     lambda c: (c["train"]["ema_decay"], c["train"]["optimizer"], c["train"]["lr"], c["train"]["batch_size"],
                c["train"]["schedule"].startswith("cosine")) == (0.9999, "adamw", 1e-4, 64, True)),
    (["logmel-osscl", "tfstgram-osscl"], "Noisy-ArcMix/OS-SCL code: n_fft 2048, slaney scale and norm",
     lambda c: (c["features"]["n_fft"], c["features"]["mel_scale"], c["features"]["norm"]) == (2048, "slaney", "slaney")),
    (["dcase-ae"], "MSE loss, Adam, 100 epochs, batch 512, validation split 0.1. One model per machine type.",
     lambda c: (c["loss"]["name"], c["train"]["optimizer"], c["train"]["epochs"], c["train"]["batch_size"],
                c["data"]["val_fraction"]) == ("mse", "adam", 100, 512, 0.1)),
]


@pytest.mark.parametrize("recipes, fact, holds", OTHER_PAPER_FACTS, ids=lambda v: v if isinstance(v, str) else None)
def test_other_recipes_paper_presets_follow_reference_md(recipes, fact, holds):
    reference = " ".join(REFERENCE_MD.read_text().split()) if REFERENCE_MD.exists() else None
    if reference is not None:
        assert fact in reference, f"REFERENCE.md no longer says {fact!r}: update this test"
    for recipe in recipes:
        assert holds(resolve(recipe, "paper").to_dict()), f"{recipe} paper preset: {fact}"


def test_stgram_recipes_keep_the_stgram_codes_log_mel():
    for recipe in ("stgram-ce", "stgram-arcface", "stgram-arcmix"):
        features = resolve(recipe, "paper").to_dict()["features"]
        assert (features["variant"], features["n_fft"], features["mel_scale"], features["norm"]) == \
            ("stgram", 1024, "htk", None)


def test_recipes_cli_states_features_mixup_and_each_presets_training(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:2] == ["tastgram-noisy-arcmix", "paper"])
    cells = [cell.strip() for cell in row.split("  ") if cell.strip()]
    for value in ("300", "64", "adamw", "0.0001", "0.01", "cosine_epoch", "0.1 x lr", "random 5 %"):
        assert value in cells, (value, cells)
    recipe_row = next(line for line in out.splitlines() if line.startswith("tastgram-noisy-arcmix ")
                      and "waveform_and_logmel" in line)
    assert "noisy_arcmix" in recipe_row


def test_overrides_and_their_errors():
    c = resolve("tastgram-arcmix", "quick", {"m": 0.5, "train.epochs": 3, "alpha": 1.0})
    assert (c.loss.get("m"), c.train.epochs, c.mixup.alpha) == (0.5, 3, 1.0)
    with pytest.raises(KeyError, match="train.epoch"):
        resolve("tastgram-arcmix", "quick", {"train.epoch": 3})
    with pytest.raises(ValueError, match="batch_size"):
        resolve("tastgram-arcmix", "quick", {"batch_size": 1})
    with pytest.raises(KeyError, match="unknown recipe"):
        resolve("nope", "quick")


def test_validation_split_is_per_class_seeded_and_disjoint(tiny_toy_root):
    from asdcore.data import scan_dataset

    normals = scan_dataset(tiny_toy_root).select(split="train")
    train, val = split_train_val(normals, 0.25, seed=0)
    assert not {r.relpath for r in train} & {r.relpath for r in val}
    assert len(train) + len(val) == len(normals)
    assert {r.class_index for r in val} == {r.class_index for r in normals}  # every class validated
    again, _ = split_train_val(list(reversed(normals)), 0.25, seed=0)
    assert [r.relpath for r in again] == [r.relpath for r in train]


def test_random_validation_split_holds_out_that_share_of_all_clips(tiny_toy_root):
    """The Noisy-ArcMix code's random_split: a share of all training clips, not of each class."""
    from asdcore.data import scan_dataset

    normals = scan_dataset(tiny_toy_root).select(split="train")
    train, val = split_train_val(normals, 0.25, seed=0, mode="random")
    assert len(val) == round(0.25 * len(normals)) and len(train) + len(val) == len(normals)
    assert not {r.relpath for r in train} & {r.relpath for r in val}
    per_class = [sum(r.class_index == k for r in val) for k in {r.class_index for r in normals}]
    assert len(set(per_class)) > 1  # not stratified: classes get different numbers
    other, _ = split_train_val(normals, 0.25, seed=1, mode="random")
    assert {r.relpath for r in other} != {r.relpath for r in train}


@pytest.mark.slow  # trains a model
def test_cosine_epoch_schedule_steps_once_per_epoch_down_to_eta_min(tiny_toy_root, tmp_path):
    """CosineAnnealingLR(T_max = epochs, eta_min = 0.1 lr) stepped per epoch: after epoch e of E the
    rate is eta_min + (lr - eta_min)(1 + cos(pi e / E)) / 2 (the Noisy-ArcMix code's schedule)."""
    config = resolve("tastgram-ce", "tiny", {"data.roots": [str(tiny_toy_root)], "train.schedule": "cosine_epoch",
                                             "train.eta_min_ratio": 0.1, "train.epochs": 2, "lr": 1e-3})
    run = Run(train_run(config, tmp_path / "run", progress=False, evaluate=False))
    rates = [row["lr"] for row in run.metrics_history()]
    assert rates == pytest.approx([1e-4 + 9e-4 * (1 + np.cos(np.pi * e / 2)) / 2 for e in (1, 2)])


# --- a whole run --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tiny_toy_root, tmp_path_factory):
    """tastgram-noisy-arcmix, tiny preset, trained and evaluated through the CLI."""
    run_dir = tmp_path_factory.mktemp("runs") / "tast"
    code = main(["train", "--recipe", "tastgram-noisy-arcmix", "--preset", "tiny", "--data", str(tiny_toy_root),
                 "--run-dir", str(run_dir), "--quiet"])
    assert code == 0
    return Run(run_dir)


@pytest.mark.slow  # trains a model
def test_run_folder_has_the_contract(tiny_run):
    p = tiny_run.path
    for name in ["config.json", "status.json", "metrics.jsonl", "train.log", "timings.json", "checkpoint.pt",
                 "model.pt", "eval/metrics.json", "eval/clips.parquet", "eval/train_clips.parquet", "eval/embeddings.npy",
                 "eval/train_embeddings.npy", "eval/centres.npy", "eval/attention.npy"]:
        assert (p / name).exists(), name
    assert tiny_run.state == "finished" and tiny_run.status["progress"] == 1.0
    history = tiny_run.metrics_history()
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) and row["val_loss"] is not None for row in history)
    assert sum(row["selected"] for row in history) >= 1


def _contract_entry(doc: str, name: str) -> str:
    """The text of one file's entry in the run-folder contract (runs.py's docstring)."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(name + " "))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip()
                and len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))
    return " ".join(lines[start:end])


def _quoted(text: str) -> set:
    return set(re.findall(r'"(\w+)"', text))


@pytest.mark.slow  # trains a model
def test_run_folder_contract_in_runs_docstring_matches_a_real_run(tiny_run):
    """Every file runs.py's docstring lists is in a trained run folder, with exactly the keys and
    columns it lists: the contract the app reads by is what the engine writes."""
    doc = runs_module.__doc__
    p = tiny_run.path
    listed = re.findall(r"^\s{6,8}([\w.]+\.(?:json|jsonl|log|pt|parquet|npy))\s", doc, flags=re.M)
    files = {f"eval/{n}" if n not in ("config.json", "status.json", "metrics.jsonl", "train.log", "timings.json",
                                      "checkpoint.pt", "model.pt") else n for n in listed}
    assert len(files) == 14 and {str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()} == files
    assert set(tiny_run.status) == _quoted(_contract_entry(doc, "status.json"))
    assert set(tiny_run.metrics_history()[0]) == _quoted(_contract_entry(doc, "metrics.jsonl"))
    checkpoint = torch.load(p / "checkpoint.pt", weights_only=True)
    assert set(checkpoint) | set(checkpoint["groups"]["all"]) == _quoted(_contract_entry(doc, "checkpoint.pt"))
    model = torch.load(p / "model.pt", weights_only=True)
    assert set(model) | set(model["groups"]["all"]) == _quoted(_contract_entry(doc, "model.pt"))
    # config.json and the checkpoints hold the same typed config
    config = RunConfig.from_dict(json.loads((p / "config.json").read_text()))
    assert RunConfig.from_dict(checkpoint["config"]) == config == RunConfig.from_dict(model["config"])
    # the clip tables' columns
    block = doc.split("clips.parquet / train_clips.parquet columns:")[1].split("\n\n")[0]
    columns = set()
    for line in block.splitlines():
        if not re.match(r"^ {4}\S", line):  # a description's continuation, not a column
            continue
        names = re.split(r"\s{2,}", line.strip())[0]
        columns |= {n.strip() for n in names.split(",") if n.strip()}
    backends = re.search(r"one column per back-end \(([^;]+);", block).group(1).replace(",", " ").split()
    columns = (columns - {"score_<backend>"}) | {f"score_{b}" for b in backends}
    assert set(tiny_run.clips().columns) == columns
    assert set(tiny_run.train_clips().columns) <= columns


@pytest.mark.slow  # trains a model
def test_timings_json_says_where_the_runs_time_went(tiny_run):
    """timings.json: every phase of the run, none negative, together no more than the process's
    wall time; a row per epoch; the evaluation's phases also in eval/metrics.json."""
    timings = json.loads((tiny_run.path / "timings.json").read_text())
    assert set(timings) == {"wall_seconds", "phases", "other", "epochs"}
    phases = timings["phases"]
    for name in ["startup", "train.data", "train.setup", "train.read_clips", "train.steps", "train.validation",
                 "train.save", "eval.setup", "eval.embed_test", "eval.embed_train", "eval.score.softmax",
                 "eval.score.gmm", "eval.score.knn", "eval.score.lof", "eval.pca", "eval.umap", "eval.metrics",
                 "eval.intervals", "eval.write"]:
        assert name in phases, name
    assert all(s >= 0 for s in phases.values()) and timings["other"] >= 0
    assert sum(phases.values()) <= timings["wall_seconds"] + 0.01  # rounding
    assert [row["epoch"] for row in timings["epochs"]] == [1, 2]
    for row in timings["epochs"]:
        parts = {k: v for k, v in row.items() if k not in ("epoch", "seconds")}
        assert parts["train.steps"] > 0 and all(v >= 0 for v in parts.values())
        assert sum(parts.values()) <= row["seconds"] + 0.01
    eval_timings = tiny_run.eval_metrics()["eval_timings"]
    assert eval_timings and all(name.startswith("eval.") and s >= 0 for name, s in eval_timings.items())
    assert set(eval_timings) == {name for name in phases if name.startswith("eval.")}


@pytest.mark.slow  # trains a model
def test_checkpoint_loads_with_weights_only_and_describes_itself(tiny_run):
    ckpt = torch.load(tiny_run.path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["config"]["recipe"] == "tastgram-noisy-arcmix"
    state = ckpt["groups"]["all"]
    assert {"model", "optimizer", "scheduler", "loss", "ema"} <= set(state)
    selected = torch.load(tiny_run.path / "model.pt", weights_only=True)
    assert selected["config"] == ckpt["config"]


@pytest.mark.slow  # trains a model
def test_clips_table_has_scores_angles_projections_and_faults(tiny_run):
    clips = tiny_run.clips()
    for column in ["path", "root_index", "machine_type", "machine_id", "label", "score", "score_softmax",
                   "score_cosine", "score_gmm", "score_knn", "score_lof", "predicted_class", "angle_to_centre_deg",
                   "angle_to_nearest_other_deg", "umap_x", "umap_y", "pca_x", "pca_y", "fault_kind",
                   "fault_onset_s"]:
        assert column in clips, column
    assert set(clips["label"]) == {0, 1}
    assert np.allclose(clips["score"], clips["score_softmax"])  # the recipe's default back-end
    assert ((clips["angle_to_centre_deg"] >= 0) & (clips["angle_to_centre_deg"] <= 180)).all()
    assert clips.loc[clips.label == 1, "fault_kind"].notna().all()
    assert len(tiny_run.embeddings()) == len(clips)
    assert tiny_run.attention().shape[0] == len(clips)
    # the angle is the one between the stored embedding and the stored centre
    e, c = tiny_run.embeddings(), tiny_run.centres()
    cos = (e / np.linalg.norm(e, axis=1, keepdims=True)) @ c.T
    own = cos[np.arange(len(e)), clips["class_index"]]
    np.testing.assert_allclose(np.degrees(np.arccos(np.clip(own, -1, 1))), clips["angle_to_centre_deg"], atol=1e-2)
    # bundled runs resolve clips relative to the data root
    assert tiny_run.clip_path(clips.iloc[0]).exists()


@pytest.mark.slow  # trains a model
def test_metrics_json_agrees_with_a_recomputation_from_clips(tiny_run):
    m = tiny_run.eval_metrics()
    clips = tiny_run.clips()
    aucs = {}
    for machine_type, by_type in clips.groupby("machine_type"):
        per_id = [(roc_auc_score(g.label, g.score), roc_auc_score(g.label, g.score, max_fpr=0.1))
                  for _, g in by_type.groupby("machine_id") if g.label.nunique() == 2]
        aucs[machine_type] = per_id
        assert m["per_type"][machine_type]["auc"] == pytest.approx(np.mean([a for a, _ in per_id]))
        assert m["per_type"][machine_type]["pauc"] == pytest.approx(np.mean([p for _, p in per_id]))
        assert m["per_type"][machine_type]["mauc"] == pytest.approx(min(a for a, _ in per_id))
    assert m["average"]["auc"] == pytest.approx(np.mean([np.mean([a for a, _ in v]) for v in aucs.values()]))
    assert "McClish" in m["pauc_note"]


@pytest.mark.slow  # trains a model
def test_evaluate_json_cli_prints_the_dcase_protocol_metrics(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for machine_type in ["fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"]:
        assert set(out["per_type"][machine_type]) >= {"auc", "pauc", "mauc"}
    assert set(out["average"]) >= {"auc", "pauc", "mauc"}
    assert out["protocol"] == "dcase"
    assert set(out["by_backend"]) == {"softmax", "cosine", "gmm", "knn", "lof"}
    assert set(out["by_backend"]["softmax"]) == {"dcase", "pooled"}


@pytest.mark.slow  # trains a model
def test_data_diagnose_prints_auc_per_fault_kind_for_baselines_and_runs(tiny_run, tiny_toy_root, tmp_path,
                                                                      monkeypatch, capsys):
    """`data diagnose`: per machine type and fault kind, the Gaussian and the autoencoder (trained
    on the spot as a run when there is none, then reused) and every back-end of the run; the ID
    accuracy and angles; the temporal attention's figures."""
    import csv

    monkeypatch.setenv("ASD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled-runs"))
    assert main(["data", "diagnose", str(tiny_toy_root), "--run", str(tiny_run.path), "--clip-seconds", "2"]) == 0
    out = capsys.readouterr().out
    assert "training the DCASE 2020 autoencoder baseline" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("machine_type") and "gaussian" in line)
    for column in ("gaussian", "autoencoder", "tast:softmax", "tast:cosine", "tast:gmm", "tast:knn", "tast:lof"):
        assert column in header
    kinds = {row["fault_kind"] for row in csv.DictReader(open(tiny_toy_root / "metadata.csv")) if row["fault_kind"]}
    for kind in kinds:
        assert f" {kind} " in out, kind
    assert "id_acc_normal" in out and "angle_anomaly_deg" in out
    assert "Temporal attention of tast" in out and "above 0.99" in out
    # the autoencoder run is kept and reused: no second training
    assert main(["data", "diagnose", str(tiny_toy_root), "--run", str(tiny_run.path)]) == 0
    assert "training the DCASE" not in capsys.readouterr().out
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_diagnose_tables_recompute_the_dcase_protocol_per_fault_kind():
    """A fault kind's AUC is the mean over machine IDs of that ID's normals against its anomalies of
    that kind; ID accuracy and median angles come from the predicted class and the angle column."""
    from asdcore.diagnose import ALL_FAULTS, classifier_table, fault_auc_table

    clips = pd.DataFrame({
        "machine_type": ["fan"] * 10, "machine_id": ["id_00"] * 5 + ["id_02"] * 5,
        "label": [0, 0, 1, 1, 1, 0, 0, 1, 1, 1],
        "fault_kind": ["", "", "a", "a", "b", "", "", "a", "b", "b"],
        "score": [0.1, 0.2, 0.9, 0.15, 0.3, 0.5, 0.6, 0.1, 0.7, 0.8],
        "class_index": [0] * 5 + [1] * 5, "predicted_class": [0, 0, 1, 0, 0, 1, 0, 1, 0, 1],
        "angle_to_centre_deg": [10, 20, 50, 40, 30, 12, 14, 60, 70, 80],
    })
    table = fault_auc_table(clips, {"s": "score"}).set_index("fault_kind")
    # id_00: normals .1 .2; a: .9 .15 -> AUC (1 + 0.5) / 2 = .75; b: .3 -> 1.  id_02: normals .5 .6;
    # a: .1 -> 0; b: .7 .8 -> 1
    assert table.loc["a", "s"] == pytest.approx((0.75 + 0.0) / 2)
    assert table.loc["b", "s"] == pytest.approx((1.0 + 1.0) / 2)
    all_id00 = roc_auc_score([0, 0, 1, 1, 1], [0.1, 0.2, 0.9, 0.15, 0.3])
    all_id02 = roc_auc_score([0, 0, 1, 1, 1], [0.5, 0.6, 0.1, 0.7, 0.8])
    assert table.loc[ALL_FAULTS, "s"] == pytest.approx((all_id00 + all_id02) / 2)
    assert table.loc[ALL_FAULTS, "n_anomalies"] == 6
    acc = classifier_table(clips).set_index("fault_kind")
    assert acc.loc[ALL_FAULTS, "id_acc_normal"] == pytest.approx(3 / 4)  # id_00's two right, id_02's one of two
    assert acc.loc["b", "id_acc_anomaly"] == pytest.approx(2 / 3)
    assert acc.loc[ALL_FAULTS, "angle_normal_deg"] == pytest.approx(13.0)
    assert acc.loc["a", "angle_anomaly_deg"] == pytest.approx(50.0)


@pytest.mark.slow  # trains a model
def test_attention_summary_compares_the_fault_span_with_the_rest(tiny_run, tmp_path):
    """The figures the issue asks of TAgram: saturation, and the mean weight inside the fault's span
    against outside it, over the anomalous clips whose fault is shorter than a share of the clip.
    The evaluation stores them in eval/metrics.json ("attention"), from the weights as attention.npy
    keeps them: recomputed from the saved files (refresh_summaries), they agree to the last digit."""
    from asdcore.diagnose import attention_summary
    from asdcore.evaluation.attention import SHORT_SPAN, frame_settings
    from asdcore.evaluation.attention import attention_summary as summarise_attention
    from asdcore.evaluation.evaluate import refresh_summaries

    stored = tiny_run.eval_metrics()["attention"]
    assert stored == summarise_attention(tiny_run.attention(), tiny_run.clips(), *frame_settings(tiny_run.config))
    assert stored["short_span"] == SHORT_SPAN and stored["n_clips"] == len(tiny_run.clips())
    assert attention_summary(tiny_run) == stored
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run.path, copy)
    without = {k: v for k, v in tiny_run.eval_metrics().items() if k != "attention"}
    write_json_atomic(copy / "eval" / "metrics.json", without)
    assert refresh_summaries(copy) == tiny_run.eval_metrics()

    weights = tiny_run.attention().astype(float)
    clips = tiny_run.clips()
    summary = attention_summary(tiny_run, short_span=1.0)
    assert summary["saturated"] == pytest.approx((weights > 0.99).mean())
    assert summary["mean"] == pytest.approx(weights.mean())
    times = np.arange(weights.shape[1]) * 512 / 16000  # frame centres (hop 512 at 16 kHz)
    inside, outside = [], []
    for i, row in clips[clips["label"] == 1].iterrows():
        span = (times >= row["fault_onset_s"]) & (times < row["fault_offset_s"])
        if row["fault_offset_s"] - row["fault_onset_s"] < 2.0 and span.any() and (~span).any():
            inside.append(weights[i, span].mean())
            outside.append(weights[i, ~span].mean())
    assert summary["n_short"] == len(inside) > 0
    assert summary["inside"] == pytest.approx(np.mean(inside))
    assert summary["outside"] == pytest.approx(np.mean(outside))


@pytest.mark.slow  # trains a model
def test_a_run_folder_is_never_overwritten(tiny_run, tiny_toy_root):
    config = resolve("tastgram-ce", "tiny", {"data.roots": [str(tiny_toy_root)]})
    with pytest.raises(FileExistsError, match="already holds a run"):
        train_run(config, tiny_run.path, progress=False)
    assert tiny_run.config["recipe"] == "tastgram-noisy-arcmix"


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("recipe", sorted(set(RECIPES) - {"tastgram-noisy-arcmix"}))
def test_every_recipe_trains_and_evaluates_on_tiny_data(recipe, tiny_toy_root, tmp_path):
    config = resolve(recipe, "tiny", {"data.roots": [str(tiny_toy_root)], "eval.umap": False,
                                      "train.epochs": 1})
    run = Run(train_run(config, tmp_path / recipe, progress=False))
    assert run.state == "finished"
    m = run.eval_metrics()
    assert 0.0 <= m["average"]["auc"] <= 1.0 and np.isfinite(m["average"]["pauc"])
    clips = run.clips()
    assert clips["score"].notna().all()
    if recipe == "dcase-ae":
        assert m["backend"] == "reconstruction" and "angle_to_centre_deg" not in clips
        assert set(run.status) and torch.load(run.path / "model.pt", weights_only=True)["groups"].keys() == {
            "fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"}


# --- resume after a kill ------------------------------------------------------------------------

def _train_cmd(data_root, run_dir, *extra):
    return [sys.executable, "-m", "asdcore", "train", "--recipe", "stgram-arcmix", "--preset", "tiny",
            "--data", str(data_root), "--run-dir", str(run_dir), "--set", "train.epochs=4", "--no-eval", "--quiet",
            *extra]


@pytest.mark.slow  # trains a model
def test_a_run_killed_mid_epoch_resumes_to_the_same_result(tiny_toy_root, tmp_path):
    reference = tmp_path / "uninterrupted"
    subprocess.run(_train_cmd(tiny_toy_root, reference), check=True, cwd=PROJECT_ROOT, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_toy_root, killed), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # kill it in the middle of epoch 2 (after the first checkpoint, before the second)
    deadline = time.time() + 120
    while time.time() < deadline:
        status = json.loads((killed / "status.json").read_text()) if (killed / "status.json").exists() else {}
        if status.get("epoch") == 2 and status.get("phase") == "training":
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert Run(killed).state == "failed"  # a dead pid is reported as such, with how to resume
    assert "--resume" in Run(killed).status["error"]
    done = subprocess.run([sys.executable, "-m", "asdcore", "train", "--resume", "--run-dir", str(killed),
                           "--no-eval", "--quiet"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resumed, uninterrupted = Run(killed).metrics_history(), Run(reference).metrics_history()
    assert [r["epoch"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(resumed, uninterrupted):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    assert Run(killed).state == "finished"


@pytest.mark.slow  # trains a model
def test_sigterm_cancels_a_run(tiny_toy_root, tmp_path):
    run_dir = tmp_path / "cancel-me"
    proc = subprocess.Popen(_train_cmd(tiny_toy_root, run_dir, "--set", "train.epochs=50"), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and Run(run_dir).status.get("phase") != "training":
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 130
    assert Run(run_dir).state == "cancelled"


# --- queue --------------------------------------------------------------------------------------

def test_queued_runs_wait_for_earlier_ones(tmp_path):
    config = resolve("tastgram-ce", "tiny")
    first, second = tmp_path / "first", tmp_path / "second"
    mark_queued(first, config)
    time.sleep(0.01)
    mark_queued(second, config)
    status = json.loads((first / "status.json").read_text())
    write_json_atomic(first / "status.json", dict(status, state="running"))  # alive: this test's pid
    released = threading.Event()

    def waiter():
        wait_turn(second, poll_seconds=0.05)
        released.set()

    threading.Thread(target=waiter, daemon=True).start()
    time.sleep(0.5)
    assert not released.is_set()  # the first run is still running
    write_json_atomic(first / "status.json", dict(status, state="finished"))
    assert released.wait(5)


@pytest.mark.slow  # trains a model
def test_runs_lists_user_runs_and_bundled_ones(tiny_run, monkeypatch, capsys):
    monkeypatch.setenv("ASD_RUNS", str(tiny_run.path.parent))
    listed = list_runs()
    assert tiny_run.id in [r.id for r in listed]
    assert main(["runs"]) == 0
    assert tiny_run.id in capsys.readouterr().out


@pytest.mark.slow  # trains a model
def test_run_summary_is_the_row_every_runs_table_shows(tiny_run, tmp_path, monkeypatch, capsys):
    """run_summary reads a run folder into the row the CLI's `runs`, Home and Train show."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_run.path, runs / tiny_run.id)
    mark_queued(runs / "waiting", resolve("stgram-ce", "tiny"))
    finished, waiting = Run(runs / tiny_run.id), Run(runs / "waiting")
    status = json.loads((finished.path / "status.json").read_text())
    average = json.loads((finished.path / "eval" / "metrics.json").read_text())["average"]

    rows = run_summary([finished, waiting])
    assert rows[0] == {"id": tiny_run.id, "method": RECIPES["tastgram-noisy-arcmix"].label,
                       "recipe": "tastgram-noisy-arcmix", "preset": "tiny", "bundled": False, "state": "finished",
                       "epoch": status["epoch"], "epochs": status["epochs"], "progress": 1.0,
                       "created": status["created"],
                       "auc_pct": round(100 * average["auc"], 2), "pauc_pct": round(100 * average["pauc"], 2)}
    assert rows[1]["state"] == "queued" and rows[1]["epoch"] == 0 and rows[1]["progress"] == 0.0
    assert rows[1]["epochs"] == resolve("stgram-ce", "tiny").train.epochs
    assert rows[1]["auc_pct"] is None and rows[1]["pauc_pct"] is None  # not evaluated yet

    monkeypatch.setenv("ASD_RUNS", str(runs))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled-runs"))
    assert main(["runs"]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    epoch = f"{status['epoch']}/{status['epochs']}"
    assert lines[tiny_run.id][1:] == ["finished", "tastgram-noisy-arcmix", "tiny", epoch,
                                      f"{rows[0]['auc_pct']:.2f}", f"{rows[0]['pauc_pct']:.2f}"]
    assert lines["waiting"][1] == "queued" and lines["waiting"][-2:] == ["-", "-"]


def test_ema_batchnorm_statistics_are_recomputed_for_the_ema_weights(tiny_toy_root):
    """The EMA model's BatchNorm running mean is the plain mean of its own activations over the
    training clips (not an average of statistics of earlier weights)."""
    from asdcore.features import LogMel
    from asdcore.runtime import Waveforms, build_model, feature_config, prepare_splits
    from asdcore.training.loop import refresh_batchnorm

    config = resolve("logmel-osscl", "tiny", {"data.roots": [str(tiny_toy_root)]})
    splits = prepare_splits(config)
    model = build_model(config, len(splits.classes))
    waves = Waveforms(splits.train, config.data.clip_seconds)
    front = LogMel(feature_config(config))
    bn = model.mobilefacenet.conv1.bn
    bn.running_mean.fill_(123.0)  # stale statistics
    index = np.arange(len(waves))
    config = config.with_settings({"eval.batch_size": len(index)})  # one batch: its mean is the plain mean
    model.eval()
    refresh_batchnorm(model, waves, index, front, config, torch.device("cpu"))
    wave = waves.batch(torch.from_numpy(index))
    with torch.no_grad():
        x, _ = model.frontend(wave, front(wave))
        activations = model.mobilefacenet.conv1.conv(x)
    torch.testing.assert_close(bn.running_mean, activations.mean(dim=(0, 2, 3)), rtol=1e-3, atol=1e-3)
    assert not model.training and bn.momentum == 0.1


def test_batch_mixing_puts_source_and_target_clips_in_every_batch():
    """The JLESS system's batches: both domains in each, the few target clips drawn again and again."""
    from asdcore.training.loop import domain_mixed_batches

    index = np.arange(100)
    domains = np.array(["target" if i % 20 == 0 else "source" for i in range(100)])  # 5 target clips
    batches = domain_mixed_batches(index, domains, 16, torch.Generator().manual_seed(0))
    assert len(batches) == 100 // 16
    for batch in batches:
        assert len(batch) == 16 and len(set(batch.tolist())) == 16
        assert (domains[batch] == "target").sum() == 1  # round(16 x 5 %) = 1, at least one
    seen_source = np.concatenate(batches)[domains[np.concatenate(batches)] == "source"]
    assert len(set(seen_source.tolist())) == len(seen_source)  # source clips once each within the epoch
    # one domain only: plain shuffled batches
    plain = domain_mixed_batches(index, np.full(100, "source"), 16, torch.Generator().manual_seed(0))
    assert sorted(np.concatenate(plain).tolist()) == list(range(100))


def test_segments_train_on_one_stretch_and_score_a_clip_by_the_mean_over_its_segments():
    """The JLESS system's 128 x 64 segments: a clip's output is the mean over its consecutive segments."""
    from asdcore.models.compositions import logmel_mfn
    from asdcore.runtime import build_model, check_segments, random_segment, segment_output

    torch.manual_seed(0)
    model = logmel_mfn(5, n_mels=32, n_frames=16, feature_perturbation_head=None).eval()
    mel = torch.randn(2, 32, 50)  # three full 16-frame segments, two frames left over
    with torch.no_grad():
        out = segment_output(model, None, mel, 16)
        parts = [model(None, mel[..., 16 * k:16 * (k + 1)]) for k in range(3)]
    assert torch.allclose(out.embedding, torch.stack([p.embedding for p in parts]).mean(0), atol=1e-5)
    assert torch.allclose(out.cosine, torch.stack([p.cosine for p in parts]).mean(0), atol=1e-5)
    with torch.no_grad():  # a clip no longer than one segment, or no segments: the whole clip
        assert torch.allclose(segment_output(model, None, mel[..., :16], 16).embedding,
                              model(None, mel[..., :16]).embedding)
    crop = random_segment(mel, 16, torch.Generator().manual_seed(1))
    starts = [k for k in range(35) if torch.equal(mel[..., k:k + 16], crop)]
    assert crop.shape == (2, 32, 16) and len(starts) == 1  # one stretch, the same for the whole batch
    assert random_segment(mel, None, torch.Generator()) is mel
    config = resolve("tastgram-arcface", "tiny", {"data.segment_frames": 64})
    with pytest.raises(ValueError, match="also reads the waveform"):
        check_segments(config, build_model(config, 3))


def test_ema_warmup_averages_with_the_growing_decay():
    """With train.ema_warmup the EMA's decay after t updates is min(decay, (1 + t) / (10 + t)): the
    first update copies the weights, the next ones weigh the new weights by 1 - d_t (a short run's
    EMA then forgets its random start instead of holding 0.99^steps of it)."""
    from torch.optim.swa_utils import AveragedModel

    from asdcore.training.loop import ema_with_warmup

    model = torch.nn.Linear(1, 1, bias=False)
    ema = AveragedModel(model, multi_avg_fn=ema_with_warmup(0.5), use_buffers=False)
    expected = None
    for t, w in enumerate([4.0, 2.0, 10.0, -6.0, 1.0]):
        model.weight.data.fill_(w)
        ema.update_parameters(model)
        d = min(0.5, (1 + t) / (10 + t))  # after t earlier updates (the first, t = 0, copies)
        expected = w if t == 0 else d * expected + (1 - d) * w
        assert ema.module.weight.item() == pytest.approx(expected, rel=1e-5)  # float32 weights
    assert ema.n_averaged.item() == 5
