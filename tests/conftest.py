"""Shared fixtures: the real DCASE clips beside the checkout and toy data sets made once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test`: two processes on two cores) each test process, and every training or
# server it starts, computes on one thread: two processes of two threads each fought over the two cores
# (the suite took 564 s against 396 s with one thread each, measured idle on the project's 2-core VM).
# Set before anything imports torch, which reads it once.
if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REAL_AUDIO = Path(os.environ.get("ASD_REAL_AUDIO",
                                 PROJECT_ROOT.parent / "shared" / "real-audio" / "dcase2020-sample"))


@pytest.fixture(scope="session", autouse=True)
def audio_cache_dir(tmp_path_factory) -> Path:
    """The suite's audio caches (asdcore.data.audio_cache) in a temporary folder, not ~/.cache; the
    servers and trainings the tests start inherit it."""
    folder = tmp_path_factory.mktemp("audio-cache")
    os.environ["ASD_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def real_audio_root() -> Path:
    if not REAL_AUDIO.is_dir():
        pytest.skip(f"real DCASE clips not found at {REAL_AUDIO} (they live in ../shared/real-audio beside "
                    "the checkout; set ASD_REAL_AUDIO to point elsewhere)")
    return REAL_AUDIO


@pytest.fixture(scope="session")
def tiny_toy_root(tmp_path_factory) -> Path:
    """The toy factory's tiny preset (seconds to make)."""
    from asdcore.data.toy import generate

    return generate(tmp_path_factory.mktemp("toy") / "tiny", preset="tiny", seed=0, workers=2, progress=False)


@pytest.fixture(scope="session")
def default_toy_root(tmp_path_factory) -> Path:
    """The default preset, seed 0, as `make data` makes it: data/toy when it holds exactly that
    (`make test` makes it first), else made afresh in a temporary folder."""
    from asdcore.data.toy import generate, read_manifest
    from asdcore.data.toy.generator import GENERATOR_VERSION

    made = PROJECT_ROOT / "data" / "toy"
    manifest = read_manifest(made) if made.is_dir() else None
    if manifest and manifest.get("complete") and (manifest.get("preset"), manifest.get("seed"),
                                                   manifest.get("generator_version")) == ("default", 0, GENERATOR_VERSION):
        return made
    return generate(tmp_path_factory.mktemp("toy") / "default", preset="default", seed=0, workers=2,
                    progress=False)
