"""The training loop: one run folder in, a trained model out (asdcore.jobs.pipeline runs it, then the
evaluation, and keeps status.json; this module never imports the evaluation).

    config, ckpt = load_run(run_dir, resume, config)   a fresh run's folder, or what to resume from
    prepare_training(config)   the splits, waveforms, labels, model groups and front end fit starts from
    fit(config, run_dir, ckpt, status, cancelled, progress)   train; writes metrics.jsonl, checkpoints

- Device: "auto" takes CUDA when present, else the CPU.  On CUDA the forward pass runs under
  bf16 autocast; features and losses stay in float32.
- Features are computed in batches on the device from the waveforms (asdcore.features).
- Mixup in the waveform domain (or the reference codes' separate waveform / log-mel mixing).
- AdamW (or Adam); a cosine schedule stepped per batch, or per epoch as the Noisy-ArcMix code
  does (recipes.SCHEDULES); optional EMA of the weights
  (torch.optim.swa_utils.AveragedModel, as OS-SCL uses); the EMA weights are what is
  validated and evaluated when it is on.
- Seeded: the weights from `seed`; each epoch's shuffling and mixup from (seed, epoch), so a
  resumed run draws the same batches as an uninterrupted one.
- Validation: a held-out fraction of the training normals (per class, or of all clips at random
  as the Noisy-ArcMix code does); the selected weights
  (model.pt) are those of the epoch with the lowest validation loss, or the last.  Model
  selection never looks at a test clip.
- checkpoint.pt holds weights, optimiser, scheduler, EMA, epoch and the resolved config; it is
  written to a temporary file and renamed, and loads with torch.load(weights_only=True).
- A model with a second, attribute head (the sub-cluster AdaCos system) trains on (N, 2) labels:
  the class (section) and the attribute class (runtime.attribute_classes) of each clip.
- The autoencoder recipe trains one model per machine type (as the DCASE baseline does): each
  is a "group" with its own optimiser; classifiers have a single group over all classes.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ..allocator import keep_freed_memory
from ..config import RunConfig
from . import distributed
from .distributed import SINGLE, World
from ..data.classes import describe_classes
from ..features import LogMel
from ..models.subcluster_resnet import logmel_statistics
from .mixup import mixup_logmel_or_fmix, mixup_waveform, mixup_waveform_and_logmel
from ..registry import create_loss
from ..runs import read_json, write_json_atomic
from ..timings import Timings
from ..runtime import (CHECKPOINT, SELECTED, SNAPSHOTS, Splits, Waveforms, attribute_classes, attribute_labels, autocast,
                       build_model, check_segments, device_description, feature_config, float_output, group_names,
                       load_checkpoint, pick_device, prepare_splits, random_segment, segment_output)


class Cancelled(Exception):
    pass


# --- model groups -------------------------------------------------------------------------------

def ema_with_warmup(decay: float):
    """AveragedModel's multi_avg_fn for an EMA whose decay grows with the updates it has made:
    ema <- d ema + (1 - d) w with d = min(decay, (1 + t) / (10 + t)) after t updates.  The first
    update copies the weights (AveragedModel does that itself when t = 0)."""
    @torch.no_grad()
    def update(ema_params, params, num_averaged):
        t = int(num_averaged)
        d = min(decay, (1 + t) / (10 + t))
        torch._foreach_lerp_(ema_params, params, 1 - d)
    return update


@dataclass
class Group:
    """One model with its optimiser: all classes (classifiers) or one machine type (autoencoder)."""
    name: str
    model: torch.nn.Module
    loss: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ema: AveragedModel | None
    train_index: np.ndarray  # positions in the Waveforms of the training clips
    val_index: np.ndarray
    step: torch.nn.Module  # the model and its loss as one module (TrainStep), in DDP under torchrun

    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model


class TrainStep(torch.nn.Module):
    """The forward pass and the loss of a training step as one module: what DDP wraps, so the
    gradients of the model and of the loss's own parameters (class centres) are averaged alike."""

    def __init__(self, model: torch.nn.Module, loss: torch.nn.Module, device: torch.device, config: RunConfig):
        super().__init__()
        self.model, self.loss = model, loss
        self.device, self.config = device, config

    def forward(self, wave, mel, y, y_b=None, lam=None):
        with autocast(self.device, self.config):
            out = self.model(wave, mel)
        out = float_output(out)
        cosine = out.cosine.detach() if out.cosine is not None else None
        return self.loss.from_output(out, y, y_b, lam), cosine


