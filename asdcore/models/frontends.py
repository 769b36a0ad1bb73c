"""Front-ends that turn a waveform or a log-mel into one more (n_mels, T) channel for MobileFaceNet.

TgramNet      waveform -> learned "spectrogram" (STgram-MFN).
TemporalAttention  log-mel -> TAgram, a per-frame energy gate (TASTgram-MFN / Noisy-ArcMix).
TFgramNet     waveform -> TFgram (OS-SCL Table I, only the modules the forward pass uses).

Frame alignment: every channel is brought to the log-mel's frame count T, so the channels
stack whatever the clip length.  The Tgram's strided conv (k = win, s = hop, p = win / 2) gives
L // hop + 1 frames, exactly the centred STFT's count with the same hop; should the two ever
differ (another hop, another padding) `align_frames` crops the extra frames at the end or
repeats the last frame.  TFgram ends in adaptive max-pools to 2T and T, so it is aligned by
construction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def align_frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Crop (..., T') to (..., n_frames) at the end, or pad it there by repeating the last frame."""
    t = x.shape[-1]
    if t == n_frames:
        return x
    if t > n_frames:
        return x[..., :n_frames]
    pad = x[..., -1:].expand(*x.shape[:-1], n_frames - t)
    return torch.cat([x, pad], dim=-1)


class TimeLayerNorm(nn.Module):
    """LayerNorm over the time axis of (B, C, T), with one affine gain and bias per frame.

    This is STgram's nn.LayerNorm(313) on (B, 128, 313): each channel's time series is
    normalised over its T frames.  The per-frame affine has the configured n_frames entries; for
    another T it is linearly resampled to T so any clip length runs (exact at the configured T).
    """

    def __init__(self, n_frames: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_frames))
        self.bias = nn.Parameter(torch.zeros(n_frames))

    def _resampled(self, p: torch.Tensor, t: int) -> torch.Tensor:
        if p.shape[0] == t:
            return p
        return F.interpolate(p.view(1, 1, -1), size=t, mode="linear", align_corners=True).view(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        return F.layer_norm(x, (t,), self._resampled(self.weight, t), self._resampled(self.bias, t), self.eps)


class TgramNet(nn.Module):
    """Waveform (B, L) -> Tgram (B, n_mels, T).

    Conv1d(1 -> n_mels, k = win, s = hop, p = win / 2, no bias) is a learned filterbank with the
    STFT's framing; then `n_layers` x [LayerNorm over time -> LeakyReLU(0.2) -> Conv1d(k3, p1,
    no bias)], no residual.  280 k parameters at n_mels 128, T 313 (REFERENCE.md).
    """

    def __init__(self, n_mels: int = 128, n_frames: int = 313, win_length: int = 1024,
                 hop_length: int = 512, n_layers: int = 3):
        super().__init__()
        self.extractor = nn.Conv1d(1, n_mels, win_length, hop_length, win_length // 2, bias=False)
        self.encoder = nn.Sequential(*[
            nn.Sequential(TimeLayerNorm(n_frames), nn.LeakyReLU(0.2), nn.Conv1d(n_mels, n_mels, 3, 1, 1, bias=False))
            for _ in range(n_layers)])

    def forward(self, waveform: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        x = self.extractor(waveform.unsqueeze(1))
        if n_frames is not None:
            x = align_frames(x, n_frames)  # align before the LayerNorms, so they see log-mel's T
        return self.encoder(x)


def temporal_attention_weights(logmel: torch.Tensor) -> torch.Tensor:
    """(B, F, T) -> (B, T): sigma(maxpool_f(X) + avgpool_f(X)), pools taken over the mel axis."""
    return torch.sigmoid(logmel.amax(dim=-2) + logmel.mean(dim=-2))


class TemporalAttention(nn.Module):
    """TAgram = sigma(maxpool_f(X) + avgpool_f(X)) * X, broadcast over the mel axis.

    X is the log-mel in dB, as it is (no normalisation).  No learnable parameters: a soft
    per-frame energy gate (Noisy-ArcMix paper, temporal attention of TASTgram-MFN).
    """

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (TAgram (B, F, T), per-frame weights (B, T)) so the app can draw the weights."""
        weights = temporal_attention_weights(logmel)
        return weights.unsqueeze(-2) * logmel, weights


class _DilatedWaveBlock(nn.Module):
    """Conv1d(k3, p1) + BN + ReLU, then Conv1d(k3, dilation 2, p2) + BN + ReLU (OS-SCL Table I)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, 1, padding=2, dilation=2, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class TFgramNet(nn.Module):
    """Waveform (B, L) -> TFgram (B, out_channels, T) (OS-SCL Table I).

    Conv1d(1 -> 64, k11, s5, p5) + BN + ReLU; block 64 -> 64 + max-pool 4;
    block 64 -> 128 + adaptive max-pool to 2T; block 128 -> 128 + adaptive max-pool to T.
    About 199 k parameters; none of the unused modules of the authors' code are built.
    """

    def __init__(self, out_channels: int = 128, width: int = 64):
        super().__init__()
        self.pre_conv = nn.Conv1d(1, width, 11, 5, 5, bias=False)
        self.pre_bn = nn.BatchNorm1d(width)
        self.block1 = _DilatedWaveBlock(width, width)
        self.block2 = _DilatedWaveBlock(width, out_channels)
        self.block3 = _DilatedWaveBlock(out_channels, out_channels)
        # Xavier-uniform convs and identity BN, as in the OS-SCL code
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.xavier_uniform_(module.weight)

    def forward(self, waveform: torch.Tensor, n_frames: int) -> torch.Tensor:
        x = F.relu(self.pre_bn(self.pre_conv(waveform.unsqueeze(1))))
        x = F.max_pool1d(self.block1(x), 4)
        x = F.adaptive_max_pool1d(self.block2(x), 2 * n_frames)
        return F.adaptive_max_pool1d(self.block3(x), n_frames)
