"""Mixup (Zhang et al. 2018) as the margin-loss ASD papers use it.

x~ = lam * x + (1 - lam) * x[perm],  y_a = y,  y_b = y[perm],  partner = a random permutation.

- `mixup_waveform`: mix in the waveform domain, then compute every channel (log-mel, Tgram,
  TFgram, TAgram) from the mixed waveform, so all channels see the same mixture.  The default.
- `mixup_waveform_and_logmel`: the reference codes' way: the waveform and the log-mel are
  mixed separately with the same lam and permutation, so the mel channel is a mix of log-mels
  (in dB), not the log-mel of the mixed sound.

- `mixup_logmel_or_fmix`: the JLESS system's augmentation: per batch, either mixup of the log-mels
  or FMix (Harris et al. 2020): a binary mask cut from low-frequency noise decides, bin by bin,
  which clip's log-mel is kept; its share of ones is lam.  The waveform is left unmixed: only
  for models that read the log-mel alone.
lam ~ Beta(alpha, alpha), alpha = 0.5 by default: one lam per batch (Noisy-ArcMix, OS-SCL), or
one per sample with per_sample=True (sub-cluster AdaCos draws lam ~ U(0, 1) = Beta(1, 1) per
sample).  Randomness comes only from the given torch.Generator, so a seed reproduces a batch.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Mixup(NamedTuple):
    waveform: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float | torch.Tensor  # float, or (B,) when drawn per sample


class MixupWithLogMel(NamedTuple):
    waveform: torch.Tensor
    logmel: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: float | torch.Tensor


def sample_lambda(generator: torch.Generator, alpha: float = 0.5,
                  batch_size: int | None = None) -> float | torch.Tensor:
    """lam ~ Beta(alpha, alpha): a float, or a (batch_size,) float32 tensor (one per sample).

    torch's Beta sampler takes no generator, so a seed is drawn from `generator` and numpy's
    Beta sampler is used with it: deterministic given the generator's state.
    alpha <= 0 means no mixing (lam = 1), the usual convention.
    """
    if alpha <= 0:
        return 1.0 if batch_size is None else torch.ones(batch_size)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    rng = np.random.default_rng(seed)
    if batch_size is None:
        return float(rng.beta(alpha, alpha))
    return torch.from_numpy(rng.beta(alpha, alpha, size=batch_size)).float()


def _draw(labels: torch.Tensor, generator: torch.Generator, alpha: float, per_sample: bool):
    """lam (float or (B,) on the labels' device), then the partner permutation, from `generator`."""
    lam = sample_lambda(generator, alpha, labels.shape[0] if per_sample else None)
    if torch.is_tensor(lam):
        lam = lam.to(labels.device)
    perm = torch.randperm(labels.shape[0], generator=generator, device=generator.device).to(labels.device)
    return lam, perm


def _mix(x: torch.Tensor, perm: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    if torch.is_tensor(lam):
        lam = lam.to(dtype=x.dtype, device=x.device).view(-1, *([1] * (x.dim() - 1)))
    return lam * x + (1 - lam) * x[perm]


def mixup_waveform(waveform: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                   alpha: float = 0.5, per_sample: bool = False) -> Mixup:
    """Mix a batch of waveforms (B, L); compute the features from the result."""
    lam, perm = _draw(labels, generator, alpha, per_sample)
    return Mixup(_mix(waveform, perm, lam), labels, labels[perm], lam)


def mixup_waveform_and_logmel(waveform: torch.Tensor, logmel: torch.Tensor, labels: torch.Tensor,
                              generator: torch.Generator, alpha: float = 0.5,
                              per_sample: bool = False) -> MixupWithLogMel:
    """The reference codes' mixup: waveform and log-mel mixed separately, same lam and partners."""
    lam, perm = _draw(labels, generator, alpha, per_sample)
    return MixupWithLogMel(_mix(waveform, perm, lam), _mix(logmel, perm, lam), labels, labels[perm], lam)


def fmix_mask(shape: tuple[int, int], lam: float, generator: torch.Generator, decay: float = 3.0) -> torch.Tensor:
    """FMix's binary mask (Harris et al. 2020) of `shape` (n_mels, T) with round(lam * size) ones.

    A low-frequency grey image: complex Gaussian noise in 2-D Fourier space, each frequency (f_1, f_2)
    scaled by 1 / max(|f|, 1/max(shape))^decay, inverse FFT, real part; its round(lam * n) largest
    pixels become 1, the rest 0.  The mask is made of a few smooth blobs of time-frequency bins.
    """
    h, w = shape
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freq = torch.sqrt(fy ** 2 + fx ** 2).clamp_min(1.0 / max(h, w))
    scale = 1.0 / freq ** decay
    noise = torch.randn((2, h, fx.shape[1]), generator=generator, device=generator.device).cpu()
    grey = torch.fft.irfft2(torch.complex(noise[0], noise[1]) * scale, s=(h, w))
    n_ones = int(round(lam * h * w))
    mask = torch.zeros(h * w)
    if n_ones > 0:
        mask[torch.argsort(grey.flatten(), descending=True)[:n_ones]] = 1.0
    return mask.view(h, w)


def mixup_logmel_or_fmix(waveform: torch.Tensor, logmel: torch.Tensor, labels: torch.Tensor,
                         generator: torch.Generator, alpha: float = 1.0, decay: float = 3.0) -> MixupWithLogMel:
    """One batch of the JLESS augmentation: with probability 1/2 mixup of the log-mels (one lam per
    batch), else FMix: x~ = M * x + (1 - M) * x[perm] with M = fmix_mask(lam), whose mean is lam, so
    the loss weighs y_a by lam as mixup does.  The waveform comes back unmixed."""
    lam, perm = _draw(labels, generator, alpha, per_sample=False)
    use_fmix = bool(torch.rand((), generator=generator, device=generator.device) < 0.5)
    if not use_fmix:
        return MixupWithLogMel(waveform, _mix(logmel, perm, lam), labels, labels[perm], lam)
    mask = fmix_mask(tuple(logmel.shape[-2:]), lam, generator, decay).to(logmel.device, logmel.dtype)
    lam = float(mask.mean())  # the exact share of the clip's own bins
    return MixupWithLogMel(waveform, mask * logmel + (1 - mask) * logmel[perm], labels, labels[perm], lam)