def build_groups(config: RunConfig, splits: Splits, device: torch.device, steps_per_epoch: dict,
                 world: World = SINGLE) -> list[Group]:
    t = config.train
    groups = []
    n_attributes = len(attribute_classes(config, splits))
    for name in group_names(config, splits):
        model = build_model(config, len(splits.classes), n_attributes).to(device)
        check_segments(config, model)
        loss = create_loss(config.loss.to_dict()).to(device)
        params = list(model.parameters()) + list(loss.parameters())
        # config.validate() has checked the names: adamw or adam; cosine, cosine_epoch or constant
        optimizer_class = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(params, lr=t.lr, weight_decay=t.weight_decay)
        eta_min = t.eta_min_ratio * t.lr
        if t.schedule == "cosine":  # per batch, over the whole run
            total_steps = max(1, t.epochs * steps_per_epoch[name])
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=eta_min)
        elif t.schedule == "cosine_epoch":  # the Noisy-ArcMix code: stepped once per epoch
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs, eta_min=eta_min)
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        ema = None
        if t.ema_decay:
            # parameters only: the EMA's BatchNorm statistics are recomputed for its own weights
            # each epoch (refresh_batchnorm); averaged statistics of drifting weights do not fit
            # the averaged weights, and early in training the EMA model then collapses to one class
            average = ema_with_warmup(t.ema_decay) if t.ema_warmup else get_ema_multi_avg_fn(t.ema_decay)
            ema = AveragedModel(model, multi_avg_fn=average, use_buffers=False)
        if t.compile:
            # compiled in place (nn.Module.compile): the same weights and state_dict keys; the first
            # steps in train and in eval mode pay the compilation (about a minute on a 2-core CPU).
            # After the EMA's copy is made: a copy of a compiled module would call the original's forward
            model.compile()
        train_index, val_index = group_index(splits.train, name), group_index(splits.val, name)
        step = distributed.wrap(TrainStep(model, loss, device, config), world, device)
        groups.append(Group(name, model, loss, optimizer, scheduler, ema, train_index, val_index, step))
    return groups


def group_index(records, name: str) -> np.ndarray:
    """Positions of a group's clips in `records`: all of them, or one machine type's (the
    autoencoder trains a model per type)."""
    return np.array([i for i, r in enumerate(records) if name == "all" or r.machine_type == name], dtype=np.int64)


def fit_input_standardisation(groups: list[Group], waves: Waveforms, front: LogMel, batch_size: int,
                              device: torch.device) -> None:
    """Models that standardise their input by the training set's temporal mean and std (the
    sub-cluster AdaCos system's ResNet) get them from their group's training clips, one pass of
    the front end before the first step."""
    for g in groups:
        if not hasattr(g.model, "fit_standardisation") or len(g.train_index) == 0:
            continue
        with torch.no_grad():
            batches = (front(waves.batch(torch.from_numpy(g.train_index[i:i + batch_size])).to(device))
                       for i in range(0, len(g.train_index), batch_size))
            g.model.fit_standardisation(*[t.to(device) for t in logmel_statistics(batches)])
            if g.ema is not None:  # the averaged model standardises as the trained one does
                g.ema.module.fit_standardisation(g.model.input_mean, g.model.input_std)


# --- status -------------------------------------------------------------------------------------

class StatusWriter:
    """status.json, rewritten atomically, at most every `interval` seconds unless forced."""

    def __init__(self, run_dir: Path, interval: float = 1.0, enabled: bool = True):
        self.path = run_dir / "status.json"
        self.interval = interval
        self.last = 0.0
        self.enabled = enabled  # False on the processes other than rank 0: they write nothing
        self.state = read_json(self.path, {}) or {}

    def update(self, force: bool = False, **fields) -> None:
        self.state.update(fields)
        now = time.time()
        if self.enabled and (force or now - self.last >= self.interval):
            self.state["updated"] = now
            write_json_atomic(self.path, self.state)
            self.last = now


