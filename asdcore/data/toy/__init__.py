"""The toy factory: synthetic machine sounds in the DCASE 2020 layout (the project's default data).

The presets (`asdcore.data.toy.presets`) import nothing heavy; the generator and the sound models
(numpy, scipy) load on first use of the names below, so the CLI and the app stay quick to start.
"""
from .presets import PRESETS, Preset

_LAZY = {"ToyDataError": "generator", "generate": "generator", "plan_clips": "generator",
         "read_manifest": "generator", "render_clip": "generator", "MACHINES": "machines", "Fault": "machines"}

__all__ = ["PRESETS", "Preset", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
