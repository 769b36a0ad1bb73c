"""Run folders edited by hand (a file deleted, JSON broken): named as damaged, never a crash."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apptest import run_page
from asdcore.runs import Run, list_runs, run_summary

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.fixture
def damaged_runs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(BUNDLED / "stgram-arcface", runs / "no-clips")
    (runs / "no-clips" / "eval" / "clips.parquet").unlink()
    shutil.copytree(BUNDLED / "tastgram-ce", runs / "broken-metrics")
    (runs / "broken-metrics" / "eval" / "metrics.json").write_text("[1,")
    shutil.copytree(BUNDLED / "stgram-ce", runs / "broken-config")
    (runs / "broken-config" / "config.json").write_text("{not json")
    monkeypatch.setenv("ASD_RUNS", str(runs))
    return runs


def test_each_damage_is_named_and_the_run_tables_say_damaged(damaged_runs):
    assert "clips.parquet is missing" in Run(damaged_runs / "no-clips").damage()
    assert "metrics.json is missing or not valid JSON" in Run(damaged_runs / "broken-metrics").damage()
    assert Run(damaged_runs / "broken-config").damage() == "config.json is not valid JSON"
    assert Run(BUNDLED / "stgram-ce").damage() is None
    states = {row["id"]: row["state"] for row in run_summary(list_runs(include_bundled=False))}
    assert states == {"no-clips": "damaged", "broken-metrics": "damaged", "broken-config": "damaged"}


@pytest.mark.parametrize("page, query", [("angles", {"runs": "no-clips"}), ("embeddings", {"run": "no-clips"}),
                                         ("false_alarms", {"run": "no-clips"}), ("attention", {"run": "no-clips"}),
                                         ("compare", {"runs": "no-clips,broken-metrics"})])
def test_analysis_pages_leave_damaged_runs_out_and_say_why(damaged_runs, page, query):
    at = run_page(page, **query)  # fails on any exception the page raised
    warnings = [w.value for w in at.warning if "cannot be read and are left out" in w.value]
    assert len(warnings) == 1
    assert "no-clips (eval/clips.parquet is missing" in warnings[0] and "broken-metrics" in warnings[0]