def append_log(run_dir: Path, text: str) -> None:
    with open(run_dir / "train.log", "a") as fh:
        fh.write(text.rstrip("\n") + "\n")


# --- one epoch ----------------------------------------------------------------------------------

def train_epoch(group: Group, waves: Waveforms, labels: torch.Tensor, front: LogMel, config: RunConfig,
                device: torch.device, generator: torch.Generator, on_batch, epoch: int = 1,
                world: World = SINGLE) -> dict:
    """One pass over the group's training clips; returns mean loss and accuracy (over every process).

    Each global batch is cut into pieces (asdcore.training.distributed): this process trains on its
    own, one after the other, accumulating their gradients; DDP averages them over the processes;
    then one optimiser step."""
    group.model.train()
    group.loss.train()
    micro = config.train.micro_batches
    n_pieces = world.world_size * micro
    batches = epoch_batches(group.train_index, waves, config, generator, world)
    total_loss, total_correct, total_seen = 0.0, 0, 0
    read_seconds = 0.0  # of the step's time, reading the clips (timings.json's train.read_clips)
    for b, batch in enumerate(batches):
        group.optimizer.zero_grad(set_to_none=True)
        mine = distributed.pieces(batch, world, micro)
        for j, (p, index) in enumerate(mine):
            piece_gen = distributed.piece_generator(generator, int(config.seed), epoch, b, p, n_pieces)
            t_read = time.perf_counter()
            clips = waves.batch(torch.from_numpy(index)).to(device, non_blocking=True)
            read_seconds += time.perf_counter() - t_read
            wave, mel, y, y_b, lam = training_input(clips, labels[index].to(device), front, config, piece_gen)
            # DDP reduces the gradients after the last piece only (no_sync before it)
            last = j == len(mine) - 1
            with (group.step.no_sync() if world.active and not last else contextlib.nullcontext()):
                loss, cosine = group.step(wave, mel, y, y_b, lam)
                if not torch.isfinite(loss):
                    raise FloatingPointError(nonfinite_loss_message(loss, epoch, b, len(batches), clips, index, waves))
                (loss / micro).backward()  # the mean over this process's pieces
            n = len(index)
            total_loss += loss.item() * n
            total_seen += n
            if cosine is not None:
                total_correct += int((cosine.argmax(1) == class_labels(y)).sum())
        group.optimizer.step()
        if config.train.schedule != "cosine_epoch":
            group.scheduler.step()
        if group.ema is not None:
            group.ema.update_parameters(group.model)
        on_batch(b + 1, len(batches))
    total_loss, total_correct, total_seen = distributed.sum_over_processes(
        [total_loss, total_correct, total_seen], world, device)
    return {"train_loss": total_loss / max(total_seen, 1),
            "train_acc": total_correct / total_seen if total_seen and group.model.kind == "classifier" else None,
            "read_seconds": read_seconds}


def epoch_batches(index: np.ndarray, waves: Waveforms, config: RunConfig, generator: torch.Generator,
                  world: World = SINGLE) -> list[np.ndarray]:
    """One epoch's global batches of the clips `index`: shuffled, cut into train.batch_size, the last
    partial batch kept when every piece of it gets two clips (BatchNorm cannot train on one); or,
    with train.batch_mixing, domain_mixed_batches."""
    bs = config.train.batch_size
    if config.train.batch_mixing:
        return domain_mixed_batches(index, waves.domains(), bs, generator)
    n_pieces = world.world_size * config.train.micro_batches
    order = index[torch.randperm(len(index), generator=generator).numpy()]
    return [order[i:i + bs] for i in range(0, len(order), bs) if len(order[i:i + bs]) >= 2 * n_pieces]


