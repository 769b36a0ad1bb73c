"""Multi-process training with torchrun (DDP on the gloo backend, 2 CPU processes)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import torch

from asdcore.training.distributed import World, pieces

TRAIN = ["-m", "asdcore", "train", "--recipe", "stgram-arcmix", "--preset", "tiny", "--device", "cpu",
         "--no-eval", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, tmp_path):
    # one thread in every process: torchrun's default, and the only way sums come out bit-comparable
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_pieces_of_a_batch_cover_it_once_whatever_the_number_of_processes():
    batch = torch.arange(10).numpy()
    for world_size, micro in ((1, 1), (2, 1), (1, 2), (2, 2), (3, 1)):
        got = [p for r in range(world_size) for p in pieces(batch, World(r, world_size, r), micro)]
        assert sorted(n for n, _ in got) == list(range(world_size * micro))
        assert sorted(int(i) for _, idx in got for i in idx) == list(range(10))
    # two processes train what one process trains with two micro-batches, piece for piece
    assert [p.tolist() for _, p in pieces(batch, World(1, 2, 1), 1)] == [batch[1::2].tolist()]


def test_two_processes_under_torchrun_train_as_one_process_with_two_micro_batches(tiny_toy_root, tmp_path):
    data = ["--data", str(tiny_toy_root)]
    _run(["-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}", *TRAIN, *data,
          "--run-dir", str(tmp_path / "ddp")], tmp_path)
    _run([*TRAIN, *data, "--set", "train.micro_batches=2", "--run-dir", str(tmp_path / "one")], tmp_path)
    ddp, one = _metrics(tmp_path / "ddp"), _metrics(tmp_path / "one")
    assert len(ddp) == len(one) == 2  # rank 0 alone wrote the metrics: one row per epoch
    for a, b in zip(ddp, one):
        assert abs(a["train_loss"] - b["train_loss"]) <= 1e-5 * abs(b["train_loss"]), (a, b)
        assert a["train_acc"] == b["train_acc"]
    log = (tmp_path / "ddp" / "train.log").read_text()
    assert log.count("x 2 processes (DDP)") == 1 and log.count("finished") == 1
    # the same weights after the last step (parameters; BatchNorm's running statistics are each
    # process's own and rank 0's are kept)
    load = lambda run: torch.load(run / "checkpoint.pt", weights_only=True)["groups"]["all"]  # noqa: E731
    a, b = load(tmp_path / "ddp"), load(tmp_path / "one")
    for part in ("model", "loss"):
        for name, value in b[part].items():
            if "running" in name or "num_batches" in name:
                continue
            torch.testing.assert_close(a[part][name], value, rtol=1e-4, atol=1e-6, msg=f"{part}.{name}")


def test_torchrun_without_a_run_folder_is_refused(tiny_toy_root):
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0"}
    done = subprocess.run([sys.executable, *TRAIN, "--data", str(tiny_toy_root)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "--run-dir" in done.stderr
