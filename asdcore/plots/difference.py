"""The difference view: what is new in a clip, against the training normals it resembles most.

    D(f, t) = L_clip(f, t) - (1/K) sum_k L_k(f, t)            (dB)

L_clip is the clip's log-mel as the model saw it, L_k the log-mels of its K nearest training normals
(asdcore.alarms.nearest_training_clips: the cosine neighbours of its embedding), all cut to the
run's clip length.  A difference of log-mels is the log of a power ratio: +6 dB is four times the
power of the normals' mean (in the log domain, i.e. their geometric mean) in that mel band and frame.
Red (D > 0): louder than the normals, energy the normals lack (a whine, a knock, a rattle); blue
(D < 0): quieter, energy missing.  The scale is symmetric about 0, so white means "as its normals".
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .spectrogram import _as_logmel, add_fault_span, frame_times
from .style import apply_style, note_figure

# a diverging scale, blue - white - red (ColorBrewer RdBu reversed: red for more energy), which stays
# readable under the common colour-vision deficiencies (the red and blue differ in lightness too)
DIFFERENCE_SCALE = "RdBu_r"
CLIP_PERCENTILE = 99.0  # the colour range: the 99th percentile of |D|, so one loud click does not wash out the rest
DIFFERENCE_NOTE = ("Red: louder in this clip than in its nearest training normals (energy they lack: what is new); "
                   "blue: quieter (energy missing); white: as its normals. dB = this clip's log-mel minus the mean "
                   "log-mel of the normals listed above (of its own ID's nearest, where the note above says so).")


def logmel_difference(logmel, reference_logmels) -> np.ndarray:
    """D = the clip's (F, T) log-mel minus the mean of the reference (F, T) log-mels, in dB."""
    clip = _as_logmel(logmel)
    references = [_as_logmel(r) for r in reference_logmels]
    if not references:
        raise ValueError("no reference log-mels to subtract (the clip has no nearest training normals)")
    shapes = {r.shape for r in references}
    if shapes != {clip.shape}:
        raise ValueError(f"the log-mels differ in shape: clip {clip.shape}, references {sorted(shapes)} "
                         "(they must be cut to the same clip length with the same settings)")
    return clip - np.mean(np.stack(references), axis=0)


def difference_figure(logmel, reference_logmels, sample_rate: int = 16000, hop_length: int = 512,
                      fault_span: tuple[float, float] | None = None, fault_kind: str | None = None,
                      title: str = "") -> go.Figure:
    """The difference view: heatmap of logmel_difference() on a diverging scale centred on 0 dB, time (s)
    on x, mel bin on y, the fault's true span shaded when known.  With no reference log-mel, a figure
    that says so."""
    references = [r for r in reference_logmels if r is not None]
    if not references:
        return note_figure("no nearest training normals to compare with", title or "What is new in this clip")
    diff = logmel_difference(logmel, references)
    finite = np.abs(diff[np.isfinite(diff)])
    limit = float(np.percentile(finite, CLIP_PERCENTILE)) if finite.size else 1.0
    limit = max(limit, 1.0)  # a clip equal to its normals stays white, not a magnified noise floor
    fig = go.Figure(go.Heatmap(
        z=diff, x=frame_times(diff.shape[1], sample_rate, hop_length), y=np.arange(diff.shape[0]),
        colorscale=DIFFERENCE_SCALE, zmid=0.0, zmin=-limit, zmax=limit,
        colorbar=dict(title="dB vs<br>normals"), name="difference",
        hovertemplate="%{x:.2f} s, mel bin %{y}: %{z:+.1f} dB<extra></extra>"))
    add_fault_span(fig, fault_span, fault_kind)
    fig.update_layout(title=title or f"What is new: this clip minus the mean of its {len(references)} nearest "
                                     "training normals")
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="mel bin")
    return apply_style(fig, height=380)