def batches_per_epoch(index: np.ndarray, waves: Waveforms, config: RunConfig, world: World = SINGLE) -> int:
    """How many optimiser steps an epoch of `index` takes (epoch_batches' count: it does not depend
    on the shuffle).  The per-batch cosine schedule is sized by it, so it ends at eta_min on the
    last step, and the progress counts by it."""
    return max(1, len(epoch_batches(index, waves, config, torch.Generator().manual_seed(0), world)))


def nonfinite_loss_message(loss: torch.Tensor, epoch: int, batch: int, n_batches: int, clips: torch.Tensor,
                           index: np.ndarray, waves: Waveforms) -> str:
    """Why the run stops: where the loss stopped being finite, and the likely cause: clips of the
    batch that hold NaN or infinite samples (named), else the training itself (diverged)."""
    where = f"the loss became {loss.item()} in epoch {epoch}, batch {batch + 1} of {n_batches}"
    bad = [waves.records[int(i)].path for i, row in zip(index, clips) if not torch.isfinite(row).all()]
    if bad:
        return (f"{where}: {len(bad)} clip(s) of that batch hold NaN or infinite samples: {', '.join(bad[:5])}"
                + (" ..." if len(bad) > 5 else "") + ". Remove or repair them (`python -m asdcore data check "
                "ROOT` lists every such file), then start the run again")
    return (f"{where}, with every clip of the batch finite: the training diverged (try a lower train.lr, or "
            f"--resume from the last checkpoint)")


def training_input(wave: torch.Tensor, y: torch.Tensor, front: LogMel, config: RunConfig,
                   generator: torch.Generator):
    """(waveform, log-mel, labels, mixup partners' labels, lam) of a piece: its log-mel, mixed as
    the recipe mixes (partners from within the piece), cut to one segment where the recipe says."""
    mix = config.mixup
    y_b, lam = None, None
    with torch.no_grad():
        if mix.mode == "waveform":
            wave, y, y_b, lam = mixup_waveform(wave, y, generator, mix.alpha, mix.per_sample)
            mel = front(wave)
        elif mix.mode == "waveform_and_logmel":
            mel = front(wave)
            wave, mel, y, y_b, lam = mixup_waveform_and_logmel(wave, mel, y, generator, mix.alpha, mix.per_sample)
        elif mix.mode == "logmel_or_fmix":  # the segment first: FMix's lam is the share of its bins
            mel = random_segment(front(wave), config.data.segment_frames, generator)
            wave, mel, y, y_b, lam = mixup_logmel_or_fmix(wave, mel, y, generator, mix.alpha, mix.fmix_decay)
        else:
            mel = front(wave)
        mel = random_segment(mel, config.data.segment_frames, generator)  # JLESS: one 64-frame stretch
    return wave, mel, y, y_b, lam


