"""`make gpu-check`: what only a CUDA machine can check, in at most 10 minutes, recorded as pass/fail.

    .venv/bin/python scripts/gpu_check.py [--out bench] [--only cuda-tests,bf16-step,...]

Items, each with its own time limit (the limits add up to under 10 minutes; an item that fails,
raises or runs past its limit is recorded as fail with its error, and the next one still runs):
  cuda-tests   the tests that skip without CUDA (tests/test_models.py's cuda case, tests/test_features.py's
               test_cuda_equals_cpu), through `python -m pytest`: passed / failed counts
  bf16-step    training steps of TASTgram-MFN (Noisy-ArcMix, the paper preset's settings: 10 s clips,
               batch 64, channels-last) on a random batch under the loop's bf16 autocast
               (asdcore.runtime.autocast): the forward's dtype, the loss, clips/s, peak GPU memory
  compile      the same model torch.compile'd: one compiled forward + backward (the build's seconds), then
               a second step's
  ddp-nccl     torchrun over the visible GPUs (one process each, NCCL) training stgram-arcmix's tiny preset
               on a tiny toy set (`asdcore data toy --preset tiny`), and an NCCL all-reduce in one process
  paper-epoch  one epoch of tastgram-noisy-arcmix's paper preset on 10 s clips: data/scale-5k when it is
               there (`make data-bench`), else a smaller set of the same 41 IDs made for the check; the
               training clips are capped per class (data.max_train_clips_per_class) to fit the limit;
               clips/s and peak GPU memory (torch.cuda.max_memory_allocated)
  bench        scripts/bench.py's figures (a) and (b) with one timed step (`--only a,b --steps 1`): skipped
               when data/toy, data/toy-domain or data/scale-5k is missing (`make bench` makes them)

Writes <out>/gpu-<host>-<yyyymmdd-hhmm>.json (every item's status, seconds, figures or error) and
prints one line per item.  Without CUDA it prints one line and exits 0, writing nothing, so CI can
run it anywhere.  Exits 1 when an item failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
NO_CUDA = "no CUDA device: gpu-check has nothing to check on this machine"
TOTAL_S = 570.0  # the whole check, under 10 minutes with the start and the record
GRACE_S = 10.0  # what an item's own clean-up (killing its child) may take past its limit
RECIPE = "tastgram-noisy-arcmix"
N_CLASSES = 41  # dcase-scale's and scale-5k's classes
PAPER_CLIPS_PER_CLASS = 24  # the paper-epoch item's cap: 41 x 24 = 984 training clips of 10 s


class Skipped(Exception):
    """An item with nothing to check here (its data is missing): recorded as skip, not fail."""


@dataclass(frozen=True)
class Item:
    name: str
    limit_s: float
    run: Callable[[float], dict]  # run(limit_s) -> figures; raises on failure
    what: str = ""


# --- the runner and the record (no GPU needed: tests/test_gpu_check.py) -------------------------

def run_item(item: Item, limit_s: float | None = None, grace_s: float = GRACE_S) -> dict:
    """Run one item in a thread, at most limit_s (+ grace_s for its own clean-up): its record,
    {"name", "what", "status": "pass" | "fail" | "skip", "seconds", "limit_s", "figures" | "error"}.
    An item still running after that is recorded as fail and left behind (a daemon thread; the items
    that start processes kill them at their limit themselves)."""
    limit_s = item.limit_s if limit_s is None else limit_s
    box: dict = {}

    def target():
        try:
            box["figures"] = item.run(limit_s) or {}
        except Skipped as exc:
            box["skip"] = str(exc)
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded, the next item still runs
            box["error"] = f"{type(exc).__name__}: {exc}".strip()
            box["traceback"] = traceback.format_exc(limit=-3)

    record = {"name": item.name, "what": item.what, "limit_s": round(limit_s, 1)}
    t0 = time.perf_counter()
    thread = threading.Thread(target=target, name=f"gpu-check {item.name}", daemon=True)
    thread.start()
    thread.join(limit_s + grace_s)
    record["seconds"] = round(time.perf_counter() - t0, 1)
    if thread.is_alive():
        record.update(status="fail", error=f"timed out: still running after its limit of {limit_s:g} s")
    elif "skip" in box:
        record.update(status="skip", reason=box["skip"])
    elif "error" in box:
        record.update(status="fail", error=box["error"], traceback=box["traceback"])
    else:
        record.update(status="pass", figures=box["figures"])
    return record


def run_items(items: list[Item], total_s: float = TOTAL_S, grace_s: float = GRACE_S,
              report: Callable[[dict], None] | None = None) -> list[dict]:
    """Every item in turn, each within its limit and within what is left of total_s; an item with
    under 5 s left is recorded as fail, not run."""
    deadline = time.monotonic() + total_s
    records = []
    for item in items:
        left = deadline - time.monotonic() - grace_s
        if left < 5:
            record = {"name": item.name, "what": item.what, "limit_s": 0, "seconds": 0, "status": "fail",
                      "error": f"not run: the check's {total_s:g} s were spent"}
        else:
            record = run_item(item, min(item.limit_s, left), grace_s)
        records.append(record)
        if report:
            report(record)
    return records


def summary(records: list[dict]) -> dict:
    return {status: sum(r["status"] == status for r in records) for status in ("pass", "fail", "skip")}


def record_path(out: Path, host: str, when: dt.datetime) -> Path:
    """<out>/gpu-<host>-<yyyymmdd-hhmm>.json: host and minute, so a later check never overwrites one."""
    return Path(out) / f"gpu-{host}-{when.strftime('%Y%m%d-%H%M')}.json"


def write_record(records: list[dict], out: Path, hardware: dict, when: dt.datetime, host: str | None = None,
                 total_seconds: float | None = None) -> Path:
    host = host or socket.gethostname()
    path = record_path(out, host, when)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"kind": "asdcore gpu-check", "date": when.isoformat(timespec="seconds"), "host": host,
           "hardware": hardware, "summary": summary(records), "total_seconds": total_seconds, "items": records}
    path.write_text(json.dumps(doc, indent=2))
    return path


def line(record: dict) -> str:
    """One line per item for the console."""
    head = f"{record['status']:4}  {record['name']:<12} {record['seconds']:6.1f} s"
    if record["status"] == "pass":
        figures = ", ".join(f"{k} {v}" for k, v in record["figures"].items() if not isinstance(v, (dict, list)))
        return f"{head}  {figures}"
    return f"{head}  {record.get('error') or record.get('reason')}"


# --- child processes --------------------------------------------------------------------------

def run_command(cmd: list[str], limit_s: float, env: dict | None = None, cwd: Path = ROOT) -> str:
    """Run a command in its own process group, killed (with its children: torchrun's workers) at
    limit_s; its output (stdout and stderr together).  Raises with the output's end when it fails."""
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise TimeoutError(f"timed out after {limit_s:.0f} s: {' '.join(cmd[:6])} ...; output's end: "
                           f"{(out or '')[-1500:]}") from None
    if proc.returncode:
        raise RuntimeError(f"exit status {proc.returncode}: {' '.join(cmd[:6])} ...; output's end: {out[-1500:]}")
    return out


def child_item(name: str, limit_s: float, *args: str) -> dict:
    """Run `gpu_check.py --item name` in its own process (a fresh CUDA context, its own peak memory)
    and return the figures it writes."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        result = Path(tmp) / "figures.json"
        run_command([sys.executable, str(Path(__file__).resolve()), "--item", name, "--json", str(result), *args],
                    limit_s)
        return json.loads(result.read_text())


# --- the items --------------------------------------------------------------------------------

def cuda_tests(limit_s: float) -> dict:
    out = run_command([sys.executable, "-m", "pytest", "tests/test_models.py", "tests/test_features.py", "-k", "cuda",
                       "-q", "-p", "no:cacheprovider"], limit_s)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", out.splitlines()[-1])}
    if not counts.get("passed") or counts.get("failed") or counts.get("error") or counts.get("errors"):
        raise RuntimeError(f"CUDA tests: {out.splitlines()[-1]}")
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0), "skipped": counts.get("skipped", 0),
            "summary": out.splitlines()[-1].strip("= ")}


def train_steps(compiled: bool, n_steps: int = 5, batch_size: int = 64, device: str = "cuda") -> dict:
    """TASTgram-MFN + Noisy-ArcMix's loss, paper preset (10 s clips, channels-last, bf16 autocast), on a
    random batch: n_steps optimiser steps; compiled: torch.compile'd first (its first step is the build)."""
    import numpy as np
    import torch

    from asdcore.features import LogMel
    from asdcore.registry import create_loss
    from asdcore.recipes import resolve
    from asdcore.runtime import autocast, build_model, feature_config, float_output

    device = torch.device(device)
    cuda = device.type == "cuda"  # (the CPU is for trying this function out, never the check)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    config = resolve(RECIPE, "paper", {"device": device.type, "train.compile": False})
    torch.manual_seed(0)
    model = build_model(config, N_CLASSES).to(device)
    forward = torch.compile(model) if compiled else model
    loss_fn = create_loss(config.loss.to_dict()).to(device)
    opt = torch.optim.AdamW(list(model.parameters()) + list(loss_fn.parameters()), lr=config.train.lr)
    front = LogMel(feature_config(config)).to(device)
    samples = int(config.data.clip_seconds * feature_config(config).sample_rate)
    wave = 0.1 * torch.randn(batch_size, samples, device=device)
    y = torch.randint(0, N_CLASSES, (batch_size,), device=device)
    lam = torch.ones(batch_size, device=device)
    model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, losses, dtype = [], [], None
    for _ in range(n_steps):
        sync()
        t = time.perf_counter()
        with torch.no_grad():
            mel = front(wave)
        with autocast(device, config):
            out = forward(wave, mel)
            dtype = str(out.embedding.dtype)  # before float_output: the autocast forward's own
            loss = loss_fn.from_output(float_output(out), y, y, lam)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t)
        losses.append(float(loss.detach()))
    if not all(np.isfinite(losses)):
        raise RuntimeError(f"loss not finite: {losses}")
    if cuda and config.train.amp == "bf16" and dtype != "torch.bfloat16":
        raise RuntimeError(f"the forward under bf16 autocast gave {dtype}, not torch.bfloat16")
    steady = float(np.median(times[1:])) if len(times) > 1 else times[0]
    return {"batch": batch_size, "clip_seconds": config.data.clip_seconds, "amp": config.train.amp,
            "forward_dtype": dtype, "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
            "first_step_s": round(times[0], 2), "step_s": round(steady, 3),
            "clips_per_s": round(batch_size / steady, 1),
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}


