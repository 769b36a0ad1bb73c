"""A clip's log-mel for display, computed as the run's model saw it (its LogMelConfig, clip
length and padding) so the frames line up with attention.npy; cached until the file changes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from asdcore.data.audio import load_clip
from asdcore.melspec import LogMelConfig, log_mel_numpy  # the models' log-mel, without importing torch
from asdcore.runs import Run
from app_pages.shared.cache import modified


@st.cache_data(show_spinner=False, max_entries=64)
def _clip_logmel(path: str, features_json: str, clip_seconds, pad_mode: str, stamp: float,
                 channel: int = 0) -> np.ndarray:
    features = {k: v for k, v in json.loads(features_json).items() if k != "variant"}
    cfg = LogMelConfig.from_dict(features)
    # cropped / padded as the model saw it, so the frames line up with attention.npy
    wave = load_clip(path, clip_seconds, cfg.sample_rate, pad_mode, channel)
    return log_mel_numpy(wave, cfg).astype(np.float32)


def file_logmel(path: Path, features: dict, clip_seconds: float | None = None,
                pad_mode: str = "constant", channel: int = 0) -> np.ndarray:
    """The (n_mels, frames) log-mel of an audio file's `channel` with these LogMelConfig settings
    (a dict), the file cropped / padded to clip_seconds; cached until the file changes."""
    return _clip_logmel(str(path), json.dumps(features, sort_keys=True), clip_seconds, pad_mode, modified(path),
                        channel)


def clip_logmel(run: Run, row) -> np.ndarray | None:
    """The log-mel of one clip as the run's model saw it (its LogMelConfig, clip length and
    padding); None when its audio file is missing or its path is refused (Run.clip_path)."""
    try:
        path = run.clip_path(row)
    except ValueError:  # missing_audio says why
        return None
    if not path.exists():
        return None
    data = run.config.get("data", {})
    return file_logmel(path, run.config.get("features", {}), data.get("clip_seconds"),
                       data.get("pad_mode", "constant"), int(data.get("channel", 0)))
