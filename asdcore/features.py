"""Log-mel spectrograms computed with torch, on whatever device the waveforms live.

The papers' input: 16 kHz mono, n_fft 1024, hop 512, 128 mel bands, power 2,
HTK mel scale with no filter normalisation, reflect padding, then 10*log10
(STgram-MFN's code, which TASTgram follows).  The Noisy-ArcMix / OS-SCL code
uses n_fft 2048, the slaney mel scale and slaney area normalisation, constant
padding and 10*log10(x + eps) instead; `LogMelConfig.noisy_arcmix()` gives it.
See ../shared/REFERENCE.md, "Features".

We do not use torchaudio: its PyPI wheels are CUDA builds that fail to import on
CPU-only torch.  The filterbank below is written from the mel-scale equations
and matches librosa.filters.mel (and torchaudio's melscale_fbanks).
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class LogMelConfig:
    """Every setting of the log-mel front end; round-trips through `to_dict`/`from_dict`."""

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int | None = None  # None: equal to n_fft
    hop_length: int = 512
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None  # None: Nyquist
    power: float = 2.0  # 2: power spectrogram, 1: magnitude
    mel_scale: str = "htk"  # "htk" or "slaney"
    norm: str | None = None  # None or "slaney" (area normalisation of each triangle)
    pad_mode: str = "reflect"  # padding of the centred STFT: "reflect" or "constant"
    center: bool = True
    # dB conversion: 10*log10(max(x + eps, amin)).  STgram (AmplitudeToDB) clamps at
    # amin = 1e-10 with eps 0; the Noisy-ArcMix code adds eps = float epsilon.
    eps: float = 0.0
    amin: float = 1e-10

    def __post_init__(self) -> None:
        if self.mel_scale not in ("htk", "slaney"):
            raise ValueError(f"mel_scale must be 'htk' or 'slaney', not {self.mel_scale!r}")
        if self.norm not in (None, "slaney"):
            raise ValueError(f"norm must be None or 'slaney', not {self.norm!r}")
        if self.pad_mode not in ("reflect", "constant"):
            raise ValueError(f"pad_mode must be 'reflect' or 'constant', not {self.pad_mode!r}")
        if self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")

    @classmethod
    def stgram(cls, **overrides) -> "LogMelConfig":
        """STgram-MFN / TASTgram-MFN settings (the default)."""
        return replace(cls(), **overrides)

    @classmethod
    def noisy_arcmix(cls, **overrides) -> "LogMelConfig":
        """The Noisy-ArcMix and OS-SCL code's settings: n_fft 2048, slaney scale and norm."""
        base = cls(n_fft=2048, mel_scale="slaney", norm="slaney", pad_mode="constant",
                   eps=sys.float_info.epsilon)
        return replace(base, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LogMelConfig":
        return cls(**d)

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a clip of n_samples (centred STFT): 1 + n // hop."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length


# --- mel scales -----------------------------------------------------------------
# HTK: mel = 2595 * log10(1 + f / 700).
# Slaney (Auditory Toolbox): linear below 1 kHz (3 mels per 200 Hz... i.e. f / (200/3)),
# logarithmic above with step log(6.4) / 27 per mel.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: np.ndarray, scale: str = "htk") -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mel = f / _SLANEY_F_SP
    log_part = f >= _SLANEY_MIN_LOG_HZ
    mel = np.where(log_part,
                   _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP,
                   mel)
    return mel


def mel_to_hz(m: np.ndarray, scale: str = "htk") -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f = m * _SLANEY_F_SP
    log_part = m >= _SLANEY_MIN_LOG_MEL
    return np.where(log_part, _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL)), f)


def mel_filterbank(cfg: LogMelConfig) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, 1 + n_fft // 2), float64.

    Band i rises linearly from centre i-1 to centre i and falls to centre i+1,
    with n_mels + 2 centres equally spaced on the mel scale between f_min and f_max.
    Slaney norm divides each triangle by its width in Hz / 2 (constant area).
    """
    f_max = cfg.f_max if cfg.f_max is not None else cfg.sample_rate / 2
    fft_freqs = np.linspace(0.0, cfg.sample_rate / 2, 1 + cfg.n_fft // 2)
    mel_points = np.linspace(hz_to_mel(cfg.f_min, cfg.mel_scale), hz_to_mel(f_max, cfg.mel_scale),
                             cfg.n_mels + 2)
    hz_points = mel_to_hz(mel_points, cfg.mel_scale)
    widths = np.diff(hz_points)
    # ramps[i, k] = centre_i - f_k
    ramps = hz_points[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if cfg.norm == "slaney":
        weights *= (2.0 / (hz_points[2:] - hz_points[:-2]))[:, None]
    return weights


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
