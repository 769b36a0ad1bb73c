"""glibc's malloc set to keep the memory a training step frees, so the next step reuses it.

Why: a step allocates and frees the same activation buffers (a few MiB to tens of MiB each) every
batch.  glibc serves a request above its mmap threshold (128 KiB, raised on the fly up to 32 MiB)
with fresh pages from mmap and unmaps them on free, and it gives the top of its heap back to the
kernel above the trim threshold (128 KiB).  So each step page-faults its activations in again:
measured on the 2-core machine (scripts/bench.py's our_steps, TASTgram-MFN, 2 s clips, batch 32,
43 steps), 5.3 million minor page faults and 10 s of kernel time with glibc's defaults, against
0.27 million and 0.7 s with both thresholds at 1 GiB; 63 -> 81 clips/s, for 110 MB more peak
resident memory.  The same settings as the environment variables MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_, but set from inside the process, so a notebook, the CLI and the app's
training processes all get them.

Not glibc (macOS, musl, Windows): nothing is changed.  A CUDA device's own memory has its own
caching allocator; this is about host memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # 1 GiB: above any one activation buffer of the recipes on a CPU

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds to KEEP_BYTES, once per process.  True when they were
    set (or already were), False where the C library is not glibc.  MALLOC_MMAP_THRESHOLD_ or
    MALLOC_TRIM_THRESHOLD_ set by the user win: they are left as they are."""
    global _done
    if _done is not None:
        return _done
    import os

    _done = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no glibc: nothing to tune
        return _done
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        ok = mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) == 1 and ok
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        ok = mallopt(M_TRIM_THRESHOLD, KEEP_BYTES) == 1 and ok
    _done = ok
    return _done
