"""Mixup: x~ = lam x + (1 - lam) x[perm], y_b = y[perm], lam ~ Beta(alpha, alpha), from a torch.Generator."""
from __future__ import annotations

import math

import pytest
import torch

from asdcore.features import LogMel
from asdcore.training.mixup import mixup_waveform, mixup_waveform_and_logmel, sample_lambda


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_waveform_mixup_matches_its_definition():
    waveform = torch.randn(6, 1000, generator=gen(1))
    labels = torch.arange(6)  # label i is sample i, so y_b reveals the partner permutation
    mixed, y_a, y_b, lam = mixup_waveform(waveform, labels, gen(2))
    assert isinstance(lam, float) and 0.0 <= lam <= 1.0
    assert torch.equal(y_a, labels)
    assert sorted(y_b.tolist()) == list(range(6))  # a permutation of the batch
    torch.testing.assert_close(mixed, lam * waveform + (1 - lam) * waveform[y_b])


def test_separate_mixing_uses_one_lambda_and_one_permutation():
    waveform = torch.randn(5, 800, generator=gen(3))
    logmel = torch.randn(5, 16, 7, generator=gen(4))
    labels = torch.arange(5)
    mixed_wave, mixed_mel, y_a, y_b, lam = mixup_waveform_and_logmel(waveform, logmel, labels, gen(5))
    torch.testing.assert_close(mixed_wave, lam * waveform + (1 - lam) * waveform[y_b])
    torch.testing.assert_close(mixed_mel, lam * logmel + (1 - lam) * logmel[y_b])
    # same generator state -> the waveform-only mixup draws the same lam and partners
    again = mixup_waveform(waveform, labels, gen(5))
    assert again.lam == lam and torch.equal(again.y_b, y_b)


def test_same_seed_same_batch_other_seed_other_batch():
    waveform, labels = torch.randn(8, 100, generator=gen(6)), torch.arange(8)
    a, b, c = (mixup_waveform(waveform, labels, gen(s)) for s in (7, 7, 8))
    assert a.lam == b.lam and torch.equal(a.waveform, b.waveform) and torch.equal(a.y_b, b.y_b)
    assert a.lam != c.lam


def test_lambda_follows_beta_half_half():
    lam = sample_lambda(gen(9), alpha=0.5, batch_size=20000)
    assert lam.shape == (20000,) and ((lam >= 0) & (lam <= 1)).all()
    # Beta(0.5, 0.5) is the arcsine law: P(lam < x) = (2 / pi) asin(sqrt(x)); mean 1/2, U-shaped
    assert float(lam.mean()) == pytest.approx(0.5, abs=0.01)
    for x in (0.05, 0.1, 0.5, 0.9):
        assert float((lam < x).float().mean()) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)), abs=0.015)


def test_per_sample_lambda_mixes_each_row_with_its_own_weight():
    waveform = torch.randn(4, 50, generator=gen(10))
    labels = torch.arange(4)
    mixed, y_a, y_b, lam = mixup_waveform(waveform, labels, gen(11), alpha=1.0, per_sample=True)  # U(0, 1)
    assert lam.shape == (4,)
    torch.testing.assert_close(mixed, lam[:, None] * waveform + (1 - lam[:, None]) * waveform[y_b])


def test_alpha_zero_means_no_mixing():
    waveform, labels = torch.randn(3, 20, generator=gen(12)), torch.arange(3)
    mixed, _, _, lam = mixup_waveform(waveform, labels, gen(13), alpha=0.0)
    assert lam == 1.0 and torch.equal(mixed, waveform)


def test_waveform_mixing_differs_from_mixing_log_mels():
    # why the two options exist: the log-mel of a mixed sound is not the mix of the log-mels (dB)
    waveform = torch.randn(4, 16000, generator=gen(14)) * torch.tensor([[1.0], [0.01], [0.3], [0.001]])
    labels = torch.arange(4)
    logmel = LogMel()
    mixed_wave, mixed_mel, _, _, lam = mixup_waveform_and_logmel(waveform, logmel(waveform), labels, gen(15))
    assert 0.05 < lam < 0.95
    assert not torch.allclose(logmel(mixed_wave), mixed_mel, atol=0.5)


def test_fmix_mask_is_binary_with_lam_of_its_bins_in_smooth_blobs():
    from asdcore.training.mixup import fmix_mask

    g = torch.Generator().manual_seed(0)
    mask = fmix_mask((128, 64), 0.3, g)
    assert mask.shape == (128, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert int(mask.sum()) == round(0.3 * 128 * 64)
    # low-frequency blobs: neighbouring bins agree far more often than in a random mask of the same share
    agree = lambda m: float((m[1:] == m[:-1]).float().mean())  # noqa: E731
    shuffled = mask.flatten()[torch.randperm(mask.numel(), generator=g)].view_as(mask)
    assert agree(mask) > 0.9 > agree(shuffled)


def test_logmel_or_fmix_mixes_the_log_mels_and_weighs_labels_by_the_mask_share():
    from asdcore.training.mixup import mixup_logmel_or_fmix

    wave, mel, y = torch.randn(8, 100), torch.randn(8, 16, 20), torch.arange(8)
    kinds = set()
    for seed in range(12):
        out = mixup_logmel_or_fmix(wave, mel, y, torch.Generator().manual_seed(seed), alpha=1.0)
        assert torch.equal(out.waveform, wave)  # the waveform is left as it is
        partner = mel[out.y_b]  # y = arange: the partner labels are the permutation
        if torch.allclose(out.logmel, out.lam * mel + (1 - out.lam) * partner, atol=1e-5):
            kinds.add("mixup")
        else:  # FMix: every bin is one clip's or the other's, and lam is the share of own bins
            own = (out.logmel - mel).abs() < 1e-6
            assert torch.equal(out.logmel, torch.where(own, mel, partner))
            moved = out.y_b != y  # a clip paired with itself shows no mixing
            assert float(own[moved].float().mean()) == pytest.approx(out.lam, abs=1e-6)
            kinds.add("fmix")
    assert kinds == {"mixup", "fmix"}
