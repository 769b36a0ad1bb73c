"""One run folder from queued to trained to evaluated: what the CLI, the launcher and the app call.

    train_run(config, run_dir)                start a run (writes config.json, status.json, metrics.jsonl)
    train_run(None, run_dir, resume=True)     continue a stopped run from its last checkpoint
    train_queued(run_dir)                     train a folder waiting in the queue (fresh or resumed)

Training (asdcore.training.loop.fit) and evaluation (asdcore.evaluation.evaluate.evaluate_run) are leaves that do not
import each other; this module runs one after the other and owns the run's lifecycle in
status.json: running -> finished, or failed (with the error), or cancelled (SIGTERM: the training
loop stops at the next batch and the run can be resumed).  It also writes timings.json (asdcore.timings):
where the process's time went, phase by phase, from its start to the end of the evaluation.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from pathlib import Path

from ..evaluation.evaluate import evaluate_run
from ..config import RunConfig
from ..runs import read_json
from ..timings import Timings
from ..training import distributed
from ..training.loop import Cancelled, StatusWriter, append_log, fit, load_run

__all__ = ["Cancelled", "RunInUse", "train_run", "train_queued"]

class RunInUse(FileExistsError):
    """Another live process trains this run folder; the message names its pid."""


def claim(run_dir: Path) -> int:
    """Hold the run folder for this process: an exclusive flock on the folder itself, kept until the
    returned descriptor is closed, so that two trainings never write one folder (a second
    `train --run-dir X`, or a `--resume` of a folder in training, is refused, whichever starts
    first).  The kernel drops the lock with its process, so a killed run can be resumed at once.
    No lock file is left in the folder."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = (read_json(run_dir / "status.json", {}) or {}).get("pid", "unknown")
        raise RunInUse(f"{run_dir} is being trained by another process (pid {holder}): not touching it (cancel "
                       "that run first, or choose another --run-dir)") from None
    return fd


def train_run(config: RunConfig | None, run_dir: str | os.PathLike, resume: bool = False, progress: bool = True,
              evaluate: bool = True, on_epoch=None) -> Path:
    """Train (and evaluate) one run in `run_dir`.  With resume=True, continue from checkpoint.pt
    (or from the start when it was stopped before its first checkpoint).  on_epoch: see loop.fit."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / "config.json", {}) if config is None else None
    if (config.ensemble.subclusters if config is not None else (saved or {}).get("ensemble", {}).get("subclusters")):
        from .ensemble import train_ensemble  # the sub-cluster AdaCos ensemble: its members, one after another

        return train_ensemble(config, run_dir, train_run, claim, resume=resume, progress=progress, evaluate=evaluate)
    timings = Timings()  # its clock starts with the process
    world = distributed.setup(config.device if config is not None else "auto")
    problem, held = None, None
    if world.is_main:
        try:
            held = claim(run_dir)
            config, ckpt = load_run(run_dir, resume, config)
        except Exception as exc:  # told to the other processes first, so none waits for ever
            problem = exc
            if held is not None:
                os.close(held)
    # the other processes start from the folder rank 0 has set up, or stop with its reason
    reason = distributed.broadcast_from_main(None if problem is None else str(problem), world)
    if problem is not None:
        raise problem
    if reason is not None:
        raise RuntimeError(f"rank 0 could not set up the run: {reason}")
    if not world.is_main:
        config, ckpt = load_run(run_dir, True, None) if resume else (config, None)
        evaluate = False  # rank 0 evaluates
    status = StatusWriter(run_dir, enabled=world.is_main)
    status.update(force=True, state="running", pid=os.getpid(), phase="loading", error=None,
                  created=status.state.get("created", time.time()), epochs=config.train.epochs,
                  message="loading the data set")
    cancelled = threading.Event()
    # SIGTERM (the app's Cancel) only raises the flag: the loop stops cleanly at the next batch
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: cancelled.set())
    # the process's start to here: the interpreter, the imports, the configuration, the checkpoint
    # read (in a process that did other work first, such as a test session, that work too)
    timings.add("startup", time.time() - timings.started)
    try:
        fit(config, run_dir, ckpt, status, cancelled, progress, world, on_epoch, timings)
        distributed.teardown(world)
        if world.is_main:
            timings.write(run_dir)
        if evaluate:
            status.update(force=True, phase="evaluating", message="scoring the test clips", progress=1.0)
            evaluate_run(run_dir, progress=progress, status=status, timings=timings)
            timings.write(run_dir)
        status.update(force=True, state="finished", phase="done", message="finished", progress=1.0)
        if world.is_main:
            append_log(run_dir, "finished")
    except Cancelled:
        status.update(force=True, state="cancelled", phase="done", message="cancelled by the user")
        if world.is_main:
            append_log(run_dir, "cancelled")
        raise
    except BaseException as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        status.update(force=True, state="failed", phase="done", error=text, message="failed")
        if world.is_main:
            append_log(run_dir, "failed:\n" + traceback.format_exc())
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        distributed.teardown(world)
        if held is not None:
            os.close(held)  # the folder is free again (for a --resume)
    return run_dir


def train_queued(run_dir: str | os.PathLike, progress: bool = False) -> Path:
    """Train a folder waiting in the queue (runs.mark_queued, or launcher.resume_training): from its
    last checkpoint when it has one (a resumed run), else from the start with its config.json."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a queued run folder (no config.json)")
    state = (read_json(run_dir / "status.json", {}) or {}).get("state")
    if state not in (None, "queued"):
        raise ValueError(f"{run_dir} is {state}, not queued")
    return train_run(None, run_dir, resume=True, progress=progress)
