"""Spectrograms as plain RGB images, for previews where an interactive figure costs too much.

A plotly figure makes the browser load plotly.js (megabytes) the first time a page shows one,
which a first visit feels.  The app's landing page shows its two example clips this way instead;
the analysis pages draw the interactive figures (spectrogram.attention_figure).
"""
from __future__ import annotations

import functools

import numpy as np
from plotly.colors import sample_colorscale

from .spectrogram import _as_logmel
from .style import COLORS, SPECTROGRAM

FAULT_BAR_PX = 8


@functools.lru_cache(maxsize=4)
def _lut(colorscale: str = SPECTROGRAM, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours sampled evenly along a plotly colour scale (which gives them in 0..1)."""
    colours = sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, n)), colortype="tuple")
    return np.rint(np.asarray(colours) * 255.0).astype(np.uint8)


def _hex_rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)


def spectrogram_image(logmel, fault_span: tuple[float, float] | None = None, sample_rate: int = 16000,
                      hop_length: int = 512, px_per_frame: int = 8, px_per_band: int = 2) -> np.ndarray:
    """The log-mel (F bands, T frames) as an RGB image (H, W, 3) uint8, lowest band at the bottom.

    Colours: the figures' colour scale over the clip's 1st..99th percentile of dB (the figures
    use the full range; clipping the extremes keeps one click from washing out the rest).  Each
    frame is px_per_frame pixels wide and each band px_per_band high.  Under it, a white strip
    FAULT_BAR_PX high, in the anomaly colour under the frames a fault span (s) covers (frame t
    spans t*hop/sr +- half a hop)."""
    mel = _as_logmel(logmel)
    low, high = np.nanpercentile(mel, [1, 99]) if np.isfinite(mel).any() else (0.0, 1.0)
    level = np.clip((mel - low) / max(high - low, 1e-9), 0.0, 1.0)
    level = np.nan_to_num(level, nan=0.0)
    lut = _lut()
    rgb = lut[np.rint(level[::-1] * (len(lut) - 1)).astype(int)]  # flip: band 0 at the bottom
    rgb = np.repeat(np.repeat(rgb, px_per_band, axis=0), px_per_frame, axis=1)
    bar = np.full((FAULT_BAR_PX, rgb.shape[1], 3), 255, dtype=np.uint8)  # also without a fault: images align
    if fault_span is None:
        return np.concatenate([rgb, bar], axis=0)
    centres = np.arange(mel.shape[1]) * hop_length / sample_rate
    half = hop_length / sample_rate / 2
    covered = (centres + half > fault_span[0]) & (centres - half < fault_span[1])
    bar[:, np.repeat(covered, px_per_frame)] = _hex_rgb(COLORS["anomaly"])
    return np.concatenate([rgb, bar], axis=0)
