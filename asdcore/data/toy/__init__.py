"""The toy factory: synthetic machine sounds in the DCASE 2020 layout (the project's default data)."""
from .generator import PRESETS, Preset, ToyDataError, generate, plan_clips, read_manifest, render_clip
from .machines import MACHINES, Fault

__all__ = ["PRESETS", "Preset", "ToyDataError", "generate", "plan_clips", "read_manifest", "render_clip",
           "MACHINES", "Fault"]
