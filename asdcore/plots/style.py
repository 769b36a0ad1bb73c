"""One look for every figure: the colours, the template, and a few small shared helpers.

Colours are from the Okabe-Ito and Paul Tol palettes, both designed to stay distinguishable
under the common colour-vision deficiencies.  Normal is always blue and anomaly always
vermillion (a red-orange), in every figure of the app and the notebooks.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

COLORS = {
    "normal": "#0072B2",    # Okabe-Ito blue
    "anomaly": "#D55E00",   # Okabe-Ito vermillion
    "train": "#BBBBBB",     # light grey: context, not the subject
    "train_points": "#8C8C8C",  # training normals on a map: large mid-grey halos behind the coloured test clips
    "highlight": "#000000",
    "boundary": "#444444",
    "neutral": "#777777",
    "train_curve": "#009E73",       # training curves: neither normal nor anomaly colours
    "validation_curve": "#CC79A7",
}

# Categories (machine IDs, classes, runs): Okabe-Ito without its blue and vermillion (kept for
# normal / anomaly), then Paul Tol's "muted" scheme.  Past 15 categories colours repeat, so the
# builders also vary the marker symbol or line dash.
CATEGORICAL = [
    "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#000000", "#F0E442",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
]
# More categories than CATEGORICAL holds (the toy data's 23 machine IDs on one map): plotly's
# "Dark24", 24 colours picked to differ from each other, rather than 15 colours used twice.  No
# palette of 24 stays distinct under colour-vision deficiencies; the hover names every point.
MANY_CATEGORIES = [
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB",
    "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
    "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
]
SYMBOLS = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down", "pentagon", "star"]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash"]

# Continuous values (score, angle): viridis is perceptually uniform and colour-blind safe.
CONTINUOUS = "Viridis"
SPECTROGRAM = "Viridis"

LABEL_NAMES = {0: "normal", 1: "anomaly"}


# plotly_white's look, set directly: a named template is copied into every figure (~15 ms each,
# ~0.2 s for a process's first) and sent with it.  In the app, st.plotly_chart's theme adds
# Streamlit's fonts and colours on top.
GRID = "#EBF0F8"
AXES = dict(gridcolor=GRID, linecolor=GRID, zerolinecolor=GRID, ticks="", automargin=True)


def apply_style(fig: go.Figure, height: int | None = None) -> go.Figure:
    """The shared look: white background, light grid, readable font, left-aligned title."""
    fig.update_layout(
        template=None,
        paper_bgcolor="white", plot_bgcolor="white",
        font=dict(size=13),
        title=dict(x=0.01, xanchor="left"),
        colorway=CATEGORICAL,
        margin=dict(l=60, r=30, t=70, b=55),
        legend=dict(bgcolor="rgba(255,255,255,0.7)"),
        hoverlabel=dict(font_size=12),
    )
    fig.update_xaxes(**AXES)
    fig.update_yaxes(**AXES)
    if height is not None:
        fig.update_layout(height=height)
    return fig


def palette(n: int | None = None) -> list[str]:
    """The colours for n categories: the colour-blind-safe CATEGORICAL while it suffices, else
    MANY_CATEGORIES, so that up to 24 categories never share a colour."""
    return MANY_CATEGORIES if n is not None and n > len(CATEGORICAL) else CATEGORICAL


def category_color(i: int, n: int | None = None) -> str:
    """The i-th of n categories' colour (n unknown: the colour-blind-safe list, repeating)."""
    colours = palette(n)
    return colours[i % len(colours)]


def category_symbol(i: int, n: int | None = None) -> str:
    """The i-th symbol, changing only once the colours have all been used."""
    return SYMBOLS[(i // len(palette(n))) % len(SYMBOLS)]


def category_dash(i: int) -> str:
    return DASHES[(i // len(CATEGORICAL)) % len(DASHES)]


def label_name(label) -> str:
    """0/1 (or bools, or NaN) -> "normal" / "anomaly" / "unlabelled"."""
    try:
        return LABEL_NAMES[int(label)]
    except (TypeError, ValueError, KeyError):
        return "unlabelled"


def finite(values) -> np.ndarray:
    """A 1-D float array with NaN and inf removed (None, empty and missing give an empty array)."""
    if values is None:
        return np.empty(0)
    arr = np.asarray(pd.to_numeric(pd.Series(np.ravel(values)), errors="coerce"), dtype=float)
    return arr[np.isfinite(arr)]


def has_values(df: pd.DataFrame | None, column: str) -> bool:
    """True when df has `column` with at least one finite value."""
    return df is not None and column in df.columns and finite(df[column]).size > 0


def filter_clips(clips: pd.DataFrame, machine_type=None, machine_id=None, domain=None,
                 attributes=None) -> pd.DataFrame:
    """Rows of one machine type, ID / section, domain ("source"/"target") and attribute values
    ("vel=8;loc=A"), each when given (compared as text: "id_00" and "00" are both text).  A table
    without the column keeps no row for a domain or attribute filter: nothing there matches it."""
    keep = pd.Series(True, index=clips.index)
    for column, value in (("machine_type", machine_type), ("machine_id", machine_id), ("domain", domain),
                          ("attributes", attributes)):
        if value is None:
            continue
        if column in clips.columns:
            keep &= clips[column].astype(str) == str(value)
        elif column in ("domain", "attributes"):
            keep &= False
    return clips[keep]


def subplot_axis_refs(i: int) -> tuple[str, str]:
    """The (xref, yref) "domain" references of the i-th subplot (0-based, row-major order)."""
    suffix = "" if i == 0 else str(i + 1)
    return f"x{suffix} domain", f"y{suffix} domain"


def grid_shape(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, cols) for n panels side by side, wrapping past max_cols."""
    cols = max(1, min(n, max_cols))
    return max(1, math.ceil(n / cols)), cols


def note_figure(text: str, title: str = "") -> go.Figure:
    """An empty figure that says why there is nothing to draw (instead of raising in the app)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=15, color=COLORS["neutral"]))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title)
    return apply_style(fig)


def fmt(value, spec: str = ".3f", missing: str = "—") -> str:
    """A number for hover text and annotations; NaN / None read as a dash."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return missing
    return format(value, spec) if math.isfinite(value) else missing
