"""The papers' models: channels stacked in the papers' order -> MobileFaceNet -> [FPH] -> cosine head.

    STgram-MFN     [log-mel, Tgram]                 (Liu et al., ICASSP 2022)
    TASTgram-MFN   [Tgram, log-mel, TAgram]         (Noisy-ArcMix paper)
    TFSTgram-MFN   [log-mel, Tgram, TFgram] + FPH (ReLU)        (OS-SCL)
    Log-Mel-MFN    [log-mel] + FPH (LeakyReLU 0.01)             (OS-SCL's Log-Mel)

All are one class, `SpectrogramMFN`, configured by its channel list: the order of `channels` is
the order of the input planes, which is what distinguishes STgram from TASTgram.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .frontends import TemporalAttention, TFgramNet, TgramNet
from .heads import CosineHead, FeaturePerturbationHead
from .mobilefacenet import MobileFaceNet
from .output import ModelOutput

CHANNELS = ("logmel", "tgram", "tagram", "tfgram")
WAVEFORM_CHANNELS = ("tgram", "tfgram")  # channels computed from the waveform


class SpectrogramMFN(nn.Module):
    """forward(waveform (B, L), logmel (B, n_mels, T)) -> ModelOutput.

    channels:  names from CHANNELS, in the order they are stacked.
    n_mels, n_frames: the input size the model is built for (fixes the Tgram LayerNorm's
        per-frame affine and the GDC kernel); other clip lengths still run, see frontends.py
        and mobilefacenet.py for how they are adapted.
    feature_perturbation_head: None, "relu" or "leaky_relu".
    num_subcentres: sub-centres per class in the cosine head (sub-cluster AdaCos uses > 1).
    """

    kind = "classifier"

    def __init__(self, channels: Sequence[str], num_classes: int, n_mels: int = 128, n_frames: int = 313,
                 bottlenecks: str | Sequence[Sequence[int]] = "asd", embedding_dim: int = 128,
                 num_subcentres: int = 1, feature_perturbation_head: str | None = None, fph_dim: int = 64,
                 win_length: int = 1024, hop_length: int = 512):
        super().__init__()
        channels = tuple(channels)
        unknown = [c for c in channels if c not in CHANNELS]
        if not channels or unknown or len(set(channels)) != len(channels):
            raise ValueError(f"channels must be distinct names from {CHANNELS}, got {channels}")
        self.channels = channels
        self.n_mels, self.n_frames = n_mels, n_frames
        self.tgram = TgramNet(n_mels, n_frames, win_length, hop_length) if "tgram" in channels else None
        self.temporal_attention = TemporalAttention() if "tagram" in channels else None
        self.tfgram = TFgramNet(out_channels=n_mels) if "tfgram" in channels else None
        self.mobilefacenet = MobileFaceNet(len(channels), n_mels, n_frames, bottlenecks, embedding_dim)
        self.fph = (FeaturePerturbationHead(embedding_dim, fph_dim, feature_perturbation_head)
                    if feature_perturbation_head is not None else None)
        self.head = CosineHead(embedding_dim, num_classes, num_subcentres)

    @property
    def needs_waveform(self) -> bool:
        return any(c in WAVEFORM_CHANNELS for c in self.channels)

    def frontend(self, waveform: torch.Tensor | None, logmel: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The stacked input planes (B, len(channels), n_mels, T) and TAgram's weights (B, T) or None."""
        if logmel.dim() != 3 or logmel.shape[1] != self.n_mels:
            raise ValueError(f"logmel must be (B, {self.n_mels}, T), got {tuple(logmel.shape)}")
        if self.needs_waveform and (waveform is None or waveform.dim() != 2 or waveform.shape[0] != logmel.shape[0]):
            raise ValueError(f"channels {self.channels} need a waveform (B, L) with the log-mel's batch size")
        n_frames = logmel.shape[-1]
        planes, attention = {"logmel": logmel}, None
        if self.tgram is not None:
            planes["tgram"] = self.tgram(waveform, n_frames)
        if self.temporal_attention is not None:
            planes["tagram"], attention = self.temporal_attention(logmel)
        if self.tfgram is not None:
            planes["tfgram"] = self.tfgram(waveform, n_frames)
        return torch.stack([planes[c] for c in self.channels], dim=1), attention

    def forward(self, waveform: torch.Tensor | None, logmel: torch.Tensor) -> ModelOutput:
        x, attention = self.frontend(waveform, logmel)
        embedding = self.mobilefacenet(x)
        if self.fph is not None:
            embedding = self.fph(embedding)  # already L2-normalised
        cosine, subcentre_cosine = self.head(embedding)
        return ModelOutput(embedding=embedding, cosine=cosine, subcentre_cosine=subcentre_cosine,
                           attention=attention)


def stgram_mfn(num_classes: int, **kwargs) -> SpectrogramMFN:
    """STgram-MFN: [log-mel, Tgram]."""
    return SpectrogramMFN(("logmel", "tgram"), num_classes, **kwargs)


def tastgram_mfn(num_classes: int, **kwargs) -> SpectrogramMFN:
    """TASTgram-MFN: [Tgram, log-mel, TAgram]."""
    return SpectrogramMFN(("tgram", "logmel", "tagram"), num_classes, **kwargs)


def tfstgram_mfn(num_classes: int, feature_perturbation_head: str | None = "relu", **kwargs) -> SpectrogramMFN:
    """OS-SCL TFSTgram-MFN: [log-mel, Tgram, TFgram] with a ReLU Feature Perturbation Head."""
    return SpectrogramMFN(("logmel", "tgram", "tfgram"), num_classes,
                          feature_perturbation_head=feature_perturbation_head, **kwargs)


def logmel_mfn(num_classes: int, feature_perturbation_head: str | None = "leaky_relu", **kwargs) -> SpectrogramMFN:
    """OS-SCL Log-Mel: one log-mel plane with a LeakyReLU(0.01) Feature Perturbation Head."""
    return SpectrogramMFN(("logmel",), num_classes, feature_perturbation_head=feature_perturbation_head, **kwargs)
