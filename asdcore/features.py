"""Log-mel spectrograms computed with torch, on whatever device the waveforms live.

The settings (LogMelConfig, with the papers' two variants), the mel scales and the filterbank
live in asdcore.melspec, which does not import torch; they are imported here too, so
`from asdcore.features import LogMelConfig` works.  See ../shared/REFERENCE.md, "Features".

We do not use torchaudio: its PyPI wheels are CUDA builds that fail to import on CPU-only
torch.  The filterbank is written from the mel-scale equations and matches librosa.filters.mel
(and torchaudio's melscale_fbanks).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .melspec import LogMelConfig, hz_to_mel, mel_filterbank, mel_to_hz  # noqa: F401  (re-exported)


class LogMel(nn.Module):
    """Waveforms (..., samples) -> log-mel in dB (..., n_mels, frames), batched, on any device.

    The filterbank and the window are buffers, so `.to(device)` moves them with the module.
    """

    def __init__(self, cfg: LogMelConfig | None = None):
        super().__init__()
        self.cfg = cfg or LogMelConfig()
        win = self.cfg.win_length or self.cfg.n_fft
        self.register_buffer("window", torch.hann_window(win, periodic=True), persistent=False)
        self.register_buffer("filterbank", torch.from_numpy(mel_filterbank(self.cfg)).float(),
                             persistent=False)

    def power_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram (before the dB conversion)."""
        cfg = self.cfg
        lead = waveform.shape[:-1]
        x = waveform.reshape(-1, waveform.shape[-1])
        # STFT in float32 at least (bf16/half STFT is not supported and loses precision)
        work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x = x.to(work_dtype)
        spec = torch.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                          win_length=cfg.win_length or cfg.n_fft,
                          window=self.window.to(work_dtype), center=cfg.center,
                          pad_mode=cfg.pad_mode, return_complex=True)
        spec = spec.abs().pow(cfg.power)  # (N, freq, frames)
        mel = torch.matmul(self.filterbank.to(work_dtype), spec)  # (N, n_mels, frames)
        return mel.reshape(*lead, cfg.n_mels, mel.shape[-1])

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self.power_mel(waveform)
        return 10.0 * torch.log10(torch.clamp(mel + self.cfg.eps, min=self.cfg.amin))


def log_mel(waveform: torch.Tensor | np.ndarray, cfg: LogMelConfig | None = None) -> torch.Tensor:
    """One-call helper: log-mel of a waveform (numpy or torch), on the waveform's device."""
    x = torch.as_tensor(waveform)
    return LogMel(cfg).to(x.device)(x)