def domain_mixed_batches(index: np.ndarray, domains: np.ndarray, batch_size: int,
                         generator: torch.Generator) -> list[np.ndarray]:
    """Batches that each hold source and target clips (the JLESS system's batch mixing).

    As many batches as plain shuffling gives; each takes n_t = max(1, round(B * share)) target
    clips, share = the target clips' share of the training set, and B - n_t source clips.  Both
    lists are walked in a shuffled order and reshuffled when used up, so the few target clips are
    seen again and again.  Without clips of one domain: plain shuffled batches."""
    target = index[domains[index] == "target"]
    source = index[domains[index] != "target"]
    if len(target) == 0 or len(source) == 0:
        order = index[torch.randperm(len(index), generator=generator).numpy()]
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size) if len(order[i:i + batch_size]) > 1]
    n_target = min(batch_size - 1, max(1, round(batch_size * len(target) / len(index))))
    n_batches = max(1, len(index) // batch_size)

    def endless(clips: np.ndarray):
        while True:
            yield from clips[torch.randperm(len(clips), generator=generator).numpy()]

    targets, sources = endless(target), endless(source)
    return [np.array([next(targets) for _ in range(n_target)] + [next(sources) for _ in range(batch_size - n_target)])
            for _ in range(n_batches)]


def class_labels(y: torch.Tensor) -> torch.Tensor:
    """The class (section) column of (B, 2) labels (class, attribute class); (B,) as they are."""
    return y[:, 0] if y.dim() == 2 else y


def training_labels(records, config: RunConfig, splits: Splits) -> torch.Tensor:
    """(N,) class indices, or (N, 2) class and attribute class where the model has an attribute head."""
    classes = torch.tensor([r.class_index for r in records], dtype=torch.int64)
    attributes = attribute_classes(config, splits)
    if not attributes:
        return classes
    return torch.stack([classes, torch.from_numpy(attribute_labels(records, attributes))], dim=1)


def bn_refresh_subset(index: np.ndarray, config: RunConfig) -> np.ndarray:
    """The training clips the EMA's BatchNorm statistics are recomputed on: at most
    train.bn_refresh_clips of them (a fixed, seeded subset, so every epoch uses the same clips),
    or all.  A few hundred clips pin the statistics well; all of them cost a forward pass over
    the whole training set every epoch (a third of an epoch's time on a CPU)."""
    limit = config.train.bn_refresh_clips
    if not limit or len(index) <= limit:
        return index
    rng = np.random.default_rng(int(config.seed))
    return np.sort(rng.choice(index, size=int(limit), replace=False))


@torch.no_grad()
def refresh_batchnorm(model: torch.nn.Module, waves: Waveforms, index: np.ndarray, front: LogMel, config: RunConfig,
                      device: torch.device) -> None:
    """Recompute every BatchNorm's running statistics for the model's current weights: one pass
    over the training clips (no mixup) with a cumulative average, as swa_utils.update_bn does
    (which cannot call a model that takes a waveform and a log-mel)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(index) == 0:
        return
    momenta = {}
    for m in norms:
        momenta[m] = m.momentum
        m.reset_running_stats()
        m.momentum = None  # None: a plain average over all batches
    was_training = model.training
    model.train()
    bs = config.eval.batch_size
    for i in range(0, len(index), bs):
        batch = index[i:i + bs]
        if len(batch) < 2:
            continue
        wave = waves.batch(torch.from_numpy(batch)).to(device)
        with autocast(device, config):
            segment_output(model, wave, front(wave), config.data.segment_frames)
    for m in norms:
        m.momentum = momenta[m]
    model.train(was_training)


@torch.no_grad()
def validate(group: Group, waves: Waveforms, labels: torch.Tensor, front: LogMel, config: RunConfig,
             device: torch.device) -> dict:
    """Loss and accuracy on the held-out training normals, without mixup, in eval mode."""
    if len(group.val_index) == 0:
        return {"val_loss": None, "val_acc": None}
    model = group.eval_model()
    model.eval()
    group.loss.eval()
    bs = config.eval.batch_size
    total, correct, n = 0.0, 0, 0
    for i in range(0, len(group.val_index), bs):
        index = group.val_index[i:i + bs]
        wave = waves.batch(torch.from_numpy(index)).to(device)
        y = class_labels(labels[index].to(device))
        with autocast(device, config):
            out = segment_output(model, wave, front(wave), config.data.segment_frames)
        out = float_output(out)
        if out.cosine is not None:
            if group.loss.has_logits:
                logits = group.loss.logits(out.subcentre_cosine if out.subcentre_cosine is not None
                                           else out.cosine, y)
                # the papers' score on validation normals: -log softmax at the own class, margin included
                per_clip = torch.nn.functional.cross_entropy(logits, y, reduction="none")
            else:  # a loss with no class logits (SupCon alone): its own value
                per_clip = group.loss.from_output(out, y).expand(len(y))
            correct += int((out.cosine.argmax(1) == y).sum())
        else:
            per_clip = out.reconstruction_error
        total += float(per_clip.sum())
        n += len(index)
    return {"val_loss": total / n, "val_acc": correct / n if group.model.kind == "classifier" else None}


# --- checkpoints --------------------------------------------------------------------------------

def save_atomic(obj, path: Path) -> None:
    """Write a checkpoint whole or not at all: into a hidden temporary file, flushed to the disk,
    then renamed over the old one (a rename is atomic), so a kill or a full disk mid-write leaves
    the previous checkpoint as it was.  A failed write removes its partial file and says so."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written yet"
        raise OSError(exc.errno, f"could not write {path}: {exc.strerror or exc}; {kept} (free some space or fix "
                                 "the folder, then --resume)") from exc


def checkpoint_state(groups: list[Group], epoch: int, config: RunConfig, best: dict) -> dict:
    return {
        "config": config.to_dict(), "epoch": epoch, "best": best,
        "groups": {g.name: {"model": g.model.state_dict(), "loss": g.loss.state_dict(),
                            "optimizer": g.optimizer.state_dict(), "scheduler": g.scheduler.state_dict(),
                            "ema": g.ema.state_dict() if g.ema is not None else None} for g in groups},
    }


def selected_state(groups: list[Group], epoch: int, config: RunConfig) -> dict:
    """What evaluation loads: the weights to score with (the EMA's when there is one)."""
    return {"config": config.to_dict(), "epoch": epoch,
            "groups": {g.name: {"model": g.eval_model().state_dict(), "loss": g.loss.state_dict()}
                       for g in groups}}


# --- the run ------------------------------------------------------------------------------------

@dataclass
class Training:
    """What a training run is set up with before its first step (prepare_training)."""
    splits: Splits
    device: torch.device
    train_waves: Waveforms
    val_waves: Waveforms
    train_labels: torch.Tensor  # (N,) or (N, 2): training_labels
    val_labels: torch.Tensor
    steps: dict  # {group name: optimiser steps per epoch} (batches_per_epoch)
    groups: list[Group]
    front: LogMel


def prepare_training(config: RunConfig, world: World = SINGLE, standardise: bool = True,
                     splits: Splits | None = None, train_waves: Waveforms | None = None,
                     val_waves: Waveforms | None = None) -> Training:
    """The set-up of `fit` (and of scripts/bench.py, which times its steps): the splits, the device,
    the waveforms and labels of the training and validation clips, the steps per epoch, the model
    groups with their optimisers, the log-mel front end and (standardise=True) the input
    standardisation of the models that have one.  `splits`, `train_waves` and `val_waves` may be
    given to reuse those already made.

    The torch seed is set before the groups are built, so a run's initial weights depend on
    config.seed alone."""
    keep_freed_memory()  # glibc keeps each step's freed buffers for the next (asdcore.allocator: +28 % clips/s)
    device = distributed.device_for(world, pick_device(config.device))
    torch.manual_seed(int(config.seed))
    splits = splits if splits is not None else prepare_splits(config)
    train_waves = train_waves if train_waves is not None else Waveforms.of(splits.train, config)
    val_waves = val_waves if val_waves is not None else Waveforms.of(splits.val, config)
    train_labels = training_labels(splits.train, config, splits)
    val_labels = training_labels(splits.val, config, splits)
    steps = {n: batches_per_epoch(group_index(splits.train, n), train_waves, config, world)
             for n in group_names(config, splits)}
    groups = build_groups(config, splits, device, steps, world)
    front = LogMel(feature_config(config)).to(device)
    if standardise:
        fit_input_standardisation(groups, train_waves, front, config.train.batch_size, device)
    return Training(splits, device, train_waves, val_waves, train_labels, val_labels, steps, groups, front)


def load_run(run_dir: Path, resume: bool, config: RunConfig | None) -> tuple[RunConfig, dict | None]:
    """The config and checkpoint to train `run_dir` from.  resume=True: the last checkpoint, or the
    folder's config.json when it was stopped before its first one (it then starts over).  Else a
    fresh run: `config` is written to the folder, which must not hold a run already."""
    if resume:
        if not (run_dir / CHECKPOINT).exists():
            if not (run_dir / "config.json").exists():
                raise FileNotFoundError(f"{run_dir}: no run to resume (no config.json)")
            return RunConfig.from_dict(read_json(run_dir / "config.json")), None
        ckpt = load_checkpoint(run_dir / CHECKPOINT)
        return RunConfig.from_dict(ckpt["config"]), ckpt
    if run_dir.exists() and any(p.name != "status.json" for p in run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} already holds a run: not overwriting it (use --resume to "
                              "continue it, or choose another --run-dir)")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "config.json", config.to_dict())
    return config, None


