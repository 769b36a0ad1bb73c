"""Compile once at installation what a first run would otherwise compile: `python -m asdcore warm-up`.

Two just-in-time compilers keep their machine code on disk, and a process that finds it there
loads it instead of compiling again:

- numba, for umap-learn and pynndescent (the UMAP map of every evaluation): its cache lies beside
  their source in the virtual environment (asdcore.evaluation.evaluate.cache_umap_jit turns it on).
  Measured on a fresh install (2 cores, idle): the first evaluation's UMAP took 51 s, the next
  process's 11 s, for the same map.
- inductor (torch.compile), for the fused PReLU backward of the quick preset (train.fused_prelu):
  its cache lies in torch's cache folder (TORCHINDUCTOR_CACHE_DIR, by default under the system's
  temporary folder, so it is rebuilt after the machine clears that).  Measured: the first training
  step of a process 9 s with an empty cache, 3 s with a warm one.

`make setup` runs this once after installing the packages, so that the first quick run a user
starts costs what every later one does.  Nothing here changes a result: the same code is
compiled, earlier.
"""
from __future__ import annotations

import time

import numpy as np

# more points than umap-learn's exact nearest-neighbour threshold (4096): the nearest-neighbour descent
# a real evaluation's map (thousands of clips) runs is the one compiled here
WARM_POINTS = 4500


def warm_umap(seed: int = 0) -> float:
    """One UMAP map of random unit vectors through evaluate.projections: seconds it took."""
    from .evaluation.evaluate import projections

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    projections(rng.standard_normal((WARM_POINTS, 128)).astype(np.float32), seed)
    return time.perf_counter() - t0


def warm_fused_prelu() -> tuple[float, str | None]:
    """One training backward of a FusedPReLU on each memory layout a model gives it: (seconds, why
    compiling failed or None)."""
    import torch

    from .models import fused_prelu

    t0 = time.perf_counter()
    layer = torch.nn.PReLU(8)
    fused_prelu.use_fused_prelu(layer)
    for x in (torch.randn(4, 8, 6, 5).contiguous(memory_format=torch.channels_last), torch.randn(4, 8, 6, 5),
              torch.randn(4, 8)):
        layer(x.requires_grad_(True)).sum().backward()
    return time.perf_counter() - t0, fused_prelu.compile_failure()


def warm_up() -> list[str]:
    """Both caches; one line per compiler saying what was done.  A failure is reported, not raised:
    the first run then compiles as it would have anyway, so installing goes on."""
    lines = []
    try:
        seconds = warm_umap()
        lines.append(f"UMAP / nearest-neighbour descent (numba): compiled or loaded in {seconds:.0f} s")
    except Exception as err:  # noqa: BLE001 - a warm-up never stops an installation
        lines.append(f"UMAP / nearest-neighbour descent (numba): not warmed ({type(err).__name__}: {err}); the first "
                     f"evaluation compiles it")
    seconds, failure = warm_fused_prelu()
    if failure:
        lines.append(f"fused PReLU backward (torch.compile): not available here ({failure}); training uses torch's "
                     f"own PReLU backward")
    else:
        lines.append(f"fused PReLU backward (torch.compile): compiled or loaded in {seconds:.0f} s")
    return lines
