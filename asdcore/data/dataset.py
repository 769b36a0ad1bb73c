"""Finding the clips of one or more DCASE-style folders.

A root is a folder holding machine-type folders (`<root>/fan/train/...`), or one
machine-type folder itself (`<root>/train/...`), or original MIMII recordings
(`<root>/6_dB_fan/fan/id_00/normal/...`, split as DCASE 2020 did: asdcore.data.mimii).  Several roots combine into one
data set: the papers train on the DCASE 2020 development set together with the
additional training set (41 machine IDs).

    ds = scan_dataset(["~/dcase2020/dev_data", "~/dcase2020/add_train"])
    ds.records, ds.classes, ds.problems, ds.counts()
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from . import mimii
from .ground_truth import load_root_ground_truth
from .layouts import SPLIT_FOLDERS, SUPPLEMENTAL_FOLDER, NameNotUnderstood, parse_name, supplemental_kind
from .records import ClipRecord, class_list

AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class Problem:
    """A file found in a clip folder that cannot be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class SupplementalClip:
    """A clip of a DCASE 2025 `<type>/supplemental/` folder: "clean" machine sound or "noise" only.
    Counted and reported, never a training normal nor a test clip (asdcore.data.layouts)."""

    path: str
    machine_type: str
    kind: str  # "clean" or "noise"


@dataclass
class Dataset:
    roots: list[str]
    records: list[ClipRecord]
    classes: list[tuple[str, str]]
    problems: list[Problem] = field(default_factory=list)
    supplemental: list[SupplementalClip] = field(default_factory=list)

    def supplemental_counts(self) -> dict[str, tuple[int, int]]:
        """{machine type: (clean machine clips, noise-only clips)} of the supplemental folders."""
        out: dict[str, list[int]] = {}
        for c in self.supplemental:
            out.setdefault(c.machine_type, [0, 0])[c.kind == "noise"] += 1
        return {t: (n[0], n[1]) for t, n in out.items()}

    def __len__(self) -> int:
        return len(self.records)

    @property
    def machine_types(self) -> list[str]:
        return list(dict.fromkeys(t for t, _ in self.classes))

    @property
    def layouts(self) -> list[str]:
        return sorted({r.layout for r in self.records})

    def select(self, split: str | None = None, machine_type: str | None = None,
               machine_id: str | None = None, label: str | None = None) -> list[ClipRecord]:
        return [r for r in self.records
                if (split is None or r.split == split)
                and (machine_type is None or r.machine_type == machine_type)
                and (machine_id is None or r.machine_id == machine_id)
                and (label is None or r.label == label)]

    def counts(self):
        """Clips per machine type, machine ID, split and label (a pandas DataFrame)."""
        c = Counter((r.machine_type, r.machine_id, r.class_index, r.split, r.label or "unlabelled")
                    for r in self.records)
        rows = [dict(machine_type=t, machine_id=i, class_index=k, split=s, label=lab, clips=n)
                for (t, i, k, s, lab), n in c.items()]
        df = pd.DataFrame(rows, columns=["machine_type", "machine_id", "class_index", "split",
                                         "label", "clips"])
        return df.sort_values(["class_index", "split", "label"]).reset_index(drop=True)

    def summary_table(self):
        """One row per (machine_type, machine_id): train normals, test normals, test anomalies."""
        df = self.counts()
        if df.empty:
            return df
        df["column"] = df["split"] + " " + df["label"]
        wide = df.pivot_table(index=["class_index", "machine_type", "machine_id"], columns="column",
                              values="clips", aggfunc="sum", fill_value=0)
        return wide.reset_index().drop(columns="class_index")


def _machine_type_dirs(root: Path) -> list[Path]:
    """The machine-type folders under a root (or the root itself when it is one)."""
    if any((root / name).is_dir() for name in (*SPLIT_FOLDERS, SUPPLEMENTAL_FOLDER)):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_audio(path: Path) -> str | None:
    """Why this file cannot be used as audio, or None when it can.

    Reads the header, and a WAV's chunk list (a truncated copy keeps a header that promises more
    samples than the file holds; libsndfile silently reads what is there).  Float files alone are
    decoded in full: only they can hold NaN or infinite samples, and one such clip in a batch makes
    the loss NaN and ends a training run, so it is skipped here and the other clips still train."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        info = sf.info(str(path))
    except Exception as exc:
        return f"not audio / unreadable ({audio_error_reason(exc)})"
    if info.frames == 0:
        return "empty (no samples)"
    if path.suffix.lower() == ".wav":
        promised = _wav_promised_fraction(path)
        if promised is not None and promised > 1.0:
            held = info.frames / info.samplerate
            return (f"truncated: its header promises {held * promised:.2f} s of audio, the file holds {held:.2f} s "
                    "(an interrupted copy?)")
    if info.subtype in ("FLOAT", "DOUBLE"):
        try:
            data, _ = sf.read(str(path), dtype="float64", always_2d=True)
        except Exception as exc:
            return f"unreadable samples ({exc})"
        bad = int(data.size - np.isfinite(data).sum())
        if bad:
            return f"holds {bad} NaN or infinite sample(s) (damaged float samples; one such clip would end a training run)"
    return None


def audio_error_reason(exc: Exception) -> str:
    """soundfile's message, first line, without its "Error opening '<the path again>': " prefix
    (the caller names the file once)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split("': ", 1)[1] if text.startswith("Error opening '") and "': " in text else text


