"""The audio cache: decoded once, exact, shared between runs, and updated file by file."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from asdcore.data import load_clip, scan_dataset
from asdcore.data.audio_cache import AudioCache
from asdcore.runtime import Waveforms


def _write_set(root, n=4, seconds=0.5, subtype="PCM_16", rate=16000):
    rng = np.random.default_rng(0)
    folder = root / "fan" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        x = (0.3 * rng.standard_normal(int(seconds * rate))).clip(-1, 1).astype(np.float32)
        sf.write(folder / f"normal_id_0{i % 2}_{i:08d}.wav", x, rate, subtype=subtype)
    return scan_dataset(root).records


def test_cached_clips_equal_the_decoded_files_bit_for_bit(tmp_path):
    records = _write_set(tmp_path / "data", n=3, seconds=0.5)
    cache = AudioCache.for_root(tmp_path / "data", base=tmp_path / "cache")
    assert cache.ensure(records) == 3
    for r in records:
        for n, mode in ((16000, "constant"), (16000, "wrap"), (4000, "constant"), (None, "constant")):
            expected = load_clip(r.path, None if n is None else n / 16000, pad_mode=mode)
            np.testing.assert_array_equal(cache.read(r, n, mode), expected)
    assert cache.nbytes() == 3 * 8000 * 2  # int16: 2 bytes a sample


def test_second_run_decodes_nothing_and_a_changed_file_alone_is_decoded_again(tmp_path):
    records = _write_set(tmp_path / "data", n=4)
    base = tmp_path / "cache"
    assert AudioCache.for_root(tmp_path / "data", base=base).ensure(records) == 4
    again = AudioCache.for_root(tmp_path / "data", base=base)  # another run on the same root
    assert again.ensure(records) == 0
    changed = records[1]
    louder = np.full(4000, 0.5, dtype=np.float32)
    sf.write(changed.path, louder, 16000, subtype="PCM_16")
    os.utime(changed.path, ns=(1, 1))  # a different mtime even on a coarse clock
    third = AudioCache.for_root(tmp_path / "data", base=base)
    assert third.ensure(records) == 1
    np.testing.assert_array_equal(third.read(changed, 4000), load_clip(changed.path, 0.25))
    np.testing.assert_array_equal(third.read(records[0], 8000), load_clip(records[0].path, 0.5))


def test_files_that_are_not_16_bit_pcm_are_read_from_the_file_unchanged(tmp_path):
    records = _write_set(tmp_path / "data", n=2, subtype="FLOAT")
    cache = AudioCache.for_root(tmp_path / "data", base=tmp_path / "cache")
    cache.ensure(records)
    assert all(e.offset == -1 for e in cache.index.values())
    np.testing.assert_array_equal(cache.read(records[0], 8000), load_clip(records[0].path, 0.5))


def test_a_damaged_index_is_rebuilt(tmp_path):
    records = _write_set(tmp_path / "data", n=2)
    cache = AudioCache.for_root(tmp_path / "data", base=tmp_path / "cache")
    cache.ensure(records)
    cache.index_path.write_text("{not json")
    fresh = AudioCache.for_root(tmp_path / "data", base=tmp_path / "cache")
    assert fresh.ensure(records) == 2
    assert json.loads(fresh.index_path.read_text())["schema"] == 1
    assert fresh.nbytes() == 2 * 8000 * 2  # the old samples were dropped with the old index
    np.testing.assert_array_equal(fresh.read(records[1], 8000), load_clip(records[1].path, 0.5))


def test_waveforms_from_the_cache_equal_waveforms_in_ram(tmp_path):
    records = _write_set(tmp_path / "data", n=4, seconds=0.4)
    in_ram = Waveforms(records, 0.5, "wrap")
    cached = Waveforms(records, 0.5, "wrap", audio_cache=True)
    index = torch.tensor([3, 0, 2])
    assert in_ram.cached and not cached.cached
    torch.testing.assert_close(cached.batch(index), in_ram.batch(index), rtol=0, atol=0)


def test_a_cache_folder_that_cannot_be_written_falls_back_to_ram_with_a_warning(tmp_path, monkeypatch):
    records = _write_set(tmp_path / "data", n=2, seconds=0.5)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should go")
    monkeypatch.setenv("ASD_CACHE", str(blocker / "audio"))
    with pytest.warns(RuntimeWarning, match="audio cache cannot be used"):
        waves = Waveforms(records, 0.5, audio_cache=True)
    assert waves.cached
    torch.testing.assert_close(waves.batch(torch.tensor([1])), Waveforms(records, 0.5).batch(torch.tensor([1])))