def fit(config: RunConfig, run_dir: Path, ckpt: dict | None, status: StatusWriter, cancelled: threading.Event,
        progress: bool, world: World = SINGLE, on_epoch=None, timings: Timings | None = None) -> None:
    """Train.  Under torchrun (world.active) every process calls this; rank 0 alone validates and
    writes the run folder.  on_epoch(epoch, training), when given, is called on rank 0 after each
    epoch's checkpoint and metrics line (scripts/learning_curves.py evaluates the weights there);
    its time is not in the epoch's `seconds`.  `timings` (asdcore.timings) gets the train.* phases
    and a row per epoch; the caller writes it."""
    seed = int(config.seed)
    main = world.is_main
    timings = timings if timings is not None else Timings()
    t0 = time.time()
    with timings.phase("train.data"):  # the splits; clips not in the audio cache yet are decoded into it
        splits = prepare_splits(config)
        train_waves, val_waves = Waveforms.of(splits.train, config), Waveforms.of(splits.val, config)
    with timings.phase("train.setup"):  # models, optimisers, front end; a resumed run's state
        # a resumed run's standardisation comes back with its weights
        training = prepare_training(config, world, standardise=ckpt is None, splits=splits, train_waves=train_waves,
                                    val_waves=val_waves)
    device, groups, steps, front = training.device, training.groups, training.steps, training.front
    train_labels, val_labels = training.train_labels, training.val_labels
    n_attributes = len(attribute_classes(config, splits))
    start_epoch, best = 1, {"epoch": None, "val_loss": math.inf}
    if ckpt is not None:
        t_resume = time.perf_counter()
        for g in groups:
            state = ckpt["groups"][g.name]
            g.model.load_state_dict(state["model"])
            g.loss.load_state_dict(state["loss"])
            g.optimizer.load_state_dict(state["optimizer"])
            g.scheduler.load_state_dict(state["scheduler"])
            if g.ema is not None and state["ema"] is not None:
                g.ema.load_state_dict(state["ema"])
        start_epoch, best = ckpt["epoch"] + 1, ckpt["best"]
        timings.add("train.setup", time.perf_counter() - t_resume)
        if main:
            _truncate_metrics(run_dir, ckpt["epoch"])
            append_log(run_dir, f"resumed after epoch {ckpt['epoch']}")
    elif main:
        append_log(run_dir, f"{config.recipe} ({config.preset}): {len(splits.train)} training clips, "
                            f"{len(splits.val)} validation, {len(splits.test)} test, "
                            f"{describe_classes(splits.class_mode, splits.classes)}, "
                            + (f"{n_attributes} attribute classes (second head), " if n_attributes else "")
                            + f"{len(groups)} model(s), device {device_description(device)}"
                            + (f" x {world.world_size} processes (DDP)" if world.active else "") + "; "
                            f"data loaded in {time.time() - t0:.1f} s")
        if splits.skipped:
            append_log(run_dir, f"skipped {len(splits.skipped)} file(s) that cannot be used (the others train):\n"
                       + "\n".join(f"  {line}" for line in splits.skipped_lines()))
    epochs = config.train.epochs
    total_batches = sum(steps.values())
    bar = tqdm(total=epochs * total_batches, initial=(start_epoch - 1) * total_batches, unit="batch",
               disable=not (progress and main), desc=config.recipe, file=sys.stderr)
    for epoch in range(start_epoch, epochs + 1):
        t_epoch = time.time()
        before = dict(timings.phases)
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        done_before = 0
        results = []
        for g in groups:
            def on_batch(b, n, done_before=done_before, epoch=epoch, g=g):  # bound now: called in this loop only
                if cancelled.is_set():
                    raise Cancelled()
                bar.update(1)
                frac = ((epoch - 1) * total_batches + done_before + b) / (epochs * total_batches)
                status.update(phase="training", epoch=epoch, progress=round(frac, 4),
                              message=f"epoch {epoch}/{epochs}" + (f", {g.name}" if len(groups) > 1 else ""))

            t_steps = time.perf_counter()
            train_stats = train_epoch(g, train_waves, train_labels, front, config, device, generator, on_batch,
                                      epoch, world)
            if config.train.schedule == "cosine_epoch":
                g.scheduler.step()
            timings.add("train.steps", time.perf_counter() - t_steps - train_stats["read_seconds"])
            timings.add("train.read_clips", train_stats["read_seconds"])
            done_before += steps[g.name]
            if not main:
                continue  # the other processes neither validate nor write
            if g.ema is not None:
                status.update(phase="training", message=f"epoch {epoch}/{epochs}: BatchNorm statistics of the EMA")
                with timings.phase("train.bn_refresh"):
                    refresh_batchnorm(g.ema.module, train_waves, bn_refresh_subset(g.train_index, config), front,
                                      config, device)
            with timings.phase("train.validation"):
                results.append((g, train_stats, validate(g, val_waves, val_labels, front, config, device)))
        if not main:
            continue
        t_save = time.perf_counter()
        row = _epoch_row(epoch, groups, results, time.time() - t_epoch)
        is_best = row["val_loss"] is not None and row["val_loss"] < best["val_loss"]
        select_this = config.train.select == "last" or is_best or row["val_loss"] is None
        if select_this:
            best = {"epoch": epoch, "val_loss": row["val_loss"] if row["val_loss"] is not None else math.inf}
            save_atomic(selected_state(groups, epoch, config), run_dir / SELECTED)
        row["selected"] = select_this
        snapshot = config.train.snapshot_every
        if snapshot and (epoch % snapshot == 0 or epoch == epochs):  # the ensemble's members (asdcore.ensemble)
            (run_dir / SNAPSHOTS).mkdir(exist_ok=True)
            save_atomic(selected_state(groups, epoch, config), run_dir / SNAPSHOTS / f"epoch-{epoch:03d}.pt")
        # checkpoint before the metrics line: a resumed run never has a metrics row without weights
        save_atomic(checkpoint_state(groups, epoch, config, best), run_dir / CHECKPOINT)
        with open(run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        append_log(run_dir, _epoch_line(row, epochs))
        status.update(force=True, epoch=epoch, progress=round(epoch / epochs, 4))
        timings.add("train.save", time.perf_counter() - t_save)  # model.pt, snapshots, checkpoint.pt, logs
        timings.epochs.append({"epoch": epoch, **{name: round(s - before.get(name, 0.0), 3)
                                                  for name, s in timings.phases.items() if s != before.get(name)},
                               "seconds": round(time.time() - t_epoch, 3)})
        if on_epoch is not None:
            on_epoch(epoch, training)
    bar.close()
    # every process waits for rank 0's last validation and checkpoint, so that all leave the process
    # group together (a process that left while another still used it was killed by gloo)
    distributed.barrier(world)


def _epoch_row(epoch: int, groups, results, seconds: float) -> dict:
    def mean(key, source):
        values = [stats[key] for stats in source if stats.get(key) is not None]
        return float(np.mean(values)) if values else None

    trains = [r[1] for r in results]
    vals = [r[2] for r in results]
    return {"epoch": epoch, "lr": groups[0].optimizer.param_groups[0]["lr"],
            "train_loss": mean("train_loss", trains), "train_acc": mean("train_acc", trains),
            "val_loss": mean("val_loss", vals), "val_acc": mean("val_acc", vals), "seconds": round(seconds, 2)}


def _epoch_line(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"{row['seconds']:.1f} s")
    if row.get("selected"):
        parts.append("(selected)")
    return "  ".join(parts)


def _truncate_metrics(run_dir: Path, last_epoch: int) -> None:
    """Drop metric rows past the checkpoint (a kill between the two writes)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["epoch"] <= last_epoch:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            pass
    path.write_text("".join(line + "\n" for line in keep))
