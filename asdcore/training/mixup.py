"""Mixup (Zhang et al. 2018) as the margin-loss ASD papers use it.

x~ = lam * x + (1 - lam) * x[perm],  y_a = y,  y_b = y[perm],  partner = a random permutation.

- `mixup_waveform`: mix in the waveform domain, then compute every channel (log-mel, Tgram,
  TFgram, TAgram) from the mixed waveform, so all channels see the same mixture.  The default.
- `mixup_waveform_and_logmel`: the reference codes' way: the waveform and the log-mel are
  mixed separately with the same lam and permutation, so the mel channel is a mix of log-mels
  (in dB), not the log-mel of the mixed sound.

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
