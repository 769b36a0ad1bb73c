"""The log-mel front end's settings, its mel scales and filterbank, and the same log-mel in numpy.

Nothing here imports torch: the app's spectrograms need these, and importing torch takes
seconds, which a first page view would wait for.  asdcore.features computes the log-mel the models see
(torch, batched, on any device) from the same config and filterbank; `log_mel_numpy` repeats
its STFT in numpy for drawing one clip, and a test holds the two equal.

The papers' input: 16 kHz mono, n_fft 1024, hop 512, 128 mel bands, power 2, HTK mel scale
with no filter normalisation, reflect padding, then 10*log10 (STgram-MFN's code, which TASTgram
follows).  The Noisy-ArcMix / OS-SCL code uses n_fft 2048, the slaney mel scale and slaney area
normalisation, constant padding and 10*log10(x + eps) instead; `LogMelConfig.noisy_arcmix()`
gives it.  See ../shared/REFERENCE.md, "Features".
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace

import numpy as np


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
    # "mel": n_mels triangular mel bands; "linear": the STFT's own n_mels lowest bins, unfiltered (the
    # JLESS system's STFT input: n_fft 1024 gives 513 bins, the lowest 512 make its 512 x 32 input)
    frequency_scale: str = "mel"

    def __post_init__(self) -> None:
        if self.frequency_scale not in ("mel", "linear"):
            raise ValueError(f"frequency_scale must be 'mel' or 'linear', not {self.frequency_scale!r}")
        if self.frequency_scale == "linear" and self.n_mels > 1 + self.n_fft // 2:
            raise ValueError(f"a linear-frequency input keeps at most the STFT's 1 + n_fft // 2 = "
                             f"{1 + self.n_fft // 2} bins, not n_mels = {self.n_mels}")
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
    def jless_stft(cls, **overrides) -> "LogMelConfig":
        """The JLESS system's STFT input: n_fft 1024, hop 512, the lowest 512 bins in dB (512 x 32
        segments; REFERENCE.md, the JLESS report)."""
        return replace(cls(n_mels=512, frequency_scale="linear"), **overrides)

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
    if cfg.frequency_scale == "linear":  # no bands: each output row is one STFT bin, the lowest n_mels
        return np.eye(cfg.n_mels, 1 + cfg.n_fft // 2)
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


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window (torch.hann_window's default): 0.5 - 0.5 cos(2 pi n / N)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def log_mel_numpy(waveform: np.ndarray, cfg: LogMelConfig | None = None) -> np.ndarray:
    """Log-mel in dB, (n_mels, frames), of one mono waveform: asdcore.features.LogMel's result,
    computed in numpy (float64).

    STFT as torch.stft: centred frames (the signal padded by n_fft // 2 on both sides with
    cfg.pad_mode), a win_length Hann window zero-padded to n_fft in the middle, hop cfg.hop_length.
    """
    cfg = cfg or LogMelConfig()
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"log_mel_numpy takes one mono waveform, not an array of shape {x.shape}")
    win_length = cfg.win_length or cfg.n_fft
    window = np.zeros(cfg.n_fft)
    left = (cfg.n_fft - win_length) // 2
    window[left:left + win_length] = hann_window(win_length)
    if cfg.center:
        x = np.pad(x, cfg.n_fft // 2, mode="reflect" if cfg.pad_mode == "reflect" else "constant")
    n_frames = 1 + (len(x) - cfg.n_fft) // cfg.hop_length
    frames = np.lib.stride_tricks.sliding_window_view(x, cfg.n_fft)[::cfg.hop_length][:n_frames]
    spec = np.abs(np.fft.rfft(frames * window, axis=1)) ** cfg.power  # (frames, freq)
    mel = mel_filterbank(cfg) @ spec.T  # (n_mels, frames)
    return 10.0 * np.log10(np.maximum(mel + cfg.eps, cfg.amin))
