"""What a run folder's readers promise: the attention summary is stored by the evaluation and only
read by the Attention page and `data diagnose`; a run's JSON files are parsed once per render."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from apptest import run_page
from asdcore import runs as runs_module
from asdcore.diagnose import attention_summary
from asdcore.evaluation.evaluate import refresh_summaries
from asdcore.runs import Run, run_summary, write_json_atomic

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"
TAST = "tastgram-noisy-arcmix"


def copy_run(source: str, dest: Path) -> Path:
    shutil.copytree(BUNDLED / source, dest)
    return dest


def metrics_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "eval" / "metrics.json").read_text())


# --- the attention summary ----------------------------------------------------------------------

def test_refresh_adds_the_attention_summary_and_changes_no_other_number(tmp_path):
    """A run evaluated before the summary was stored gets exactly the bundled run's block back from
    its eval/ files, every other byte of metrics.json as it was; a second refresh writes nothing."""
    bundled_text = (BUNDLED / TAST / "eval" / "metrics.json").read_text()
    assert "attention" in json.loads(bundled_text)
    run_dir = copy_run(TAST, tmp_path / "old")
    old = metrics_of(run_dir)
    del old["attention"]
    write_json_atomic(run_dir / "eval" / "metrics.json", old)

    refreshed = refresh_summaries(run_dir)
    assert {k: v for k, v in refreshed.items() if k != "attention"} == old
    assert (run_dir / "eval" / "metrics.json").read_text() == bundled_text  # as write_json_atomic writes it
    stamp = (run_dir / "eval" / "metrics.json").stat()
    assert refresh_summaries(run_dir) == refreshed
    after = (run_dir / "eval" / "metrics.json").stat()
    assert (after.st_ino, after.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)  # not rewritten

    plain = copy_run("stgram-ce", tmp_path / "no-attention")  # no TAgram: nothing to add
    before = (plain / "eval" / "metrics.json").read_text()
    assert "attention" not in refresh_summaries(plain)
    assert (plain / "eval" / "metrics.json").read_text() == before


def test_diagnose_reads_the_stored_summary_and_computes_it_only_without_one(tmp_path):
    """`data diagnose` prints the stored block; for a run without it, the same figures computed from
    attention.npy (the stored block was made from the same float16 weights: equal to the last digit)."""
    run_dir = copy_run(TAST, tmp_path / "run")
    stored = metrics_of(run_dir)["attention"]
    marked = dict(stored, mean=0.123456)  # a value no computation gives: read, not recomputed
    write_json_atomic(run_dir / "eval" / "metrics.json", dict(metrics_of(run_dir), attention=marked))
    assert attention_summary(Run(run_dir)) == marked
    metrics = metrics_of(run_dir)
    del metrics["attention"]
    write_json_atomic(run_dir / "eval" / "metrics.json", metrics)
    assert attention_summary(Run(run_dir)) == stored


@pytest.fixture
def runs_folder(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("ASD_RUNS", str(folder))
    monkeypatch.setenv("ASD_BUNDLED", str(tmp_path / "no-bundled-runs"))
    return folder


def caption_text(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_attention_page_shows_the_stored_summary(runs_folder):
    """The figures come from eval/metrics.json's "attention" block, not from attention.npy: values
    no computation over the weights gives appear on the page."""
    run_dir = copy_run(TAST, runs_folder / "stored-summary")
    summary = {"n_clips": 1234, "saturated": 0.4242, "mean": 0.77, "within_clip_std": 0.05, "short_span": 0.6,
               "inside": 0.8765, "outside": 0.1234, "n_short": 7, "inside_higher": 0.5714}
    write_json_atomic(run_dir / "eval" / "metrics.json", dict(metrics_of(run_dir), attention=summary))
    text = caption_text(run_page("attention", run="stored-summary"))
    for shown in ("Over all 1234 test clips", "**42 %**", "mean 0.77", "Over the 7 anomalous clips",
                  "**0.88** against **0.12**", "57 % of them"):
        assert shown in text, (shown, text)


def test_attention_page_without_a_stored_summary_says_how_to_add_it(runs_folder):
    run_dir = copy_run(TAST, runs_folder / "evaluated-before")
    metrics = metrics_of(run_dir)
    del metrics["attention"]
    write_json_atomic(run_dir / "eval" / "metrics.json", metrics)
    at = run_page("attention", run="evaluated-before")
    text = caption_text(at)
    assert "evaluated before the attention summary was stored" in text
    assert f"python -m asdcore evaluate {run_dir} --recompute" in text
    assert "of the weights are above 0.99" not in text
    # the rest of the page as before: the clip, its score's rank, the verdict
    assert [m.label for m in at.metric][-1] == "Rank among the test clips"
    assert any("threshold" in m.value for m in [*at.success, *at.error])


# --- one parse per file per render --------------------------------------------------------------

JSON_FILES = ("config.json", "status.json", "eval/metrics.json")


@pytest.fixture
def json_run(tmp_path) -> Path:
    """A run folder with the bundled run's JSON files and (empty) eval artefacts."""
    run_dir = tmp_path / "run"
    (run_dir / "eval").mkdir(parents=True)
    for name in JSON_FILES:
        shutil.copy2(BUNDLED / "stgram-ce" / name, run_dir / name)
    for name in runs_module.EVAL_FILES:
        (run_dir / "eval" / name).touch(exist_ok=True)
    return run_dir


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The texts json.loads parses from now on."""
    seen, loads = [], json.loads

    def counting(text, *args, **kwargs):
        seen.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(runs_module.json, "loads", counting)
    return seen


def render(run: Run) -> None:
    """What one page render asks of a run: the run table's row, then the pages' own reads."""
    run_summary([run])
    assert run.damage() is None
    run.config, run.status, run.eval_metrics(), run.label, run.recipe, run.state, run.data_roots()
    run.config, run.status, run.eval_metrics()


def parse_counts(run_dir: Path, seen: list[str]) -> dict[str, int]:
    return {name: seen.count((run_dir / name).read_text()) for name in JSON_FILES}


def test_a_render_parses_each_json_file_once(json_run, parses):
    run = Run(json_run)
    render(run)
    render(run)
    assert parse_counts(json_run, parses) == {name: 1 for name in JSON_FILES}
    assert len(parses) == 3


def test_a_rewritten_file_is_read_again_and_only_it(json_run, parses):
    run = Run(json_run)
    render(run)
    # rewritten as the engine does (a new file renamed over the old one) and in place (another size)
    write_json_atomic(json_run / "status.json", dict(run.status, epoch=99, message="new"))
    config = run.config
    (json_run / "config.json").write_text(json.dumps(dict(config, label="Relabelled")))
    write_json_atomic(json_run / "eval" / "metrics.json", dict(run.eval_metrics(), backend="knn"))
    del parses[:]
    render(run)
    assert run.status["epoch"] == 99 and run.status["message"] == "new"
    assert run.method == "Relabelled" and run_summary([run])[0]["method"] == "Relabelled"
    assert run.eval_metrics()["backend"] == "knn"
    assert parse_counts(json_run, parses) == {name: 1 for name in JSON_FILES}


def test_damage_tells_missing_from_invalid_and_sees_a_repair(json_run):
    run = Run(json_run)
    assert run.damage() is None
    good = (json_run / "eval" / "metrics.json").read_text()
    (json_run / "eval" / "metrics.json").write_text("[1,")
    assert run.damage() == "eval/metrics.json is missing or not valid JSON" and run.eval_metrics() == {}
    (json_run / "eval" / "metrics.json").write_text(good)
    assert run.damage() is None and run.eval_metrics()["backend"]
    (json_run / "status.json").write_text("{not json")
    assert run.damage() == "status.json is not valid JSON" and run.status == {}
    (json_run / "status.json").unlink()
    assert run.damage() is None
    (json_run / "config.json").unlink()
    assert run.damage() == "config.json is missing" and run.config == {}


def test_a_caller_changing_what_it_read_changes_no_later_read(json_run):
    run = Run(json_run)
    run.status["pid"] = 12345
    run.config["label"] = "changed"
    assert run.status.get("pid") != 12345 and run.config.get("label") != "changed"
