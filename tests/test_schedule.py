"""The per-batch cosine schedule is sized by the batches an epoch really takes (the last partial
batch included), so it ends at eta_min on the last step instead of climbing back up, and the
progress the app shows never passes 100 %."""
from __future__ import annotations

import json

import pytest

from asdcore.jobs.pipeline import train_run
from asdcore.recipes import resolve


@pytest.mark.parametrize("batch_size", [16, 24])  # both leave a last partial batch of the tiny set
def test_the_cosine_schedule_ends_at_eta_min_on_the_last_step(tiny_toy_root, tmp_path, monkeypatch, batch_size):
    config = resolve("stgram-ce", "tiny", {"data.roots": [str(tiny_toy_root)], "device": "cpu", "train.epochs": 3,
                                           "train.batch_size": batch_size, "train.schedule": "cosine"})
    progress = []
    from asdcore.training import loop

    update = loop.StatusWriter.update

    def record(self, force=False, **fields):
        if "progress" in fields:
            progress.append(fields["progress"])
        return update(self, force=force, **fields)

    monkeypatch.setattr(loop.StatusWriter, "update", record)
    train_run(config, tmp_path / "run", progress=False, evaluate=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    eta_min = config.train.eta_min_ratio * config.train.lr
    assert rows[-1]["lr"] == pytest.approx(eta_min, rel=1e-6)
    assert rows[0]["lr"] > rows[1]["lr"] > rows[2]["lr"]  # decreasing all the way, no climb back
    assert max(progress) == pytest.approx(1.0) and all(0 <= p <= 1.0 for p in progress)
