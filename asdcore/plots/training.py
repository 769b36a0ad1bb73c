"""Training curves from a run's metrics.jsonl (one dict per finished epoch, see asdcore.runs)."""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import COLORS, apply_style, note_figure

PANELS = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_acc", "val_acc")))
CURVE_NAMES = {"train_loss": "training loss", "val_loss": "validation loss",
               "train_acc": "training accuracy", "val_acc": "validation accuracy"}
SELECTED_TRACE = "selected epoch"


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def selected_epoch(history: list[dict]):
    """The epoch whose weights model.pt holds: the last row marked "selected": true (None if none)."""
    chosen = [_epoch(row, i) for i, row in enumerate(history) if row.get("selected")]
    return chosen[-1] if chosen else None


def _epoch(row: dict, i: int):
    return row.get("epoch", i + 1)


def training_curves(history: list[dict], title: str = "Training curves") -> go.Figure:
    """Loss (train_loss, val_loss) and accuracy (train_acc, val_acc) against epoch, side by side.
    Missing keys are skipped; the selected epoch gets a star on every curve and a dotted line."""
    if not history:
        return note_figure("no finished epoch yet", title)
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p for p, _ in PANELS], horizontal_spacing=0.1)
    chosen = selected_epoch(history)
    for col, (_, keys) in enumerate(PANELS, start=1):
        for key in keys:
            points = [(_epoch(r, i), _number(r.get(key))) for i, r in enumerate(history)]
            points = [(e, v) for e, v in points if v is not None]
            if not points:
                continue
            color = COLORS["train_curve"] if key.startswith("train") else COLORS["validation_curve"]
            dash = "solid" if key.startswith("train") else "dash"
            epochs, values = zip(*points)
            fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=CURVE_NAMES[key],
                                     line=dict(color=color, dash=dash, width=2), marker=dict(size=5)),
                          row=1, col=col)
            marked = [(e, v) for e, v in points if e == chosen]
            if marked:
                fig.add_trace(go.Scatter(x=[marked[0][0]], y=[marked[0][1]], mode="markers",
                                         name=SELECTED_TRACE, legendgroup=SELECTED_TRACE,
                                         showlegend=not any(t.name == SELECTED_TRACE for t in fig.data),
                                         marker=dict(symbol="star", size=16, color=color,
                                                     line=dict(color="black", width=1)),
                                         hovertemplate=f"selected epoch %{{x}}: %{{y:.4g}}<extra>{CURVE_NAMES[key]}</extra>"),
                              row=1, col=col)
        if chosen is not None:
            fig.add_vline(x=chosen, line=dict(color=COLORS["neutral"], dash="dot"), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss", col=1)
    fig.update_yaxes(title_text="accuracy", col=2)
    suffix = f" (selected epoch {chosen})" if chosen is not None else ""
    fig.update_layout(title=title + suffix, hovermode="x unified")
    return apply_style(fig, height=380)
