"""Training the sub-cluster AdaCos ensemble: its member networks one after the other, then its scores.

    train_ensemble(config, run_dir)           a fresh ensemble run (config.ensemble.subclusters set)
    train_ensemble(None, run_dir, resume=True) continue: finished members are kept, a stopped one
                                               resumes from its checkpoint, the rest start

asdcore.jobs.pipeline.train_run hands a config with ensemble.subclusters here, so the CLI
(`asdcore train subcluster-adacos-ensemble`), the queue and the Train page run ensembles as any
other recipe.  The members are ordinary run folders under <run>/members/ (asdcore.evaluation.
ensemble.member_dir), each trained by train_run with its snapshots; the ensemble folder's own
status.json follows the whole (member i of n, its epoch), its metrics.jsonl has every member's
epochs (with a "member" field: the number of sub-clusters) and train.log says which member is
training.  Cancelling stops the member in training; resuming continues from there.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from ..config import RunConfig
from ..evaluation.ensemble import evaluate_ensemble, member_config, member_dir
from ..runs import read_json, write_json_atomic
from ..runtime import CHECKPOINT, SELECTED
from ..training.loop import Cancelled, StatusWriter, append_log


def _member_finished(folder: Path) -> bool:
    state = (read_json(folder / "status.json", {}) or {}).get("state")
    return state == "finished" and (folder / SELECTED).exists()


def _start(config: RunConfig | None, run_dir: Path, resume: bool) -> RunConfig:
    """The ensemble's config: written to a fresh folder (which must not hold a run), or read back."""
    if resume:
        if not (run_dir / "config.json").exists():
            raise FileNotFoundError(f"{run_dir}: no ensemble run to resume (no config.json)")
        return RunConfig.from_dict(read_json(run_dir / "config.json"))
    if run_dir.exists() and any(p.name != "status.json" for p in run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} already holds a run: not overwriting it (use --resume to continue it, or "
                              f"choose another --run-dir)")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    return config


def train_ensemble(config: RunConfig | None, run_dir: str | os.PathLike, train_run, claim, resume: bool = False,
                   progress: bool = True, evaluate: bool = True) -> Path:
    """Train every member of an ensemble run (asdcore.evaluation.ensemble) into `run_dir`/members/,
    then evaluate the ensemble (evaluate=True).  train_run and claim are asdcore.jobs.pipeline's
    (passed in by it, so that this module does not import the pipeline that imports it)."""
    run_dir = Path(run_dir)
    held = claim(run_dir)
    status = StatusWriter(run_dir)
    try:
        config = _start(config, run_dir, resume)
        ks = list(config.ensemble.subclusters)
        epochs = config.train.epochs
        status.update(force=True, state="running", pid=os.getpid(), phase="loading", error=None,
                      created=status.state.get("created", time.time()), epochs=epochs * len(ks),
                      message=f"an ensemble of {len(ks)} networks ({', '.join(map(str, ks))} sub-clusters)")
        if not resume:
            append_log(run_dir, f"ensemble of {len(ks)} networks with {', '.join(map(str, ks))} sub-clusters, "
                                f"{epochs} epochs each, snapshots every {config.train.snapshot_every or epochs} "
                                f"epochs; the members' own logs: members/k*/train.log")
        for i, k in enumerate(ks):
            folder = member_dir(run_dir, k)
            if _member_finished(folder):
                continue
            append_log(run_dir, f"member {i + 1}/{len(ks)}: {k} sub-cluster(s)")

            def on_epoch(epoch, training, i=i, k=k, folder=folder):
                # the member's epoch row, copied with its member into the ensemble's own metrics
                rows = (folder / "metrics.jsonl").read_text().splitlines()
                row = {**json.loads(rows[-1]), "member": k, "epoch": i * epochs + epoch}
                with open(run_dir / "metrics.jsonl", "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                status.update(force=True, state="running", phase="training", epoch=i * epochs + epoch,
                              progress=round((i * epochs + epoch) / (len(ks) * epochs), 4),
                              message=f"member {i + 1}/{len(ks)} ({k} sub-clusters): epoch {epoch}/{epochs}")

            status.update(force=True, phase="training", message=f"member {i + 1}/{len(ks)} ({k} sub-clusters)")
            started = (folder / CHECKPOINT).exists() or (folder / "config.json").exists()
            train_run(None if started else member_config(config, k), folder, resume=started, progress=progress,
                      evaluate=False, on_epoch=on_epoch)
        if evaluate:
            status.update(force=True, phase="evaluating", message="scoring with every member", progress=1.0)
            evaluate_ensemble(run_dir, progress=progress, status=status)
        status.update(force=True, state="finished", phase="done", message="finished", progress=1.0)
        append_log(run_dir, "finished")
    except Cancelled:
        status.update(force=True, state="cancelled", phase="done", message="cancelled by the user")
        append_log(run_dir, "cancelled")
        raise
    except BaseException as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        status.update(force=True, state="failed", phase="done", error=text, message="failed")
        append_log(run_dir, "failed:\n" + traceback.format_exc())
        raise
    finally:
        os.close(held)
    return run_dir

