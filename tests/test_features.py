"""Log-mel in torch equals librosa's (and torchaudio's, where it imports)."""
import numpy as np
import pytest
import torch

from asdcore.features import LogMel, LogMelConfig, log_mel, mel_filterbank


def _signal(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    # noise plus a glide: energy in every band, non-stationary
    return (0.1 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * (200 + 900 * t) * t)).astype(np.float32)


def test_htk_power_mel_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = _signal()
    ref = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=16000, n_fft=1024, hop_length=512,
                                         n_mels=128, power=2.0, htk=True, norm=None, pad_mode="reflect")
    ours = LogMel(LogMelConfig()).power_mel(torch.from_numpy(x)).numpy()
    assert ours.shape == ref.shape == (128, 63)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * ref.max())


def test_slaney_variant_matches_librosa():
    """The Noisy-ArcMix / OS-SCL code's settings: n_fft 2048, slaney scale and norm, constant padding."""
    librosa = pytest.importorskip("librosa")
    x = _signal(seed=1)
    cfg = LogMelConfig.noisy_arcmix()
    ref = librosa.feature.melspectrogram(y=x.astype(np.float64), sr=16000, n_fft=2048, hop_length=512,
                                         n_mels=128, power=2.0, htk=False, norm="slaney", pad_mode="constant")
    ours = LogMel(cfg).power_mel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * ref.max())
    np.testing.assert_allclose(mel_filterbank(cfg), librosa.filters.mel(sr=16000, n_fft=2048, n_mels=128),
                               rtol=1e-5, atol=1e-9)


def test_db_conversion_and_shape_for_papers_input():
    """A 10 s clip gives the papers' 128 x 313; dB = 10*log10(max(x, 1e-10))."""
    x = torch.from_numpy(np.tile(_signal(), 5))  # 10 s
    front = LogMel()
    db = front(x)
    assert db.shape == (128, 313) == (128, front.cfg.n_frames(len(x)))
    expected = 10 * torch.log10(torch.clamp(front.power_mel(x), min=1e-10))
    torch.testing.assert_close(db, expected)
    silent = front(torch.zeros(16000))
    assert torch.all(silent == -100.0)


def test_batched_equals_one_by_one():
    xs = torch.from_numpy(np.stack([_signal(seed=s) for s in range(3)]))
    front = LogMel()
    batched = front(xs)
    assert batched.shape == (3, 128, 63)
    for i in range(3):
        torch.testing.assert_close(batched[i], front(xs[i]), rtol=1e-5, atol=1e-4)


def test_config_round_trips_and_rejects_bad_values():
    cfg = LogMelConfig.noisy_arcmix(n_mels=64)
    assert LogMelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="mel_scale"):
        LogMelConfig(mel_scale="bark")
    with pytest.raises(ValueError, match="pad_mode"):
        LogMelConfig(pad_mode="edge")


def test_log_mel_accepts_numpy_and_keeps_device():
    out = log_mel(_signal())
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu"


def test_matches_torchaudio_where_it_imports():
    try:
        import torchaudio
    except Exception as exc:  # the PyPI wheels are CUDA builds that fail to import on CPU torch
        pytest.skip(f"torchaudio does not import here ({type(exc).__name__}: {exc})"[:300])
    x = torch.from_numpy(_signal())
    ref = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128,
                                               power=2.0)(x)
    ours = LogMel().power_mel(x)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.max()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_equals_cpu():
    x = torch.from_numpy(_signal())
    cpu = LogMel()(x)
    gpu = LogMel().cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("cfg", [LogMelConfig.stgram(), LogMelConfig.noisy_arcmix(), LogMelConfig(win_length=800),
                                 LogMelConfig(center=False), LogMelConfig(power=1.0), LogMelConfig.jless_stft()],
                         ids=["stgram", "noisy-arcmix", "win-800", "not-centred", "magnitude", "jless-stft"])
@pytest.mark.parametrize("n", [32000, 32001, 160000])
def test_numpy_log_mel_equals_the_torch_front_end(cfg, n):
    """The app draws spectrograms with asdcore.melspec.log_mel_numpy (no torch import): they must
    be the log-mel the models see, frame for frame (attention weights are drawn over them)."""
    from asdcore.melspec import log_mel_numpy

    x = np.random.default_rng(n).standard_normal(n) * 0.1
    ours = log_mel_numpy(x, cfg)
    ref = log_mel(torch.from_numpy(x), cfg).numpy()
    assert ours.shape == ref.shape == (cfg.n_mels, cfg.n_frames(n))
    # dB; torch keeps its filterbank and STFT in float32: a single STFT bin, not averaged over a mel band,
    # keeps more of its rounding (up to 3e-5 of the value, 2e-3 dB on a few of 160 000 bins)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-4 if cfg.frequency_scale == "linear" else 1e-7)


def test_numpy_log_mel_refuses_a_multichannel_array():
    from asdcore.melspec import log_mel_numpy

    with pytest.raises(ValueError, match="mono"):
        log_mel_numpy(np.zeros((2, 16000)))


def test_the_app_draws_spectrograms_without_importing_torch():
    """Importing torch costs 2-3 s on a first page view: the recipes, the numpy log-mel and the
    figure builders must not pull it in."""
    import subprocess
    import sys

    code = ("import sys; import asdcore.melspec, asdcore.recipes, asdcore.plots, asdcore.data, asdcore.alarms; "
            "print(sorted(m for m in ('torch', 'scipy.signal', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_jless_stft_input_is_the_lowest_512_stft_bins_in_db():
    """The JLESS system's STFT input: n_fft 1024, hop 512, bins 0-511 of the power STFT in dB (its
    512 x 32 segments), no mel bands; computed here with numpy's rfft on the reflect-padded frames."""
    cfg = LogMelConfig.jless_stft()
    x = np.random.default_rng(0).standard_normal(32000) * 0.1
    ours = log_mel(torch.from_numpy(x), cfg).numpy()
    assert ours.shape == (512, 1 + 32000 // 512)
    padded = np.pad(x, 512, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    frames = np.stack([padded[t * 512: t * 512 + 1024] * window for t in range(ours.shape[1])])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, 513)
    expected = 10 * np.log10(np.maximum(power[:, :512].T, 1e-10))
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    with pytest.raises(ValueError, match="at most the STFT's 1 \\+ n_fft // 2 = 513 bins"):
        LogMelConfig.jless_stft(n_mels=600)


def test_the_jless_stft_recipe_builds_its_network_for_512_x_32_segments():
    from asdcore.recipes import resolve
    from asdcore.registry import create_model

    config = resolve("jless-mfn-stft", "quick")
    assert config.features.variant == "jless_stft" and config.features.n_mels == 512
    assert config.data.segment_frames == 32 and config.features.frequency_scale == "linear"
    model = create_model({**config.model.to_dict(), "num_classes": 5, "n_mels": 512, "n_frames": 32}).eval()
    out = model(torch.zeros(2, 16384), torch.randn(2, 512, 32))
    assert out.embedding.shape == (2, 128)
