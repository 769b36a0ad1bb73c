"""The audio cache: a data root's clips decoded once into one int16 file with an index.

    cache = AudioCache.for_root("data/toy", channel=0)
    cache.ensure(records)                  decode what is missing or changed (others untouched)
    x = cache.read(record, n_samples)      float32, exactly what asdcore.data.audio.load_clip gives

Why: the reference implementations hold every clip as float32 in RAM (0.64 MB per 10 s clip, some
26 GB for the 40 000 training clips of DCASE 2020) and decode the WAVs again for every run.  Here
each root gets one folder under the cache directory (`ASD_CACHE`, default ~/.cache/asdcore/audio):

    audio.i16     the samples of every clip, int16, one clip after another (append-only)
    index.json    relpath -> [file size, mtime_ns, offset, n_samples]; offset -1: not cached
    lock          flock'd while the cache is updated, so two runs never append at once

- Shared by every run on that root (and channel, and sample rate): the second run, whatever its
  recipe, decodes nothing.
- A file whose size or mtime changed, or a new file, is decoded again and appended; its index
  entry alone is replaced.  The bytes it replaces stay in audio.i16 unused (delete the folder to
  reclaim them: it is rebuilt on the next run).
- Exact: only 16-bit PCM files at the target rate are cached (their int16 samples / 32768 are the
  float32 soundfile gives, bit for bit).  Other files (24-bit, float, another rate) are read from
  the file every time; DCASE and the toy factory write 16-bit PCM at 16 kHz.
- Read by offset (os.pread), not memory-mapped: the bytes of a batch are copied out, so the
  operating system's page cache, not the training process, holds the data set, and the process's
  memory stays bounded whatever the data set's size (a memory map's touched pages count as the
  process's resident memory).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import SAMPLE_RATE, fix_length, read_mono
from .records import ClipRecord

SCHEMA = 1


def cache_root() -> Path:
    return Path(os.environ.get("ASD_CACHE", Path.home() / ".cache" / "asdcore" / "audio")).expanduser()


@dataclass
class Entry:
    size: int
    mtime_ns: int
    offset: int  # in samples; -1: the file is not cached (read it directly)
    n_samples: int


class AudioCache:
    """The int16 cache of one data root (for one channel and sample rate)."""

    def __init__(self, folder: Path, root: Path, channel: int = 0, sample_rate: int = SAMPLE_RATE):
        self.folder = folder
        self.root = root
        self.channel = channel
        self.sample_rate = sample_rate
        self.data_path = folder / "audio.i16"
        self.index_path = folder / "index.json"
        self.index: dict[str, Entry] = {}
        self._fd: int | None = None

    @classmethod
    def for_root(cls, root: str | os.PathLike, channel: int = 0, sample_rate: int = SAMPLE_RATE,
                 base: Path | None = None) -> "AudioCache":
        root = Path(root).expanduser().resolve()
        key = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        folder = (base or cache_root()) / f"{root.name or 'root'}-{key}-ch{channel}-{sample_rate}"
        return cls(folder, root, channel, sample_rate)

    # --- the index --------------------------------------------------------------------------

    def _load_index(self) -> dict[str, Entry]:
        try:
            raw = json.loads(self.index_path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, OSError):
            return {}  # a damaged index: everything is decoded again (the data file is reset below)
        if raw.get("schema") != SCHEMA or raw.get("root") != str(self.root):
            return {}
        return {k: Entry(*v) for k, v in raw["clips"].items()}

    def _write_index(self) -> None:
        tmp = self.index_path.with_name(f".{self.index_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"schema": SCHEMA, "root": str(self.root), "channel": self.channel,
                                   "sample_rate": self.sample_rate,
                                   "clips": {k: [e.size, e.mtime_ns, e.offset, e.n_samples]
                                             for k, e in self.index.items()}}))
        os.replace(tmp, self.index_path)

    @staticmethod
    def _key(record: ClipRecord) -> str:
        return record.relpath

    # --- building ---------------------------------------------------------------------------

    def stale(self, records: list[ClipRecord]) -> list[ClipRecord]:
        """The records whose file is not in the index, or changed since (size or mtime)."""
        out = []
        for r in records:
            st = os.stat(r.path)
            e = self.index.get(self._key(r))
            if e is None or e.size != st.st_size or e.mtime_ns != st.st_mtime_ns:
                out.append(r)
        return out

    def ensure(self, records: list[ClipRecord], on_clip=None) -> int:
        """Decode into the cache every record it lacks or holds an old version of; returns how many.
        Takes the folder's lock, so concurrent runs on one root wait for each other's decoding
        instead of appending at the same time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index = self._load_index()
        if not self.stale(records):
            return 0
        with open(self.folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self.index = self._load_index()  # another process may have just added them
                if not self.index and self.data_path.exists():
                    self.data_path.unlink()  # no index (or a damaged one): start the data file over
                todo = self.stale(records)
                with open(self.data_path, "ab") as fh:
                    offset = fh.tell() // 2
                    for r in todo:
                        st = os.stat(r.path)
                        samples = self._decode(r.path)
                        if samples is None:
                            self.index[self._key(r)] = Entry(st.st_size, st.st_mtime_ns, -1, 0)
                        else:
                            fh.write(samples.tobytes())
                            self.index[self._key(r)] = Entry(st.st_size, st.st_mtime_ns, offset, len(samples))
                            offset += len(samples)
                        if on_clip is not None:
                            on_clip()
                    fh.flush()
                    os.fsync(fh.fileno())
                self._write_index()  # after the samples are on disk: the index never points past them
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self._close()
        return len(todo)

    def _decode(self, path: str) -> np.ndarray | None:
        """The chosen channel as int16, or None when the file is not 16-bit PCM at the target rate
        (it is then read from the file each time, so the cache never changes a sample)."""
        info = sf.info(path)
        if info.subtype != "PCM_16" or info.samplerate != self.sample_rate:
            return None
        data, _ = sf.read(path, dtype="int16", always_2d=True)
        if data.shape[0] == 0:
            return None  # read_mono names the empty file when it is read
        if not 0 <= self.channel < data.shape[1]:
            return None  # read_mono says which channels the file has
        return np.ascontiguousarray(data[:, self.channel])

    # --- reading ----------------------------------------------------------------------------

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self._close()

    def read(self, record: ClipRecord, n_samples: int | None = None, pad_mode: str = "constant") -> np.ndarray:
        """One clip as float32 in [-1, 1]: cropped or padded to `n_samples` as load_clip does."""
        e = self.index.get(self._key(record))
        if e is None or e.offset < 0:
            x = read_mono(record.path, self.sample_rate, self.channel)
        else:
            if self._fd is None:
                self._fd = os.open(self.data_path, os.O_RDONLY)
            n = e.n_samples if n_samples is None else min(e.n_samples, n_samples)
            raw = os.pread(self._fd, 2 * n, 2 * e.offset)
            x = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
            if n_samples is None:
                return x
        return x if n_samples is None else fix_length(x, n_samples, pad_mode)

    def nbytes(self) -> int:
        return self.data_path.stat().st_size if self.data_path.exists() else 0