def nccl_all_reduce() -> dict:
    """An NCCL process group of one process: an all-reduce on the GPU (torchrun over one GPU starts no group)."""
    import torch
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        x = torch.ones(4, device="cuda")
        dist.all_reduce(x)
        ok = bool((x == 1).all())
    finally:
        dist.destroy_process_group()
    if not ok:
        raise RuntimeError("NCCL all-reduce gave a wrong sum")
    version = torch.cuda.nccl.version()
    return {"nccl_version": ".".join(map(str, version)) if isinstance(version, tuple) else str(version),
            "all_reduce": "ok"}


def ddp_nccl(limit_s: float) -> dict:
    import torch

    t0 = time.perf_counter()
    n_gpus = torch.cuda.device_count()
    with tempfile.TemporaryDirectory(prefix="gpu-check-ddp-") as tmp:
        data, run = Path(tmp) / "toy", Path(tmp) / "run"
        run_command([sys.executable, "-m", "asdcore", "data", "toy", "--out", str(data), "--preset", "tiny",
                     "--seed", "0", "--workers", str(min(8, os.cpu_count() or 1))], limit_s)
        made_s = time.perf_counter() - t0
        left = limit_s - made_s
        figures = child_item("nccl", max(left / 3, 10))
        left = limit_s - (time.perf_counter() - t0)
        run_command([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_gpus}",
                     "-m", "asdcore", "train", "--recipe", "stgram-arcmix", "--preset", "tiny", "--device", "cuda",
                     "--no-eval", "--quiet", "--data", str(data), "--run-dir", str(run)], left)
        log = (run / "train.log").read_text()
        epochs = len((run / "metrics.jsonl").read_text().splitlines())
        if n_gpus > 1 and f"x {n_gpus} processes (DDP)" not in log:
            raise RuntimeError(f"torchrun over {n_gpus} GPUs, but the training log names no DDP run: {log[-800:]}")
        if "finished" not in log or not epochs:
            raise RuntimeError(f"the DDP run did not finish: {log[-800:]}")
    return {"gpus": n_gpus, "processes": n_gpus, "ddp": n_gpus > 1, "epochs": epochs,
            "toy_data_s": round(made_s, 1), **figures,
            **({} if n_gpus > 1 else {"note": "one GPU: torchrun ran one process (no DDP group); "
                                              "NCCL checked by the one-process all-reduce"})}


