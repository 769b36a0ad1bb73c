"""Bootstrap confidence intervals of one run's figures: how much would they move on other test clips
drawn from the same machines?

    auc_intervals(clips, score="score")    each machine type's AUC (DCASE protocol: the mean over its
                                           IDs of the per-ID AUC) and the average over types
    separation_intervals(clips)            Fig. 1's angle AUC (normal against anomalous angles to the
                                           own class centre, pooled) and median angle gap

The bootstrap resamples the test clips with replacement within each stratum of machine ID and label
(so every resample keeps each ID's normal and anomalous counts), recomputes the figure, and takes the
2.5th and 97.5th percentiles over `n_boot` resamples (the percentile interval).  Seeded: the same
clips give the same interval.  It counts the test clips only, not the spread over training seeds.

AUCs come from midranks (the Mann-Whitney statistic, ties counting a half), as asdcore's metrics and
plots.angles.angle_separation compute them, for all resamples at once.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

N_BOOT = 1000
LEVEL = 0.95


def _auc_rows(normal: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
    """AUC of each row: anomalous (B, m) against normal (B, n) scores."""
    m, n = anomalous.shape[1], normal.shape[1]
    ranks = rankdata(np.concatenate([normal, anomalous], axis=1), axis=1)
    return (ranks[:, n:].sum(axis=1) - m * (m + 1) / 2) / (m * n)


def _resample(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    return values[rng.integers(0, len(values), size=(n_boot, len(values)))]


def _interval(samples: np.ndarray, point: float, level: float) -> dict:
    low, high = np.nanpercentile(samples, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return {"value": float(point), "low": float(low), "high": float(high)}


def _strata(clips: pd.DataFrame):
    """(machine_type, machine_id, normal scores, anomalous scores) per ID with both labels."""
    for (machine_type, machine_id), group in clips.groupby(["machine_type", "machine_id"], sort=False):
        normal = group.loc[group["label"] == 0, "_value"].to_numpy(dtype=float)
        anomalous = group.loc[group["label"] == 1, "_value"].to_numpy(dtype=float)
        if len(normal) and len(anomalous):
            yield machine_type, machine_id, normal, anomalous


def auc_intervals(clips: pd.DataFrame, score: str = "score", n_boot: int = N_BOOT, level: float = LEVEL,
                  seed: int = 0) -> dict:
    """{"per_type": {type: {"value", "low", "high"}}, "average": {...}, "n_boot", "level"} for the DCASE
    protocol's AUCs of `score` (clips: machine_type, machine_id, label and the score column)."""
    from .metrics import machine_type_order

    table = clips[["machine_type", "machine_id", "label"]].assign(_value=clips[score].astype(float))
    table = table[np.isfinite(table["_value"])]
    rng = np.random.default_rng(seed)
    per_id: dict[str, list[tuple[float, np.ndarray]]] = {}
    for machine_type, _, normal, anomalous in _strata(table):
        point = _auc_rows(normal[None, :], anomalous[None, :])[0]
        boot = _auc_rows(_resample(normal, n_boot, rng), _resample(anomalous, n_boot, rng))
        per_id.setdefault(machine_type, []).append((point, boot))
    per_type, type_points, type_boots = {}, [], []
    for machine_type in machine_type_order(per_id):
        point = float(np.mean([p for p, _ in per_id[machine_type]]))
        boot = np.mean([b for _, b in per_id[machine_type]], axis=0)  # the type's AUC in each resample
        per_type[machine_type] = _interval(boot, point, level)
        type_points.append(point)
        type_boots.append(boot)
    average = _interval(np.mean(type_boots, axis=0), float(np.mean(type_points)), level) if type_boots else None
    return {"per_type": per_type, "average": average, "n_boot": n_boot, "level": level}


def separation_intervals(clips: pd.DataFrame, angle: str = "angle_to_centre_deg", n_boot: int = N_BOOT,
                         level: float = LEVEL, seed: int = 0) -> dict | None:
    """{"auc": {"value", "low", "high"}, "median_gap_deg": {...}, "n_boot", "level"}: Fig. 1's angle AUC
    and median gap over the clips given (all of them pooled, as the Angles page pools them), each
    resample drawn within every machine ID and label.  None without both labels."""
    table = clips[["machine_type", "machine_id", "label"]].assign(_value=clips[angle].astype(float))
    table = table[np.isfinite(table["_value"])]
    groups = {label: [g["_value"].to_numpy(dtype=float) for _, g in part.groupby(["machine_type", "machine_id"])]
              for label, part in table.groupby("label")}
    if set(groups) != {0, 1}:
        return None
    rng = np.random.default_rng(seed)
    # each machine ID's normals and anomalies resampled apart, then pooled, as the page pools them
    normal = np.concatenate([_resample(v, n_boot, rng) for v in groups[0]], axis=1)
    anomalous = np.concatenate([_resample(v, n_boot, rng) for v in groups[1]], axis=1)
    all_normal, all_anomalous = np.concatenate(groups[0]), np.concatenate(groups[1])
    auc_point = _auc_rows(all_normal[None, :], all_anomalous[None, :])[0]
    gap_point = np.median(all_anomalous) - np.median(all_normal)
    return {"auc": _interval(_auc_rows(normal, anomalous), auc_point, level),
            "median_gap_deg": _interval(np.median(anomalous, axis=1) - np.median(normal, axis=1), gap_point, level),
            "n_boot": n_boot, "level": level}
