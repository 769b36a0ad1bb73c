"""Anomaly scores: normal vs anomaly histograms with a decision threshold, and ROC curves.

pAUC is sklearn's roc_auc_score(y, s, max_fpr=0.1), i.e. the partial AUC over FPR <= 0.1 with
McClish's standardisation, as in every published table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import COLORS, apply_style, category_color, category_dash, finite, fmt, note_figure

MAX_FPR = 0.1


def _score_column(clips: pd.DataFrame, score_column: str) -> pd.Series:
    if score_column not in clips.columns:
        choices = [c for c in clips.columns if c == "score" or c.startswith("score_")]
        raise ValueError(f"no column {score_column!r}; score columns here: {choices}")
    return pd.to_numeric(clips[score_column], errors="coerce")


def threshold_counts(clips: pd.DataFrame, threshold: float, score_column: str = "score") -> dict:
    """A clip is called anomalous when its score > threshold.
    false_alarms: normals above it; missed_anomalies: anomalies at or below it."""
    score, label = _score_column(clips, score_column), clips["label"]
    normal, anomaly = score[label == 0].dropna(), score[label == 1].dropna()
    return dict(false_alarms=int((normal > threshold).sum()), n_normal=int(normal.size),
                missed_anomalies=int((anomaly <= threshold).sum()), n_anomaly=int(anomaly.size))


def shared_bins(values: np.ndarray, max_bins: int = 80) -> dict:
    """One set of bins for both histograms, so bar heights compare."""
    if values.size == 0:
        return dict(start=0.0, end=1.0, size=0.1)
    edges = np.histogram_bin_edges(values, bins="auto")
    if len(edges) - 1 > max_bins:
        edges = np.histogram_bin_edges(values, bins=max_bins)
    size = float(edges[1] - edges[0]) or 1.0
    return dict(start=float(edges[0]), end=float(edges[-1]) + size / 2, size=size)


def score_histogram(clips: pd.DataFrame, threshold: float | None = None, score_column: str = "score",
                    title: str | None = None) -> go.Figure:
    """Overlaid normal / anomaly histograms of a score, the threshold as a vertical line, and the
    false alarms / missed anomalies it makes (in the legend and at the line)."""
    score = _score_column(clips, score_column)
    counts = threshold_counts(clips, threshold, score_column) if threshold is not None else None
    bins = shared_bins(finite(score))
    fig = go.Figure()
    for label, kind in ((0, "normal"), (1, "anomaly")):
        values = finite(score[clips["label"] == label])
        name = f"{kind} ({values.size})"
        if counts is not None:
            name += (f": {counts['false_alarms']} false alarms" if label == 0
                     else f": {counts['missed_anomalies']} missed")
        fig.add_trace(go.Histogram(x=values, name=name, marker=dict(color=COLORS[kind], line=dict(width=0)),
                                   opacity=0.6, xbins=bins, autobinx=False,
                                   hovertemplate=f"{kind}<br>score %{{x}}: %{{y}} clips<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line=dict(color=COLORS["boundary"], width=2, dash="dash"),
                      annotation_text=(f"threshold {fmt(threshold, '.3g')}<br>"
                                       f"false alarms {counts['false_alarms']}/{counts['n_normal']}<br>"
                                       f"missed anomalies {counts['missed_anomalies']}/{counts['n_anomaly']}"),
                      annotation_position="top right", annotation_align="left")
    fig.update_layout(barmode="overlay", title=title or f"Anomaly scores of the test clips ({score_column})",
                      # under the plot, clear of the threshold's label at the top
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.25, yanchor="top"))
    fig.update_xaxes(title_text=f"anomaly score ({score_column}; higher = more anomalous)")
    fig.update_yaxes(title_text="clips")
    return apply_style(fig, height=380)


def _groups(clips: pd.DataFrame, group: str):
    """(name, rows) per group; machine IDs are grouped with their type ("fan/id_00")."""
    keys = ["machine_type", "machine_id"] if group == "machine_id" and "machine_type" in clips.columns else [group]
    for key, rows in clips.groupby(keys, sort=True):
        yield "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,))), rows


def roc_figure(clips: pd.DataFrame, score_column: str = "score", group: str = "machine_id",
               title: str | None = None) -> go.Figure:
    """ROC curve per group (machine ID by default), AUC and pAUC in each legend entry, and the
    FPR <= 0.1 strip shaded (where pAUC is measured)."""
    from sklearn.metrics import roc_auc_score, roc_curve  # here: sklearn costs ~1 s to import, pages rarely need it

    score = _score_column(clips, score_column)
    fig = go.Figure()
    skipped = []
    for i, (name, rows) in enumerate(_groups(clips.assign(_score=score), group)):
        rows = rows[np.isfinite(rows["_score"])]
        if rows["label"].nunique() < 2:
            skipped.append(name)  # a ROC needs both normals and anomalies
            continue
        y, s = rows["label"].to_numpy().astype(int), rows["_score"].to_numpy()
        fpr, tpr, _ = roc_curve(y, s)
        auc, pauc = roc_auc_score(y, s), roc_auc_score(y, s, max_fpr=MAX_FPR)
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {auc:.3f}, pAUC {pauc:.3f})",
                                 line=dict(color=category_color(i), dash=category_dash(i), width=2),
                                 hovertemplate=f"{name}<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}<extra></extra>"))
    if not fig.data:
        return note_figure("no group has both normal and anomalous clips", title or "ROC curves")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", hoverinfo="skip",
                             line=dict(color=COLORS["neutral"], dash="dot", width=1)))
    fig.add_vrect(x0=0, x1=MAX_FPR, fillcolor=COLORS["neutral"], opacity=0.15, line_width=0, layer="below")
    fig.add_annotation(text=f"← pAUC region (FPR ≤ {MAX_FPR:g})", x=MAX_FPR, y=0.03, xanchor="left",
                       yanchor="bottom", showarrow=False, font=dict(size=11, color=COLORS["neutral"]))
    subtitle = f" — no ROC for {', '.join(skipped)} (one class only)" if skipped else ""
    fig.update_layout(title=(title or f"ROC curves per {group.replace('_', ' ')} ({score_column})") + subtitle,
                      legend_title_text="pAUC: McClish, FPR ≤ 0.1")
    fig.update_xaxes(title_text="false positive rate", range=[0, 1])
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.01])
    return apply_style(fig, height=520)
