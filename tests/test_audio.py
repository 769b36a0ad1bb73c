"""Audio loading: channel 0, 16 kHz (resampling said out loud), fixed length."""
import numpy as np
import pytest
import soundfile as sf

from asdcore.data import AudioError, fix_length, load_clip, read_mono
from asdcore.data.audio import ResampledWarning


def test_channel_zero_of_multichannel(tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    ch0, ch1 = 0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "eight_ch.wav"
    sf.write(str(path), np.stack([ch0, ch1] + [np.zeros_like(t)] * 6, axis=1), sr, subtype="FLOAT")
    np.testing.assert_allclose(read_mono(path), ch0, atol=1e-6)


def test_other_rates_are_resampled_and_reported(tmp_path):
    path = tmp_path / "44k.wav"
    t = np.arange(44100) / 44100
    sf.write(str(path), 0.5 * np.sin(2 * np.pi * 1000 * t), 44100, subtype="FLOAT")
    with pytest.warns(ResampledWarning, match=r"44k\.wav: resampled from 44100 Hz to 16000 Hz"):
        x = read_mono(path)
    assert len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins: the tone stays at 1 kHz


def test_crop_and_pad_to_the_configured_length(tmp_path):
    x = np.arange(10, dtype=np.float32)
    assert fix_length(x, 4).tolist() == [0, 1, 2, 3]
    assert fix_length(x, 12).tolist() == list(range(10)) + [0, 0]
    assert fix_length(x, 12, "wrap").tolist() == list(range(10)) + [0, 1]
    path = tmp_path / "one_s.wav"
    sf.write(str(path), np.full(16000, 0.25), 16000, subtype="PCM_16")
    assert load_clip(path, clip_seconds=2.0).shape == (32000,)
    assert load_clip(path, clip_seconds=0.5).shape == (8000,)


def test_level_is_kept(tmp_path):
    """No peak normalisation: a quiet clip stays quiet."""
    path = tmp_path / "quiet.wav"
    sf.write(str(path), np.full(1600, 0.01), 16000, subtype="FLOAT")
    assert np.allclose(read_mono(path), 0.01)


def test_broken_files_raise_a_message_naming_the_file(tmp_path):
    bad = tmp_path / "normal_id_00_00000000.wav"
    bad.write_bytes(b"this is not a wav file")
    with pytest.raises(AudioError, match="normal_id_00_00000000.wav: unreadable"):
        read_mono(bad)
