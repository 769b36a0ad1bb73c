"""Figures of estimates with their 95 % intervals (the lessons draw them): a value per group with
its interval as an error bar, and paired differences as a forest plot around zero."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import CATEGORICAL, COLORS, apply_style


def interval_bars(table: pd.DataFrame, group: str, series: str, value: str = "value", low: str = "low",
                  high: str = "high", colors: dict | None = None, title: str = "", y_title: str = "",
                  percent: bool = True) -> go.Figure:
    """Grouped bars: one bar per (group, series) row of `table` at `value`, its interval [low, high] as an
    error bar.  Values are fractions; percent=True draws them in %."""
    scale = 100.0 if percent else 1.0
    fig = go.Figure()
    for i, (name, rows) in enumerate(table.groupby(series, sort=False)):
        v = rows[value].to_numpy(dtype=float) * scale
        fig.add_bar(x=rows[group], y=v, name=str(name),
                    marker_color=(colors or {}).get(name, CATEGORICAL[i % len(CATEGORICAL)]),
                    error_y=dict(type="data", symmetric=False, array=rows[high].to_numpy(dtype=float) * scale - v,
                                 arrayminus=v - rows[low].to_numpy(dtype=float) * scale, thickness=1.5),
                    hovertemplate="%{x}: %{y:.1f}" + (" %" if percent else "") + "<extra>" + str(name) + "</extra>")
    fig.update_layout(barmode="group", title=title, legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    fig.update_yaxes(title_text=y_title, range=[0, 105] if percent else None)
    return apply_style(fig, height=360)


def difference_forest(rows: pd.DataFrame, name: str = "name", difference: str = "difference",
                      low: str = "ci_low", high: str = "ci_high", title: str = "",
                      x_title: str = "AUC difference (points)") -> go.Figure:
    """A forest plot: one row per comparison (its `name`), the paired difference as a dot with its
    95 % interval, zero as a dashed line.  A row whose interval crosses zero is grey: within the noise;
    one beyond it takes the normal (above 0) or anomaly colour (below).  Differences are fractions,
    drawn in AUC points (x 100)."""
    d, lo, hi = (rows[c].to_numpy(dtype=float) * 100 for c in (difference, low, high))
    within = (lo <= 0) & (0 <= hi)
    colours = np.where(within, COLORS["neutral"], np.where(d > 0, COLORS["normal"], COLORS["anomaly"]))
    labels = rows[name].astype(str).tolist()
    fig = go.Figure(go.Scatter(
        x=d, y=labels, mode="markers", marker=dict(size=10, color=colours),
        error_x=dict(type="data", symmetric=False, array=hi - d, arrayminus=d - lo, thickness=1.5),
        customdata=np.stack([lo, hi], axis=1),
        hovertemplate="%{y}: %{x:+.2f} [%{customdata[0]:+.2f}, %{customdata[1]:+.2f}]<extra></extra>",
        showlegend=False))
    fig.add_vline(x=0, line=dict(color=COLORS["boundary"], dash="dash", width=1))
    fig.update_layout(title=title)
    fig.update_xaxes(title_text=x_title)
    # first row on top, as read
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=labels)
    return apply_style(fig, height=max(240, 60 + 28 * len(labels)))
