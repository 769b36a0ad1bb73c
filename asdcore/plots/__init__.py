"""Every plotly figure of the app and the notebooks.  No Streamlit here: builders take plain data
(clips.parquet DataFrames, numpy arrays, metrics rows) and return a plotly.graph_objects.Figure.

    angle_separation(normal_deg, anomaly_deg)            -> dict (auc, median_gap_deg, overlap, ...)
    angle_histograms(panels, machine_type, machine_id)   Noisy-ArcMix Fig. 1, one panel per run
    embedding_scatter(clips, color_by, projection, train, highlight)
                                                         UMAP / PCA map; customdata[0] = index in clips
    spectrogram_figure(logmel) / attention_figure(logmel, weights, fault_span=, fault_kind=)
    spectrogram_image(logmel, fault_span=)               an RGB array: a preview with no plotly.js
    difference_figure(logmel, reference_logmels)         the clip minus its nearest normals' mean log-mel (dB)
    training_curves(history)                             loss and accuracy per epoch, selected marked
    score_histogram(clips, threshold) / roc_figure(clips)
    target_logit_curves(s, m, lam) / decision_boundaries(m) / embedding_circle(points, labels, centres)
                                                         the margin lab

Normal is always COLORS["normal"] (blue), anomaly COLORS["anomaly"] (vermillion); palettes are
colour-blind safe (Okabe-Ito, Paul Tol, viridis).  apply_style(fig) gives any figure the look.
"""
from .angles import angle_histograms, angle_separation
from .difference import DIFFERENCE_NOTE, difference_figure, logmel_difference
from .embedding import HIGHLIGHT_TRACE, TRAIN_TRACE, embedding_scatter
from .images import spectrogram_image
from .margins import (arcface_boundary_angles, decision_boundaries, embedding_circle, mixed_sample_losses,
                      target_logit_curves)
from .scores import roc_figure, score_histogram, threshold_counts
from .spectrogram import ATTENTION_TRACE, attention_figure, frame_times, spectrogram_figure
from .style import CATEGORICAL, COLORS, CONTINUOUS, apply_style
from .training import selected_epoch, training_curves

__all__ = [
    "COLORS", "CATEGORICAL", "CONTINUOUS", "apply_style",
    "angle_separation", "angle_histograms",
    "embedding_scatter", "TRAIN_TRACE", "HIGHLIGHT_TRACE",
    "spectrogram_figure", "attention_figure", "frame_times", "ATTENTION_TRACE", "spectrogram_image",
    "difference_figure", "logmel_difference", "DIFFERENCE_NOTE",
    "training_curves", "selected_epoch",
    "score_histogram", "threshold_counts", "roc_figure",
    "target_logit_curves", "mixed_sample_losses", "decision_boundaries", "arcface_boundary_angles",
    "embedding_circle",
]
