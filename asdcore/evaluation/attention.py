"""TAgram's temporal attention against the true fault spans: the figures eval/metrics.json keeps as
"attention" (the Attention page and `python -m asdcore data diagnose` show them).

    attention_summary(weights, clips, hop_length, sample_rate, clip_seconds)   from arrays
    frame_settings(config)   (hop_length, sample_rate, clip_seconds) of a config.json dict

Numpy and pandas only: evaluate_run computes the summary from the weights as attention.npy stores
them (float16), so a fresh evaluation and a summary refreshed from the saved file
(asdcore.evaluation.evaluate.refresh_summaries) agree to the last digit.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# a fault span shorter than this share of the clip leaves time outside it to compare attention with
SHORT_SPAN = 0.6


def frame_settings(config: dict) -> tuple[int, int, float]:
    """(hop_length, sample_rate, clip_seconds) of a run's config (RunConfig.to_dict(), config.json)."""
    features = config.get("features", {})
    return (int(features.get("hop_length", 512)), int(features.get("sample_rate", 16000)),
            float(config["data"]["clip_seconds"]))


def inside_outside(weights: np.ndarray, onset_s: float, offset_s: float, hop_length: int,
                   sample_rate: int) -> tuple[float, float] | None:
    """One clip's mean weight over the frames inside its fault span and over those outside it (None
    when either side has no frame).  Frame k is centred at k * hop_length / sample_rate seconds."""
    weights = np.asarray(weights, dtype=np.float64)
    times = np.arange(len(weights)) * hop_length / sample_rate
    span = (times >= onset_s) & (times < offset_s)
    if not span.any() or span.all():
        return None
    return float(weights[span].mean()), float(weights[~span].mean())


def attention_summary(weights: np.ndarray, clips: pd.DataFrame, hop_length: int, sample_rate: int,
                      clip_seconds: float, short_span: float = SHORT_SPAN) -> dict:
    """TAgram's temporal attention over the test clips.

    weights: (N, T) per-frame weights, row i = clips row i; clips: the test clips' table with
    `label` and, where the toy factory's metadata gives them, `fault_onset_s` / `fault_offset_s`.

    n_clips       how many test clips (rows of weights)
    saturated     the share of all weights above 0.99 (a gate stuck open shows nothing)
    mean, within_clip_std   the weights' mean and their spread along time inside a clip
    short_span    the share of the clip a fault span must stay under to count as short
    inside, outside, n_short, inside_higher   over the anomalous clips whose fault covers less than
                  `short_span` of the clip: the mean weight of the frames inside the fault's span and
                  of those outside it, how many such clips there are, and the share of them whose
                  inside mean is the higher (None, None, 0, None without such clips)
    Frame k is centred at k * hop_length / sample_rate seconds (centred STFT)."""
    weights = np.asarray(weights, dtype=np.float64)
    out = {"n_clips": int(len(weights)), "saturated": float((weights > 0.99).mean()), "mean": float(weights.mean()),
           "within_clip_std": float(weights.std(axis=1).mean()), "short_span": float(short_span)}
    inside, outside = [], []
    if "fault_onset_s" in clips:
        onset = pd.to_numeric(clips["fault_onset_s"], errors="coerce").to_numpy()
        offset = pd.to_numeric(clips["fault_offset_s"], errors="coerce").to_numpy()
        short = (clips["label"].to_numpy() == 1) & np.isfinite(onset) & ((offset - onset) < short_span * clip_seconds)
        for i in np.flatnonzero(short):
            found = inside_outside(weights[i], onset[i], offset[i], hop_length, sample_rate)
            if found is not None:
                inside.append(found[0])
                outside.append(found[1])
    out.update(inside=float(np.mean(inside)) if inside else None,
               outside=float(np.mean(outside)) if outside else None, n_short=len(inside),
               inside_higher=float(np.mean(np.array(inside) > np.array(outside))) if inside else None)
    return out
