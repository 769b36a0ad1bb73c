"""Training on several processes (GPUs, or CPUs for tests) with torch.distributed's DDP.

    torchrun --nproc_per_node=4 -m asdcore train --recipe tastgram-noisy-arcmix --preset paper --run-dir runs/x

torchrun starts the processes and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
`setup()` reads them and joins the process group: NCCL with one GPU per process
(cuda:LOCAL_RANK) when CUDA is there, gloo on CPUs.  Without torchrun (WORLD_SIZE unset or 1)
nothing changes: one process, no process group.

How a step is shared:
- Every process draws the same global batches (train.batch_size clips, shuffled from (seed,
  epoch) as one process does).  A global batch is cut into P = WORLD_SIZE x train.micro_batches
  pieces, piece p = batch[p::P] (the interleaving torch's DistributedSampler uses, applied per
  global batch so a run's batches do not depend on the number of processes); process r takes
  pieces r, r + WORLD_SIZE, ...  Mixup partners and log-mel segments are drawn within a piece,
  from a generator seeded by (seed, epoch, batch, piece).
- DDP averages the gradients over the processes; micro-batches accumulate them.  A step on W
  processes therefore equals a step on one process with train.micro_batches = W: the same pieces,
  the same loss, the same update (the suite checks this with 2 CPU processes on gloo).  BatchNorm
  normalises each piece by its own statistics, as DDP without SyncBatchNorm does.
- Rank 0 alone writes the run folder (status, metrics, checkpoints, the evaluation); the training
  loss and accuracy are summed over all processes first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


SINGLE = World()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_name: str = "auto") -> World:
    """Join the process group torchrun describes (once per process); one process: SINGLE."""
    if not launched_by_torchrun():
        return SINGLE
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return world


def device_for(world: World, device: torch.device) -> torch.device:
    """This process's device: its own GPU (cuda:LOCAL_RANK) under torchrun on CUDA."""
    if world.active and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def pieces(batch: np.ndarray, world: World, micro_batches: int) -> list[tuple[int, np.ndarray]]:
    """(piece number, clip positions) of the pieces of a global batch this process trains on."""
    n = world.world_size * micro_batches
    return [(p, batch[p::n]) for p in range(world.rank, n, world.world_size)]


def piece_generator(generator: torch.Generator, seed: int, epoch: int, batch: int, piece: int,
                    n_pieces: int) -> torch.Generator:
    """The generator a piece draws its mixup and segment from: the epoch's own when a batch is one
    piece (one process, no micro-batches: the draws of a plain run), else one seeded by (seed,
    epoch, batch, piece), the same on whichever process trains the piece."""
    if n_pieces == 1:
        return generator
    return torch.Generator().manual_seed(((seed * 100_003 + epoch) * 1_000_003 + batch) * 101 + piece)


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DDP around the module (the model and its loss together, so a margin loss's class centres are
    averaged too); the module itself on one process."""
    if not world.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    # find_unused_parameters: a model's parts that a recipe leaves out (an attribute head without
    # attributes) must not stall the gradient reduction
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True)


def sum_over_processes(values: list[float], world: World, device: torch.device) -> list[float]:
    """Each value summed over the processes (all_reduce); as they are on one process."""
    if not world.active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_from_main(value, world: World):
    """Rank 0's `value` (any picklable object) on every process; `value` itself on one process."""
    if not world.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def teardown(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()
