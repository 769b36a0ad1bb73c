"""Reading clips: mono, 16 kHz, a fixed length.

- Mono: channel 0 of a multi-channel file (another with `channel`, the run's data.channel).  The DCASE 2020 sets were made from
  channel 0 of the 8-channel MIMII recordings; averaging channels would mix
  microphones the models never saw.
- Sample rate: 16 kHz; other rates are resampled (polyphase, scipy) and a
  warning names the file and both rates.
- Length: cropped (from the start) or padded (zeros at the end, or a wrap-around
  repeat) to the configured clip length, so an 11 s ToyCar clip and a 10 s fan
  clip give tensors of the same size.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000


class AudioError(ValueError):
    """A file that cannot be used as a clip; the message names the file and why."""


class ResampledWarning(UserWarning):
    pass


def read_mono(path: str | Path, sample_rate: int = SAMPLE_RATE, channel: int = 0) -> np.ndarray:
    """The whole file as float32 in [-1, 1], one channel (0 unless chosen), at `sample_rate`."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / OSError
        raise AudioError(f"{path}: unreadable audio ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not 0 <= channel < data.shape[1]:
        raise AudioError(f"{path}: has {data.shape[1]} channel(s), no channel {channel} (data.channel counts from 0)")
    x = data[:, channel]
    if sr != sample_rate:
        warnings.warn(f"{path}: resampled from {sr} Hz to {sample_rate} Hz", ResampledWarning,
                      stacklevel=2)
        from scipy.signal import resample_poly  # imported here: scipy.signal takes ~2 s to import

        g = math.gcd(int(sr), int(sample_rate))
        x = resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    return np.ascontiguousarray(x)


def fix_length(x: np.ndarray, n_samples: int, pad_mode: str = "constant") -> np.ndarray:
    """Crop from the start, or pad at the end with zeros ("constant") or by repeating
    the clip ("wrap"), to exactly n_samples."""
    if len(x) >= n_samples:
        return x[:n_samples]
    if pad_mode == "wrap":
        reps = -(-n_samples // len(x))
        return np.tile(x, reps)[:n_samples]
    if pad_mode != "constant":
        raise ValueError(f"pad_mode must be 'constant' or 'wrap', not {pad_mode!r}")
    return np.pad(x, (0, n_samples - len(x)))


def load_clip(path: str | Path, clip_seconds: float | None = None,
              sample_rate: int = SAMPLE_RATE, pad_mode: str = "constant", channel: int = 0) -> np.ndarray:
    """A clip ready for the features: mono float32 at `sample_rate`, `clip_seconds` long
    (the file's own length when None), from `channel` of a multi-channel file."""
    x = read_mono(path, sample_rate, channel)
    if clip_seconds is None:
        return x
    return fix_length(x, int(round(clip_seconds * sample_rate)), pad_mode)


def load_batch(paths, clip_seconds: float, sample_rate: int = SAMPLE_RATE,
               pad_mode: str = "constant") -> np.ndarray:
    """Several clips stacked into (N, samples)."""
    return np.stack([load_clip(p, clip_seconds, sample_rate, pad_mode) for p in paths])
