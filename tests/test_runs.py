"""The training queue's order (asdcore.runs.runs_ahead / queue_position): what the wait loop of a
queued run waits for, and the place in line the Train page shows."""
from __future__ import annotations

from pathlib import Path

import pytest

from asdcore.recipes import resolve
from asdcore.runs import Run, mark_queued, queue_position, runs_ahead, write_json_atomic


def make_run(folder: Path, name: str, state: str, created: float) -> Run:
    """A run folder in `state`, created at `created` (unix s); its pid is this test's, so it is alive."""
    mark_queued(folder / name, resolve("stgram-ce", "tiny"))
    run = Run(folder / name)
    write_json_atomic(run.path / "status.json", dict(run.status, state=state, created=created))
    return run


def test_a_queued_run_waits_for_the_running_one_and_those_queued_before_it(tmp_path):
    runs = tmp_path / "runs"
    first, second, third = (make_run(runs, name, "queued", created) for name, created in
                            (("first", 100.0), ("second", 200.0), ("third", 300.0)))
    training = make_run(runs, "training", "running", 400.0)  # started later, but it holds the turn
    make_run(runs, "done", "finished", 50.0)
    make_run(runs, "stopped", "cancelled", 60.0)
    make_run(tmp_path / "elsewhere", "other-folder", "running", 10.0)  # another folder's queue

    assert {r.id for r in runs_ahead(second)} == {training.id, first.id}
    assert [queue_position(r) for r in (first, second, third)] == [2, 3, 4]

    write_json_atomic(training.path / "status.json", dict(training.status, state="finished"))
    assert runs_ahead(first) == [] and queue_position(first) == 1
    assert [queue_position(r) for r in (second, third)] == [2, 3]


def test_a_queued_run_appears_whole_and_never_over_another(tmp_path):
    """The folder appears with its config and its status at once (the Train page and the queue
    read both), and a second run of the same name is refused without touching the first."""
    config = resolve("stgram-ce", "tiny")
    mark_queued(tmp_path / "a", config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no staging folder left behind
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"config.json", "status.json"}
    before = (tmp_path / "a" / "status.json").read_text()
    with pytest.raises(FileExistsError, match="already exists"):
        mark_queued(tmp_path / "a", config)
    assert (tmp_path / "a" / "status.json").read_text() == before and len(list(tmp_path.iterdir())) == 1
