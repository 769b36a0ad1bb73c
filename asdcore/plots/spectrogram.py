"""Log-mel spectrograms, and the TAgram temporal attention drawn over them.

TAgram (TASTgram-MFN): per frame, max-pool + avg-pool of the log-mel over the mel axis,
summed, through a sigmoid: one weight in (0, 1) per frame, a soft energy gate along time.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import COLORS, SPECTROGRAM, apply_style

ATTENTION_TRACE = "temporal attention (TAgram)"


def frame_times(n_frames: int, sample_rate: int = 16000, hop_length: int = 512) -> np.ndarray:
    """Time of each frame's centre in seconds: frame t is centred on sample t * hop."""
    return np.arange(n_frames) * hop_length / sample_rate


def _as_logmel(logmel) -> np.ndarray:
    """(F, T) float array from an array or tensor, dropping leading singleton axes (1, F, T)."""
    if hasattr(logmel, "detach"):
        logmel = logmel.detach().cpu().numpy()
    arr = np.asarray(logmel, dtype=np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"logmel must be (F, T), got shape {arr.shape}")
    return arr


def _heatmap(logmel: np.ndarray, sample_rate: int, hop_length: int, colorbar_x: float | None = None) -> go.Heatmap:
    colorbar = dict(title="dB") if colorbar_x is None else dict(title="dB", x=colorbar_x)
    return go.Heatmap(z=logmel, x=frame_times(logmel.shape[1], sample_rate, hop_length),
                      y=np.arange(logmel.shape[0]), colorscale=SPECTROGRAM, colorbar=colorbar,
                      name="log-mel", hovertemplate="%{x:.2f} s, mel bin %{y}: %{z:.1f} dB<extra></extra>")


def spectrogram_figure(logmel, sample_rate: int = 16000, hop_length: int = 512, title: str = "") -> go.Figure:
    """Heatmap of a (F, T) log-mel in dB: time (s) on x, mel bin on y, a dB colour bar."""
    logmel = _as_logmel(logmel)
    fig = go.Figure(_heatmap(logmel, sample_rate, hop_length))
    fig.update_layout(title=title or "Log-mel spectrogram")
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="mel bin")
    return apply_style(fig, height=360)


def attention_figure(logmel, weights=None, sample_rate: int = 16000, hop_length: int = 512,
                     fault_span: tuple[float, float] | None = None, fault_kind: str | None = None,
                     title: str = "") -> go.Figure:
    """The log-mel with the TAgram per-frame weights as a line on a secondary y axis (0..1),
    and the fault's true span (onset_s, offset_s) shaded and labelled "fault: <kind>".
    weights=None draws the spectrogram (and the span) alone.
    """
    logmel = _as_logmel(logmel)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    # the colour bar moves right, clear of the secondary axis's ticks
    fig.add_trace(_heatmap(logmel, sample_rate, hop_length, colorbar_x=1.07 if weights is not None else None),
                  secondary_y=False)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float32).ravel()
        t = frame_times(w.size, sample_rate, hop_length)
        # a black halo under a white line keeps the curve legible on any part of the colour scale
        fig.add_trace(go.Scatter(x=t, y=w, mode="lines", line=dict(color="black", width=5), opacity=0.6,
                                 hoverinfo="skip", showlegend=False), secondary_y=True)
        fig.add_trace(go.Scatter(x=t, y=w, mode="lines", name=ATTENTION_TRACE, line=dict(color="white", width=2),
                                 hovertemplate="%{x:.2f} s: weight %{y:.3f}<extra></extra>"), secondary_y=True)
        fig.update_yaxes(title_text="temporal attention weight", range=[0, 1.02], secondary_y=True,
                         showgrid=False)
    add_fault_span(fig, fault_span, fault_kind)
    fig.update_layout(title=title or ("Log-mel with TAgram temporal attention" if weights is not None
                                      else "Log-mel spectrogram"),
                      legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"))
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="mel bin", secondary_y=False)
    return apply_style(fig, height=380)


def add_fault_span(fig: go.Figure, fault_span: tuple[float, float] | None, fault_kind: str | None = None) -> None:
    """The fault's true span (onset_s, offset_s), shaded and labelled "fault: <kind>", when there is one."""
    if fault_span is None or not all(np.isfinite(np.asarray(fault_span[:2], dtype=float))):
        return
    onset, offset = float(fault_span[0]), float(fault_span[1])
    fig.add_vrect(x0=onset, x1=offset, fillcolor=COLORS["anomaly"], opacity=0.2, layer="above",
                  line=dict(color=COLORS["anomaly"], width=2, dash="dash"),
                  annotation_text=f"fault: {fault_kind}" if fault_kind else "fault",
                  annotation_position="top left", annotation_font=dict(color="white", size=13),
                  annotation_bgcolor=COLORS["anomaly"])
