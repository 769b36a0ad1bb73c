"""The embedding map: test clips on their 2-D projection (UMAP or PCA), training normals behind.

Mapping a click back to a clip: every point of a test-clip trace carries its row's index label
in `clips` as customdata[0], so `clips.loc[point["customdata"][0]]` is the clip (for the
clips.parquet frame as read, with its 0..N-1 index, that is also the row of embeddings.npy).
The training-normal trace (named TRAIN_TRACE) carries no customdata: ignore points without it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import (COLORS, CONTINUOUS, apply_style, category_color, category_symbol, fmt, has_values,
                    label_name, note_figure)

TRAIN_TRACE = "training normals"
HIGHLIGHT_TRACE = "selected clip"
COLOR_TITLES = {"machine_id": "machine type/ID", "label": "label", "score": "anomaly score",
                "angle_to_centre_deg": "angle to own class centre (°)", "domain": "domain (source / target)",
                "attributes": "attribute values"}
CATEGORICAL_COLUMNS = ("domain", "attributes")  # DCASE 2021-2023 clips: one trace per value
TRAIN_TARGET_TRACE = "training normals (target)"
PROJECTION_NAMES = {"umap": "UMAP", "pca": "PC"}
WEBGL_ABOVE = 5000  # points; past this an SVG scatter gets slow in the browser


def embedding_scatter(clips: pd.DataFrame, color_by: str = "machine_id", projection: str = "umap",
                      train: pd.DataFrame | None = None, highlight=None, title: str | None = None) -> go.Figure:
    """Scatter of the test clips' umap_x/umap_y (or pca_x/pca_y).

    color_by: "machine_id" (one trace per "type/ID"; anomalies drawn as diamonds), "label"
    (normal / anomaly), "domain" or "attributes" (DCASE 2021-2023: one trace per value, anomalies
    as diamonds), or a continuous column ("score", "angle_to_centre_deg"; one trace per label,
    sharing one colour scale).  `train` (same columns) is drawn first, small and grey, without
    hover; coloured by domain, its target-domain clips get their own dark trace, so the few
    target training normals show where the target domain lies.  `highlight` = an index label of
    `clips` to ring.  customdata[0] of every test point is its index label in `clips` (see the
    module docstring).
    """
    if color_by not in COLOR_TITLES:
        raise ValueError(f"color_by must be one of {list(COLOR_TITLES)}, got {color_by!r}")
    x_col, y_col = f"{projection}_x", f"{projection}_y"
    axis = PROJECTION_NAMES.get(projection, projection.upper())
    title = title or f"Test clips in the embedding space ({axis} projection), coloured by {COLOR_TITLES[color_by]}"
    if not has_values(clips, x_col):
        return note_figure(f"no {axis} projection in this run's clips", title)
    clips = clips[np.isfinite(pd.to_numeric(clips[x_col], errors="coerce"))]
    note = ""
    missing = (color_by not in clips.columns or clips[color_by].isna().all() if color_by in CATEGORICAL_COLUMNS
               else color_by not in ("machine_id", "label") and not has_values(clips, color_by))
    if missing:
        note = f" (no {COLOR_TITLES[color_by]} in this run: coloured by label)"
        color_by = "label"
    n_points = len(clips) + (len(train) if train is not None else 0)
    scatter = go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter

    fig = go.Figure()
    if train is not None and has_values(train, x_col):
        target = (train["domain"] == "target").to_numpy() if color_by == "domain" and "domain" in train.columns \
            else np.zeros(len(train), bool)
        fig.add_trace(scatter(x=train.loc[~target, x_col], y=train.loc[~target, y_col], mode="markers",
                              name=TRAIN_TRACE, marker=dict(color=COLORS["train_points"], size=11, opacity=0.35),
                              hoverinfo="skip"))
        if target.any():
            fig.add_trace(scatter(x=train.loc[target, x_col], y=train.loc[target, y_col], mode="markers",
                                  name=TRAIN_TARGET_TRACE, hoverinfo="skip",
                                  marker=dict(color=COLORS["boundary"], size=7, symbol="x-thin",
                                              line=dict(width=1.5, color=COLORS["boundary"]))))
    if color_by == "machine_id":
        _add_by_machine(fig, scatter, clips, x_col, y_col)
    elif color_by in CATEGORICAL_COLUMNS:
        _add_by_category(fig, scatter, clips, x_col, y_col, color_by)
    elif color_by == "label":
        _add_by_label(fig, scatter, clips, x_col, y_col)
    else:
        _add_continuous(fig, scatter, clips, x_col, y_col, color_by)
    if highlight is not None and highlight in clips.index:
        row = clips.loc[highlight]
        fig.add_trace(scatter(x=[row[x_col]], y=[row[y_col]], mode="markers", name=HIGHLIGHT_TRACE,
                              customdata=[[_plain(highlight)]], hoverinfo="skip",
                              marker=dict(symbol="circle-open", size=20, color=COLORS["highlight"],
                                          line=dict(width=3))))
    fig.update_layout(title=title + note, legend_title_text=_legend_title(color_by),
                      clickmode="event+select", uirevision="embedding")
    fig.update_xaxes(title_text=f"{axis} 1")
    fig.update_yaxes(title_text=f"{axis} 2")
    return apply_style(fig, height=560)


def _add_by_machine(fig, scatter, clips, x_col, y_col) -> None:
    """One trace per (machine type, ID): the legend reads "fan/id_00"."""
    keys = ["machine_type", "machine_id"] if "machine_type" in clips.columns else ["machine_id"]
    n = clips.groupby(keys).ngroups  # past 15 IDs, a 24-colour palette: no two IDs share a colour
    for i, (key, group) in enumerate(clips.groupby(keys, sort=True)):
        name = "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        if "label" in group.columns:  # normals first: the legend shows the first point's symbol
            group = group.sort_values("label", kind="stable")
        anomalous = group["label"].to_numpy() == 1 if "label" in group.columns else np.zeros(len(group), bool)
        # anomalies as diamonds, so they stay visible whatever the ID's colour
        symbols = np.where(anomalous, "diamond", category_symbol(i, n))
        fig.add_trace(_clip_trace(scatter, group, x_col, y_col, name,
                                  dict(color=category_color(i, n), symbol=symbols, size=8,
                                       line=dict(width=0.5, color="white"))))


def _add_by_category(fig, scatter, clips, x_col, y_col, column) -> None:
    """One trace per value of `column` (source / target, or attribute values); anomalies as diamonds."""
    for i, (value, group) in enumerate(clips.groupby(clips[column].fillna("—").astype(str), sort=True)):
        group = group.sort_values("label", kind="stable") if "label" in group.columns else group
        anomalous = group["label"].to_numpy() == 1 if "label" in group.columns else np.zeros(len(group), bool)
        fig.add_trace(_clip_trace(scatter, group, x_col, y_col, value,
                                  dict(color=category_color(i), symbol=np.where(anomalous, "diamond", "circle"),
                                       size=8, line=dict(width=0.5, color="white"))))


def _add_by_label(fig, scatter, clips, x_col, y_col) -> None:
    for label, kind in ((0, "normal"), (1, "anomaly")):
        group = clips[clips["label"] == label]
        fig.add_trace(_clip_trace(scatter, group, x_col, y_col, kind,
                                  dict(color=COLORS[kind], size=8, symbol="circle" if label == 0 else "diamond",
                                       line=dict(width=0.5, color="white"))))


def _add_continuous(fig, scatter, clips, x_col, y_col, column) -> None:
    """Colour = the column's value on one shared scale; normal circles, anomalous diamonds."""
    for label, kind in ((0, "normal"), (1, "anomaly")):
        group = clips[clips["label"] == label]
        fig.add_trace(_clip_trace(scatter, group, x_col, y_col, kind,
                                  dict(color=pd.to_numeric(group[column], errors="coerce"), coloraxis="coloraxis",
                                       size=8, symbol="circle" if label == 0 else "diamond",
                                       line=dict(width=0.5, color="white"))))
    fig.update_layout(coloraxis=dict(colorscale=CONTINUOUS, colorbar=dict(title=COLOR_TITLES[column])),
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"))


def _clip_trace(scatter, group: pd.DataFrame, x_col: str, y_col: str, name: str, marker: dict):
    return scatter(x=group[x_col], y=group[y_col], mode="markers", name=name, marker=marker,
                   customdata=[[_plain(i)] for i in group.index], hovertext=hover_texts(group),
                   hovertemplate="%{hovertext}<extra></extra>")


def hover_texts(clips: pd.DataFrame) -> list[str]:
    """One line each: machine type, ID, label, score, angle, fault kind."""
    def get(row, column):
        return row[column] if column in row.index else None

    texts = []
    for _, row in clips.iterrows():
        fault = get(row, "fault_kind")
        fault = fault if isinstance(fault, str) and fault else "—"
        domain = get(row, "domain")
        where = f"<br>{domain}: {get(row, 'attributes') or ''}" if isinstance(domain, str) else ""
        texts.append(f"<b>{get(row, 'machine_type') or ''} {get(row, 'machine_id') or ''}</b>{where}"
                     f"<br>{label_name(get(row, 'label'))}<br>score {fmt(get(row, 'score'))}"
                     f"<br>angle {fmt(get(row, 'angle_to_centre_deg'), '.1f')}°<br>fault: {fault}")
    return texts


def _legend_title(color_by: str) -> str:
    if color_by in ("machine_id", *CATEGORICAL_COLUMNS):
        return f"{COLOR_TITLES[color_by]} (◆ anomaly)"
    return "label"


def _plain(value):
    """numpy scalars -> Python ones, so customdata round-trips through JSON unchanged."""
    return value.item() if hasattr(value, "item") else value
