"""Fig. 1 of the Noisy-ArcMix paper: how far (by angle) test clips lie from their class centre.

angle = degrees(arccos(<norm(e), norm(W_y)>)) for a test embedding e and its own machine ID's
centre W_y (the run folder's `angle_to_centre_deg`).  A margin loss should keep normal clips
close to their centre and let anomalies drift away: the two histograms should separate.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import (COLORS, apply_style, filter_clips, finite, fmt, grid_shape, has_values, note_figure,
                    subplot_axis_refs)

ANGLE = "angle_to_centre_deg"
NO_ANGLES = "no angles: this model has no class centres"
DOMAINS = ("source", "target")
# target-domain histograms are hatched, in their label's colour
DOMAIN_PATTERN = {"source": "", "target": "/"}


def angle_separation(normal_deg, anomaly_deg, bins_deg: float = 2.0, max_deg: float = 120.0) -> dict:
    """How well anomalies' angles separate from normals' (NaN-safe; empty inputs give NaN).

    auc             P(anomaly angle > normal angle) + 0.5 P(tie): the Mann-Whitney U statistic
                    / (n_a n_n), from the ranks of the pooled angles (ties get their mean rank)
    median_gap_deg  median anomaly angle - median normal angle
    overlap         sum_b min(p_normal(b), p_anomaly(b)), the intersection of the two normalised
                    histograms on [0, max_deg] in bins_deg bins (angles beyond max_deg count in the
                    last bin): 1 = identical, 0 = disjoint
    plus n_normal, n_anomaly, median_normal_deg, median_anomaly_deg.
    """
    normal, anomaly = finite(normal_deg), finite(anomaly_deg)
    out = dict(auc=float("nan"), median_gap_deg=float("nan"), overlap=float("nan"),
               n_normal=int(normal.size), n_anomaly=int(anomaly.size),
               median_normal_deg=float(np.median(normal)) if normal.size else float("nan"),
               median_anomaly_deg=float(np.median(anomaly)) if anomaly.size else float("nan"))
    if normal.size == 0 or anomaly.size == 0:
        return out
    out["median_gap_deg"] = out["median_anomaly_deg"] - out["median_normal_deg"]
    # Mann-Whitney: U_a = R_a - n_a (n_a + 1) / 2, AUC = U_a / (n_a n_n)
    ranks = pd.Series(np.concatenate([normal, anomaly])).rank(method="average").to_numpy()
    n_n, n_a = normal.size, anomaly.size
    out["auc"] = float((ranks[n_n:].sum() - n_a * (n_a + 1) / 2) / (n_a * n_n))
    out["overlap"] = histogram_overlap(normal, anomaly, bins_deg, max_deg)
    return out


def histogram_overlap(a: np.ndarray, b: np.ndarray, bins_deg: float, max_deg: float) -> float:
    """Intersection of the normalised histograms of a and b on [0, max_deg]."""
    edges = np.arange(0.0, max_deg + bins_deg / 2, bins_deg)
    p_a = np.histogram(np.clip(a, 0.0, max_deg), edges)[0] / a.size
    p_b = np.histogram(np.clip(b, 0.0, max_deg), edges)[0] / b.size
    return float(np.minimum(p_a, p_b).sum())


def separation_text(sep: dict) -> str:
    """The numbers shown inside each panel."""
    return (f"AUC {fmt(sep['auc'], '.3f')}<br>median gap {fmt(sep['median_gap_deg'], '+.1f')}°"
            f"<br>overlap {fmt(sep['overlap'], '.2f')}")


def domain_separation(clips: pd.DataFrame) -> dict[str, dict]:
    """angle_separation per domain, as DCASE 2021-2023 score a domain: that domain's normals
    against all the anomalies shown (both domains).  {} when the clips name no domain."""
    if "domain" not in clips.columns or clips["domain"].isna().all():
        return {}
    anomalies = clips.loc[clips["label"] == 1, ANGLE]
    return {d: angle_separation(clips.loc[(clips["label"] == 0) & (clips["domain"] == d), ANGLE], anomalies)
            for d in DOMAINS if (clips["domain"] == d).any()}


def angle_histograms(panels: dict[str, pd.DataFrame], machine_type=None, machine_id=None,
                     bins_deg: float = 2.0, max_deg: float = 120.0, density: bool = False,
                     title: str | None = None, split_domain: bool = False) -> go.Figure:
    """Noisy-ArcMix Fig. 1: one panel per run (dict key = panel title), normal vs anomalous
    histograms of `angle_to_centre_deg` on 0-max_deg degrees, y shared ("clips", or a density
    per degree with density=True), separation numbers inside each panel.  Panels wrap past 4.
    split_domain (DCASE 2021-2023 data): one histogram per label and domain, the target domain's
    hatched, and each domain's angle AUC in the panel.
    """
    names = list(panels)
    if not names:
            return note_figure("no runs to compare", title or "")
    rows, cols = grid_shape(len(names))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, shared_yaxes="all",
                        horizontal_spacing=0.04, vertical_spacing=0.16)
    histnorm = "probability density" if density else ""
    for i, name in enumerate(names):
        row, col = divmod(i, cols)
        clips = filter_clips(panels[name], machine_type, machine_id)
        if not has_values(clips, ANGLE):
            # an empty trace keeps the panel's axes drawn (plotly.js hides subplots with no data)
            fig.add_trace(go.Scatter(x=[], y=[], showlegend=False, hoverinfo="skip", name="empty panel"),
                          row=row + 1, col=col + 1)
            _panel_note(fig, i, NO_ANGLES if not has_values(panels[name], ANGLE) else "no clips match the filter")
            continue
        by_domain = split_domain and "domain" in clips.columns and clips["domain"].notna().any()
        for label, kind in ((0, "normal"), (1, "anomaly")):
            for domain in DOMAINS if by_domain else (None,):
                rows_of = (clips["label"] == label) & ((clips["domain"] == domain) if domain else True)
                trace = f"{kind} · {domain}" if domain else kind
                fig.add_trace(go.Histogram(
                    x=finite(clips.loc[rows_of, ANGLE]), name=trace, legendgroup=trace, showlegend=(i == 0),
                    marker=dict(color=COLORS[kind], line=dict(width=0),
                                pattern=dict(shape=DOMAIN_PATTERN[domain] if domain else "", solidity=0.5)),
                    opacity=0.6, histnorm=histnorm,
                    xbins=dict(start=0.0, end=max_deg, size=bins_deg), autobinx=False,
                    hovertemplate=f"{trace}<br>%{{x}}°: %{{y}}<extra>{name}</extra>"),
                    row=row + 1, col=col + 1)
        sep = angle_separation(clips.loc[clips["label"] == 0, ANGLE], clips.loc[clips["label"] == 1, ANGLE],
                               bins_deg, max_deg)
        beyond = int((finite(clips[ANGLE]) > max_deg).sum())
        text = separation_text(sep) + (f"<br>{beyond} clip(s) beyond {max_deg:g}°" if beyond else "")
        if by_domain:
            text += "".join(f"<br>{d} AUC {fmt(v['auc'], '.3f')}" for d, v in domain_separation(clips).items())
        _panel_note(fig, i, text, corner=True)
    # four legend entries (split by domain) would run into the title: they go under the panels
    legend = dict(orientation="h", y=-0.12 - 0.1 / rows, x=0, xanchor="left", yanchor="top") if split_domain else \
        dict(orientation="h", y=1.02 + 0.08 / rows, x=1, xanchor="right", yanchor="bottom")
    fig.update_layout(barmode="overlay", title=title or _title(machine_type, machine_id), legend=legend)
    # four panels a row leave no room for the long axis title: the figure title says it
    x_title = "angle to own class centre (degrees)" if cols <= 3 else "angle (degrees)"
    fig.update_xaxes(range=[0, max_deg], dtick=30, title_text=x_title)
    fig.update_yaxes(title_text="density (per degree)" if density else "clips", col=1)
    return apply_style(fig, height=330 * rows + 80)


def _title(machine_type, machine_id) -> str:
    what = " ".join(str(v) for v in (machine_type, machine_id) if v is not None) or "all machines"
    return f"Angle between each test clip's embedding and its class centre ({what})"


def _panel_note(fig: go.Figure, i: int, text: str, corner: bool = False) -> None:
    """Text inside panel i: top-right corner (the numbers) or centred (why the panel is empty)."""
    xref, yref = subplot_axis_refs(i)
    fig.add_annotation(text=text, xref=xref, yref=yref, showarrow=False,
                       x=0.98 if corner else 0.5, y=0.97 if corner else 0.5,
                       xanchor="right" if corner else "center", yanchor="top" if corner else "middle",
                       align="right" if corner else "center", bgcolor="rgba(255,255,255,0.8)",
                       font=dict(size=12, color="#222222" if corner else COLORS["neutral"]))
