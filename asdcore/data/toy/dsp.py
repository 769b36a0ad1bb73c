"""Signal building blocks of the toy factory (numpy/scipy, vectorised, float64).

Rotating machines are sums of harmonics whose frequency follows the machine's
speed; impacts and clicks are impulses ringing through a bank of damped
resonators (the modes of the struck part); flow, friction and air are filtered
noise.  "Machine time" lets one speed profile drive all of them: a speed drift
fault stretches machine time, so tones glide and events spread out together.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter, sosfilt


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def normalise(x: np.ndarray) -> np.ndarray:
    """Scale to unit RMS."""
    return x / rms(x)


def span_gate(n: int, sr: int, onset: float, offset: float, fade: float = 0.02) -> np.ndarray:
    """1 inside [onset, offset) seconds, 0 outside, with raised-cosine fades of `fade` s."""
    t = np.arange(n) / sr
    g = np.clip(np.minimum((t - onset) / fade + 0.5, (offset - t) / fade + 0.5), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * g)


def machine_time(rate: np.ndarray, sr: int) -> np.ndarray:
    """Machine time in seconds for a speed profile `rate` (1 = nominal speed)."""
    return np.cumsum(rate) / sr


def harmonic_series(phase: np.ndarray, amps, rng: np.random.Generator,
                    orders=None) -> np.ndarray:
    """sum_k a_k sin(k * phase + phi_k) with random phases phi_k."""
    orders = np.arange(1, len(amps) + 1) if orders is None else np.asarray(orders)
    out = np.zeros_like(phase)
    for k, a in zip(orders, amps):
        if a:
            out += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def coloured_noise(n: int, rng: np.random.Generator, slope_db_per_octave: float = -3.0) -> np.ndarray:
    """Gaussian noise with a power spectrum falling `slope` dB per octave (-3: pink,
    -6: brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (slope_db_per_octave / 20.0 / np.log10(2.0))
    return normalise(np.fft.irfft(spec, n))


def band_noise(n: int, sr: int, lo: float, hi: float, rng: np.random.Generator,
               order: int = 2) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz (Butterworth), unit RMS."""
    hi = min(hi, 0.45 * sr)
    sos = butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return normalise(sosfilt(sos, rng.standard_normal(n)))


def lowpass(x: np.ndarray, sr: int, cutoff: float, order: int = 2) -> np.ndarray:
    sos = butter(order, min(cutoff, 0.45 * sr), btype="lowpass", fs=sr, output="sos")
    return sosfilt(sos, x)


def resonate(excitation: np.ndarray, sr: int, freqs, decays, gains) -> np.ndarray:
    """Pass an excitation through damped two-pole resonators (one per mode) and sum.

    Mode i rings at freqs[i] Hz and decays by 1/e in decays[i] seconds:
    y[n] = x[n] + 2 r cos(w) y[n-1] - r^2 y[n-2],  r = exp(-1 / (decay * sr)).
    """
    out = np.zeros_like(excitation)
    for f, d, g in zip(freqs, decays, gains):
        r = np.exp(-1.0 / (d * sr))
        w = 2 * np.pi * f / sr
        # (1 - r) keeps the peak gain of narrow and wide modes comparable
        out += g * (1 - r) * lfilter([1.0], [1.0, -2 * r * np.cos(w), r * r], excitation)
    return out


def event_impulses(mt: np.ndarray, times: np.ndarray, amps) -> np.ndarray:
    """Impulses of the given amplitudes where machine time reaches each event time;
    events outside the clip are dropped."""
    times = np.asarray(times, dtype=np.float64)
    amps = np.broadcast_to(np.asarray(amps, dtype=np.float64), times.shape)
    idx = np.searchsorted(mt, times)
    inside = (idx > 0) & (idx < len(mt))
    return impulses(len(mt), idx[inside], amps[inside])


def impulses(n: int, positions: np.ndarray, amps) -> np.ndarray:
    """A sparse impulse train: amps at the given sample positions."""
    x = np.zeros(n)
    np.add.at(x, np.asarray(positions, dtype=int), amps)
    return x


def poisson_times(rate_hz: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Event times of a Poisson process of the given rate over [0, duration)."""
    count = rng.poisson(rate_hz * duration)
    return np.sort(rng.uniform(0, duration, count))


def resonant_noise(n: int, sr: int, rng: np.random.Generator, freqs, qs, gains,
                   floor: float = 0.3, floor_slope: float = -3.0) -> np.ndarray:
    """Broadband noise coloured by the resonances of a housing, a duct or a pipe: white noise
    through damped resonators (mode i at freqs[i] Hz with quality factor qs[i], so it rings for
    qs[i] / (pi f) s), plus a coloured floor; unit RMS."""
    decays = [q / (np.pi * f) for f, q in zip(freqs, qs)]
    modes = normalise(resonate(rng.standard_normal(n), sr, freqs, decays, gains))
    return normalise(modes + floor * coloured_noise(n, rng, floor_slope))


def crossfade(before: np.ndarray, after: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """`before` where gate is 0, `after` where it is 1 (a fault's changed sound inside its span)."""
    return before + gate * (after - before)