def _wav_promised_fraction(path: Path) -> float | None:
    """How many times the bytes present the WAV's data chunk declares (> 1 for a truncated file),
    or None when the chunk list cannot say (not RIFF, no data chunk, a streaming size)."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RF64, W64 ...: libsndfile's own reading stands
        size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            declared = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = size - fh.tell()
                if declared in (0, 0xFFFFFFFF) or present <= 0:  # sizes left unset by a streaming writer
                    return None
                return declared / present
            fh.seek(declared + (declared & 1), 1)  # chunks are padded to an even length


def scan_root(root: str | os.PathLike, check_audio: bool = True,
              mimii_test_normals: int | None = None) -> tuple[list[ClipRecord], list[Problem]]:
    """Records and problems of one root; class indices are not yet assigned.  mimii_test_normals:
    how a MIMII root is split (asdcore.data.mimii; None: DCASE 2020's rule)."""
    mimii.check_test_normals(mimii_test_normals)  # a bad value is refused whatever the folder holds
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    records, problems = [], []

    def accept(path: Path) -> bool:
        """Usable audio; otherwise the problem is recorded."""
        if path.name.startswith("."):
            return False
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            problems.append(Problem(str(path), f"not audio (suffix {path.suffix or 'none'!r})"))
            return False
        why = _check_audio(path) if check_audio else None
        if why:
            problems.append(Problem(str(path), why))
        return why is None

    if mimii.type_folders(root):  # the original MIMII recordings: no split folders, label folders
        return mimii.scan_mimii(root, accept, mimii_test_normals), problems
    truth = load_root_ground_truth(root)  # the organisers' labels of evaluation clips, when given
    for type_dir in _machine_type_dirs(root):
        machine_type = type_dir.name
        for split_dir in sorted(p for p in type_dir.iterdir() if p.is_dir()):
            split = SPLIT_FOLDERS.get(split_dir.name)
            if split is None:
                continue
            for path in sorted(split_dir.iterdir()):
                if path.name.startswith(".") or path.is_dir():
                    continue
                if path.suffix.lower() not in AUDIO_SUFFIXES:
                    problems.append(Problem(str(path), f"not audio (suffix {path.suffix or 'none'!r})"))
                    continue
                try:
                    parsed = parse_name(path.name)
                except NameNotUnderstood as exc:
                    problems.append(Problem(str(path), str(exc)))
                    continue
                labelled_by = None
                if parsed.label is None and (machine_type, path.name) in truth:
                    # an evaluation clip the organisers' list labels: its labelled name says the
                    # label, domain and attributes (asdcore.data.ground_truth)
                    parsed, labelled_by = truth[(machine_type, path.name)]
                if parsed.split is not None and parsed.split != split:
                    problems.append(Problem(str(path), f"name says split {parsed.split!r} but the "
                                                       f"file is in folder {split_dir.name!r}"))
                    continue
                if check_audio:
                    why = _check_audio(path)
                    if why:
                        problems.append(Problem(str(path), why))
                        continue
                records.append(ClipRecord(
                    path=str(path), root=str(root), relpath=path.relative_to(root).as_posix(),
                    machine_type=machine_type, machine_id=parsed.machine_id, split=split,
                    label=parsed.label, clip_index=parsed.clip_index, layout=parsed.layout,
                    section=parsed.section, domain=parsed.domain, attributes=parsed.attributes,
                    labelled_by=labelled_by))
    return records, problems


def scan_supplemental(root: str | os.PathLike) -> list[SupplementalClip]:
    """The audio files of a root's `<type>/supplemental/` folders (DCASE 2025), by kind; the folder
    says a file is supplemental, whatever its name (asdcore.data.layouts.SUPPLEMENTAL_FOLDER)."""
    root = Path(root).expanduser()
    if not root.is_dir() or mimii.type_folders(root):
        return []
    out = []
    for type_dir in _machine_type_dirs(root):
        folder = type_dir / SUPPLEMENTAL_FOLDER
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in AUDIO_SUFFIXES:
                out.append(SupplementalClip(str(path), type_dir.name, supplemental_kind(path.name)))
    return out


def scan_dataset(roots, check_audio: bool = True, mimii_test_normals: int | None = None) -> Dataset:
    """Scan one or several roots into one data set with class indices assigned (mimii_test_normals:
    normal clips per machine ID that a MIMII root tests; None: as many as its abnormal clips)."""
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    all_records, all_problems, supplemental = [], [], []
    for root in roots:
        recs, probs = scan_root(root, check_audio=check_audio, mimii_test_normals=mimii_test_normals)
        all_records += recs
        all_problems += probs
        supplemental += scan_supplemental(root)
    classes = class_list(all_records)
    index = {k: i for i, k in enumerate(classes)}
    all_records = [replace(r, class_index=index[r.class_key]) for r in all_records]
    return Dataset(roots=[str(Path(r).expanduser()) for r in roots], records=all_records,
                   classes=classes, problems=all_problems, supplemental=supplemental)
