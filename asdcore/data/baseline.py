"""A deliberately simple reference detector: a Gaussian on time-averaged log-mel.

For each machine ID, the training normals' mean log-mel vectors (128 values per
clip, averaged over time) are fitted with one Gaussian (Ledoit-Wolf shrunk
covariance, since there are fewer clips than dimensions); a test clip's score is
its Mahalanobis distance to its own ID's Gaussian.  It sees only the average
spectrum, so faults that are short or change timing rather than spectrum are
hard for it: that leaves room for the margin-loss methods to show what they do.

    python -m asdcore data baseline PATH

It calibrates the toy factory (each machine type of the default preset must
score an AUC between 0.60 and 0.95) and gives a first look at any DCASE folder.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from ..features import LogMel, LogMelConfig
from .audio import load_clip
from .dataset import Dataset


def mean_logmel(paths, clip_seconds: float | None = None, cfg: LogMelConfig | None = None,
                batch: int = 64) -> np.ndarray:
    """(N, n_mels): each clip's log-mel averaged over time."""
    front = LogMel(cfg)
    out = []
    for i in range(0, len(paths), batch):
        clips = [load_clip(p, clip_seconds) for p in paths[i:i + batch]]
        if clip_seconds is None:  # files of several lengths: one at a time
            feats = [front(torch.from_numpy(c)).mean(-1) for c in clips]
            out.append(torch.stack(feats).numpy())
        else:
            with torch.no_grad():
                out.append(front(torch.from_numpy(np.stack(clips))).mean(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, front.cfg.n_mels))


def gaussian_baseline_scores(ds: Dataset, clip_seconds: float | None = None):
    """Per test clip: machine type, machine ID, label and Mahalanobis score (a DataFrame)."""
    rows = []
    for machine_type, machine_id in ds.classes:
        train = ds.select(split="train", machine_type=machine_type, machine_id=machine_id, label="normal")
        test = [r for r in ds.select(split="test", machine_type=machine_type, machine_id=machine_id)
                if r.label is not None]
        if len(train) < 2 or not test:
            continue
        x_train = mean_logmel([r.path for r in train], clip_seconds)
        x_test = mean_logmel([r.path for r in test], clip_seconds)
        gauss = LedoitWolf().fit(x_train)
        scores = gauss.mahalanobis(x_test)
        rows += [dict(machine_type=machine_type, machine_id=machine_id, label=r.is_anomaly, score=float(s),
                      path=r.relpath) for r, s in zip(test, scores)]
    return pd.DataFrame(rows, columns=["machine_type", "machine_id", "label", "score", "path"])


def auc_per_type(scores) -> pd.DataFrame:
    """AUC per machine type: per machine ID, then averaged over the type's IDs (the
    DCASE evaluator's protocol); IDs with only one label present are left out."""
    rows = []
    for machine_type, by_type in scores.groupby("machine_type", sort=False):
        aucs = [roc_auc_score(g["label"], g["score"]) for _, g in by_type.groupby("machine_id")
                if g["label"].nunique() == 2]
        if aucs:
            rows.append(dict(machine_type=machine_type, auc=float(np.mean(aucs)), ids=len(aucs)))
    return pd.DataFrame(rows, columns=["machine_type", "auc", "ids"])