def paper_epoch(limit_s: float) -> dict:
    return child_item("paper", limit_s)


def paper_epoch_here(clips_per_class: int = PAPER_CLIPS_PER_CLASS, device: str = "cuda", **settings) -> dict:
    """One epoch of the paper preset (in this process, for its peak GPU memory).  device and settings
    are for trying this function out on a CPU; the check runs it as it is."""
    figures = {}
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-paper-"))
    try:
        return _paper_epoch(tmp, figures, clips_per_class, device, settings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _paper_epoch(tmp: Path, figures: dict, clips_per_class: int, device: str, settings: dict) -> dict:
    import dataclasses

    import torch

    from asdcore.data.toy import PRESETS, generate, read_manifest
    from asdcore.jobs.pipeline import train_run
    from asdcore.recipes import resolve
    from asdcore.runtime import prepare_splits

    os.environ["ASD_CACHE"] = str(tmp / "audio-cache")  # a cold cache of its own, removed with the rest
    data = ROOT / "data" / "scale-5k"
    manifest = read_manifest(data) if data.is_dir() else None
    if manifest and manifest.get("complete"):
        figures["data"] = "data/scale-5k"
    else:
        # scale-5k's 41 IDs and 10 s clips, fewer of them: made in the check's time
        name = "gpu-check-10s"
        PRESETS[name] = dataclasses.replace(PRESETS["scale-5k"], name=name, train_per_id=clips_per_class,
                                            test_normal_per_id=1, test_anomaly_per_id=1)
        t = time.perf_counter()
        data = generate(tmp / "data", preset=name, seed=0, workers=min(16, os.cpu_count() or 1), progress=False)
        figures.update(data=f"made for the check: scale-5k's IDs, {clips_per_class} training clips each "
                            "(data/scale-5k missing)", data_made_s=round(time.perf_counter() - t, 1))
    cuda = device == "cuda"
    config = resolve(RECIPE, "paper", {"data.roots": [str(data)], "device": device, "train.epochs": 1,
                                       "data.max_train_clips_per_class": clips_per_class,
                                       "data.max_test_clips_per_class": 2, "eval.umap": False, **settings})
    n_train = len(prepare_splits(config).train)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    train_run(config, tmp / "run", progress=False, evaluate=False)
    wall = time.perf_counter() - t
    rows = [json.loads(r) for r in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]
    epoch_s = float(rows[-1]["seconds"])
    figures.update(recipe=RECIPE, preset="paper", clip_seconds=config.data.clip_seconds,
                   batch=config.train.batch_size, compile=config.train.compile, amp=config.train.amp,
                   capped=f"data.max_train_clips_per_class={clips_per_class}", training_clips=n_train,
                   epoch_s=round(epoch_s, 1), run_s=round(wall, 1), clips_per_s=round(n_train / epoch_s, 1),
                   peak_gpu_memory_gb=round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
                   note="one epoch: its seconds include torch.compile's build and the audio cache's first reads")
    return figures


def bench(limit_s: float) -> dict:
    missing = [p for p in ("data/toy", "data/toy-domain", "data/scale-5k") if not (ROOT / p).is_dir()]
    if missing:
        raise Skipped(f"scripts/bench.py needs {', '.join(missing)} (make bench makes them)")
    with tempfile.TemporaryDirectory(prefix="gpu-check-bench-") as tmp:
        try:
            run_command([sys.executable, "scripts/bench.py", "--only", "a,b", "--steps", "1", "--out", tmp], limit_s)
            png = "drawn"
        except RuntimeError as exc:  # the JSON is written before the PNG, which needs Chromium
            if not list(Path(tmp).glob("bench-*.json")):
                raise
            png = f"not drawn ({str(exc)[:200]})"
        figures = json.loads(next(Path(tmp).glob("bench-*.json")).read_text())
    return {"reduced": "--only a,b --steps 1", "png": png, "a": figures.get("a"), "b": figures.get("b")}


ITEMS = [
    Item("cuda-tests", 60, cuda_tests, "the tests that skip without CUDA, through python -m pytest"),
    Item("bf16-step", 45, lambda s: child_item("bf16", s), "TASTgram-MFN training steps under bf16 autocast"),
    Item("compile", 90, lambda s: child_item("compile", s), "one torch.compile'd forward + backward on the GPU"),
    Item("ddp-nccl", 90, ddp_nccl, "torchrun over the visible GPUs (NCCL) on the tiny toy set"),
    Item("paper-epoch", 150, paper_epoch, "one epoch of the paper preset on 10 s clips"),
    Item("bench", 120, bench, "scripts/bench.py's (a) and (b), reduced"),
]
CHILD_ITEMS = {"bf16": lambda: train_steps(compiled=False), "compile": lambda: train_steps(compiled=True, n_steps=2),
               "nccl": nccl_all_reduce, "paper": paper_epoch_here}


def hardware() -> dict:
    import torch

    return {"gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            "cuda": torch.version.cuda, "torch": torch.__version__, "python": platform.python_version(),
            "cores": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench"), help="folder for the JSON record")
    parser.add_argument("--only", help="which items, comma-separated: " + ",".join(i.name for i in ITEMS))
    parser.add_argument("--item", choices=sorted(CHILD_ITEMS), help=argparse.SUPPRESS)  # a child's work
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    if args.item:
        Path(args.json).write_text(json.dumps(CHILD_ITEMS[args.item]()))
        return 0
    items = ITEMS
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {i.name for i in ITEMS}
        if unknown:
            parser.error(f"unknown item(s): {', '.join(sorted(unknown))}")
        items = [i for i in ITEMS if i.name in wanted]
    when = dt.datetime.now()
    hw = hardware()
    print(f"gpu-check: {', '.join(hw['gpus'])}; torch {hw['torch']}, CUDA {hw['cuda']}", flush=True)
    t0 = time.perf_counter()
    records = run_items(items, report=lambda r: print(line(r), flush=True))
    path = write_record(records, Path(args.out), hw, when, total_seconds=round(time.perf_counter() - t0, 1))
    s = summary(records)
    print(f"gpu-check: {s['pass']} pass, {s['fail']} fail, {s['skip']} skip in {time.perf_counter() - t0:.0f} s; "
          f"record in {path}")
    return 1 if s["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
