"""scripts/gpu_check.py (`make gpu-check`) without a GPU: the one line and nothing written on a CPU
machine, and the item runner and its JSON record checked with fake items."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_check  # noqa: E402  (scripts/ is no package)
from gpu_check import Item, Skipped, record_path, run_item, run_items, write_record  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the script runs the real check")
def test_without_cuda_it_prints_one_line_exits_0_and_writes_nothing(tmp_path):
    bench = ROOT / "bench"
    before = sorted(p.name for p in bench.iterdir()) if bench.is_dir() else []
    for args in ([], ["--out", str(tmp_path / "out")]):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "no CUDA device: gpu-check has nothing to check on this machine\n"
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
    assert (sorted(p.name for p in bench.iterdir()) if bench.is_dir() else []) == before


def _passes(limit_s):
    return {"clips_per_s": 12.5, "limit_seen": limit_s}


def _raises(limit_s):
    raise RuntimeError("CUDA error: out of memory")


def _sleeps(limit_s):
    time.sleep(30)


def _skips(limit_s):
    raise Skipped("data/scale-5k missing")


def test_each_item_is_recorded_pass_fail_or_skip_and_the_next_still_runs():
    items = [Item("good", 5, _passes, "a passing item"), Item("bad", 5, _raises, "an item that raises"),
             Item("slow", 0.3, _sleeps, "an item past its limit"), Item("no-data", 5, _skips),
             Item("after", 5, _passes)]
    seen = []
    t0 = time.perf_counter()
    records = run_items(items, total_s=60, grace_s=0, report=seen.append)
    assert time.perf_counter() - t0 < 10  # the sleeper was not waited for
    assert seen == records and [r["name"] for r in records] == ["good", "bad", "slow", "no-data", "after"]
    good, bad, slow, skipped, after = records
    assert good["status"] == "pass" and good["figures"] == {"clips_per_s": 12.5, "limit_seen": 5}
    assert good["what"] == "a passing item" and good["limit_s"] == 5 and good["seconds"] >= 0
    assert bad["status"] == "fail" and bad["error"] == "RuntimeError: CUDA error: out of memory"
    assert "_raises" in bad["traceback"] and "figures" not in bad
    assert slow["status"] == "fail" and "timed out" in slow["error"] and "0.3 s" in slow["error"]
    assert slow["seconds"] < 5
    assert skipped["status"] == "skip" and skipped["reason"] == "data/scale-5k missing"
    assert after["status"] == "pass"
    assert gpu_check.summary(records) == {"pass": 2, "fail": 2, "skip": 1}
    assert gpu_check.line(good).startswith("pass  good") and "clips_per_s 12.5" in gpu_check.line(good)
    assert "out of memory" in gpu_check.line(bad)


def test_an_item_gets_no_more_than_the_time_left_and_none_once_it_is_spent():
    records = run_items([Item("first", 100, _passes), Item("second", 100, _sleeps), Item("third", 100, _passes)],
                        total_s=6, grace_s=0)
    assert records[0]["figures"]["limit_seen"] <= 6
    assert records[1]["status"] == "fail" and "timed out" in records[1]["error"]
    assert records[2]["status"] == "fail" and records[2]["error"].startswith("not run")


def test_the_record_is_one_json_per_host_and_minute(tmp_path):
    when = dt.datetime(2026, 12, 5, 14, 30, 12)
    records = [run_item(Item("good", 5, _passes), grace_s=0), run_item(Item("bad", 5, _raises), grace_s=0)]
    path = write_record(records, tmp_path / "bench", {"gpus": ["NVIDIA H100"]}, when, host="gpu1", total_seconds=3.2)
    assert path == record_path(tmp_path / "bench", "gpu1", when) == tmp_path / "bench" / "gpu-gpu1-20261205-1430.json"
    doc = json.loads(path.read_text())
    assert doc["kind"] == "asdcore gpu-check" and doc["host"] == "gpu1" and doc["date"] == "2026-12-05T14:30:12"
    assert doc["hardware"] == {"gpus": ["NVIDIA H100"]} and doc["total_seconds"] == 3.2
    assert doc["summary"] == {"pass": 1, "fail": 1, "skip": 0}
    assert [(r["name"], r["status"]) for r in doc["items"]] == [("good", "pass"), ("bad", "fail")]
    assert doc["items"][0]["figures"]["clips_per_s"] == 12.5 and "out of memory" in doc["items"][1]["error"]


def test_the_real_items_fit_in_ten_minutes():
    # run_items stops every item at what is left of TOTAL_S; the last may overrun by GRACE_S at most
    assert gpu_check.TOTAL_S + gpu_check.GRACE_S < 600
    assert sum(i.limit_s for i in gpu_check.ITEMS) <= gpu_check.TOTAL_S  # and each gets its whole limit
    assert [i.name for i in gpu_check.ITEMS] == ["cuda-tests", "bf16-step", "compile", "ddp-nccl", "paper-epoch",
                                                 "bench"]
