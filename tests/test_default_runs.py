"""No silent switch: a tiny run of yours never takes a bundled run's place on the analysis pages, and
every run of yours is named by what it is (method, preset, data, date), a tiny one as a smoke test."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apptest import run_page
from asdcore.runs import Run, list_runs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAM = "tastgram-noisy-arcmix"
FIG1 = ["tastgram-ce", "tastgram-arcface", "tastgram-arcmix", NAM]


@pytest.fixture(scope="module")
def tiny_run(tiny_toy_root, tmp_path_factory) -> Path:
    """A user's tiny Noisy-ArcMix run (trained and evaluated, as the Train page's smoke test makes one)."""
    runs = tmp_path_factory.mktemp("default-runs") / "runs"
    proc = subprocess.run([sys.executable, "-m", "asdcore", "train", "--recipe", NAM, "--preset", "tiny",
                           "--data", str(tiny_toy_root), "--run-dir", str(runs / f"20261205-090000-{NAM}-tiny"),
                           "--quiet", "--set", "train.epochs=1", "--set", "eval.umap=false"],
                          cwd=PROJECT_ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return runs / f"20261205-090000-{NAM}-tiny"


@pytest.fixture
def with_tiny_run(tiny_run, monkeypatch):
    monkeypatch.setenv("ASD_RUNS", str(tiny_run.parent))
    monkeypatch.setenv("ASD_BUNDLED", str(PROJECT_ROOT / "checkpoints"))
    return Run(tiny_run)


def test_a_tiny_run_is_named_as_a_smoke_test_with_its_data_and_date(with_tiny_run, tiny_toy_root):
    run = with_tiny_run
    assert run.is_smoke_test and not run.bundled
    assert run.label.startswith("TASTgram-MFN (Noisy-ArcMix) · tiny smoke test · tiny · ")
    assert run.label != Run(PROJECT_ROOT / "checkpoints" / NAM).label == "TASTgram-MFN (Noisy-ArcMix)"
    assert run.method == "TASTgram-MFN (Noisy-ArcMix)"  # the method itself, for published-number look-ups


@pytest.mark.parametrize("page", ["attention", "embeddings", "false_alarms"])
def test_the_analysis_pages_still_open_on_the_bundled_run_after_a_tiny_run(with_tiny_run, page):
    assert with_tiny_run.id in [r.id for r in list_runs()]  # it is offered ...
    at = run_page(page)
    assert at.query_params["run"] in (NAM, [NAM])  # ... but not chosen
    picker = next(s for s in at.selectbox if s.label == "Run")
    assert any("tiny smoke test" in o for o in picker.options)  # and named as what it is where it is offered


def test_angles_still_opens_on_the_bundled_fig1_runs_after_a_tiny_run(with_tiny_run):
    at = run_page("angles")
    chosen = at.query_params["runs"]
    assert (chosen if isinstance(chosen, str) else chosen[0]).split(",") == FIG1


def test_a_quick_run_of_yours_is_the_default_and_says_it_is_yours(with_tiny_run, tmp_path, monkeypatch):
    """A run of at least quick size may be the default, but under its own name, never the bundled one's."""
    runs = tmp_path / "runs"
    mine = runs / f"20261205-100000-{NAM}-quick"
    shutil.copytree(PROJECT_ROOT / "checkpoints" / NAM, mine)
    status = json.loads((mine / "status.json").read_text())
    (mine / "status.json").write_text(json.dumps(dict(status, created=1796464800.0)))
    monkeypatch.setenv("ASD_RUNS", str(runs))
    at = run_page("false_alarms")
    assert at.query_params["run"] in (mine.name, [mine.name])
    label = Run(mine).label
    assert label.startswith("TASTgram-MFN (Noisy-ArcMix) · quick · toy · ") and label != Run(
        PROJECT_ROOT / "checkpoints" / NAM).label
