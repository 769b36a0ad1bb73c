"""`asdcore warm-up` (run by make setup) leaves the compiled code on disk for the first run."""
import os
import subprocess
import sys

import pytest


@pytest.mark.slow  # compiles UMAP's numba code and the PReLU kernel from empty caches: about a minute
def test_warm_up_writes_umap_and_the_fused_prelu_into_empty_caches(tmp_path):
    """In a process whose numba and inductor caches are empty folders, the warm-up fills both: the next
    process loads from them instead of compiling (the caches of this checkout's venv may already be
    full, which would prove nothing)."""
    numba_cache, inductor_cache = tmp_path / "numba", tmp_path / "inductor"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache), TORCHINDUCTOR_CACHE_DIR=str(inductor_cache))
    proc = subprocess.run([sys.executable, "-m", "asdcore", "warm-up"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "UMAP / nearest-neighbour descent (numba): compiled or loaded in" in proc.stdout
    assert "fused PReLU backward (torch.compile): compiled or loaded in" in proc.stdout  # not "not available"
    # numba's index files for UMAP's optimiser and its module functions, and inductor's compiled kernel
    indexed = {p.name.split(".")[0] for p in numba_cache.rglob("*.nbi")}
    assert {"layouts", "umap_"} <= indexed, indexed
    assert any(p.suffix in (".so", ".cpp", ".py") for p in inductor_cache.rglob("*")), "inductor wrote nothing"
