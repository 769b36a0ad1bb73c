"""The DCASE 2020 Task 2 official baseline: a dense autoencoder on 5 consecutive log-mel frames.

Input: windows of 5 consecutive frames concatenated frame by frame (5 x 128 = 640 values; frame
t of the window fills entries t*128 .. t*128+127), every window of the clip (T - 4 of them).
Dense 128, 128, 128, 128, 8, 128, 128, 128, 128, each followed by BatchNorm and ReLU, then a
linear Dense back to 640 (REFERENCE.md, "DCASE 2020 autoencoder baseline").  Trained with MSE;
the anomaly score of a clip is the reconstruction MSE averaged over all of its windows.
It uses no class labels, so it works with a single machine ID.
"""
from __future__ import annotations

import torch
from torch import nn

from .output import ModelOutput


def frame_windows(logmel: torch.Tensor, n_context: int = 5) -> torch.Tensor:
    """(B, F, T) -> (B, T - n_context + 1, n_context * F): every run of n_context frames, flattened."""
    b, f, t = logmel.shape
    if t < n_context:
        raise ValueError(f"a clip needs at least {n_context} frames, got {t}")
    windows = logmel.unfold(-1, n_context, 1)  # (B, F, W, n_context)
    return windows.permute(0, 2, 3, 1).reshape(b, t - n_context + 1, n_context * f)


class DCASEAutoencoder(nn.Module):
    """forward(waveform, logmel) -> ModelOutput with reconstruction_error (B,); the waveform is unused."""

    kind = "autoencoder"

    def __init__(self, n_mels: int = 128, n_context: int = 5, hidden_dim: int = 128, bottleneck_dim: int = 8,
                 n_hidden_layers: int = 4, num_classes: int | None = None, n_frames: int | None = None):
        # num_classes and n_frames are accepted so every model takes the same config; unused here.
        super().__init__()
        self.n_mels, self.n_context = n_mels, n_context
        input_dim = n_mels * n_context

        def dense(i: int, o: int) -> list[nn.Module]:
            return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]

        widths = [input_dim] + [hidden_dim] * n_hidden_layers + [bottleneck_dim]
        encoder = [m for i, o in zip(widths[:-1], widths[1:]) for m in dense(i, o)]
        widths = [bottleneck_dim] + [hidden_dim] * n_hidden_layers
        decoder = [m for i, o in zip(widths[:-1], widths[1:]) for m in dense(i, o)]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder, nn.Linear(hidden_dim, input_dim))

    def forward(self, waveform: torch.Tensor | None, logmel: torch.Tensor) -> ModelOutput:
        if logmel.dim() != 3 or logmel.shape[1] != self.n_mels:
            raise ValueError(f"logmel must be (B, {self.n_mels}, T), got {tuple(logmel.shape)}")
        x = frame_windows(logmel, self.n_context)  # (B, W, 640)
        b, w, d = x.shape
        code = self.encoder(x.reshape(b * w, d))  # BatchNorm over all windows of the batch
        reconstruction = self.decoder(code).view(b, w, d)
        error = (reconstruction - x).pow(2).mean(dim=(1, 2))  # mean over windows and the 640 values
        return ModelOutput(embedding=code.view(b, w, -1).mean(dim=1), reconstruction_error=error)

    def anomaly_score(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B,) per-clip score: the reconstruction MSE averaged over all 5-frame windows.

        Uses the module's current mode: call .eval() first to score with the BatchNorm statistics.
        """
        return self.forward(None, logmel).reconstruction_error
