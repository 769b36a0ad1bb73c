"""The original MIMII recordings: `<snr>_<type>/<type>/id_XX/{normal,abnormal}/NNNNNNNN.wav`.

MIMII (Purohit et al., 2019) has no train/test split and 8-channel files.  The split follows the
way DCASE 2020 Task 2 was made from it: per machine ID, every abnormal clip and as many normal
clips go to the test set, the other normal clips are for training.  `test_normals` (the run's
data.mimii_test_normals) sets how many normal clips per machine ID are tested instead: a folder with
as many abnormal clips as normal ones would otherwise leave nothing to train on.  Which normals are
tested is fixed by name (the last ones in sorted order), so a folder always splits the same way.  The SNR
folder (`-6_dB`, `0_dB`, `6_dB`) becomes the clip's `snr` attribute.  Channel 0 is read unless
the run's `data.channel` says otherwise (DCASE 2020 used channel 0).

A root may be a folder of `<snr>_<type>` folders, one `<snr>_<type>` folder, or one `<type>`
folder holding the `id_XX` folders.
"""
from __future__ import annotations

import re
from pathlib import Path

from .records import ANOMALY, NORMAL, ClipRecord

_SNR = re.compile(r"^(?P<snr>-?\d+_dB)_(?P<type>.+)$")
_ID = re.compile(r"^id_\d+$")
LABEL_FOLDERS = {"normal": NORMAL, "abnormal": ANOMALY}


def is_id_folder(path: Path) -> bool:
    return bool(_ID.match(path.name)) and path.is_dir() and any((path / f).is_dir() for f in LABEL_FOLDERS)


def type_folders(root: Path) -> list[Path]:
    """The `<type>` folders (holding id_XX folders) at or below root, at most two levels down."""
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir()),
                  *sorted(q for p in root.iterdir() if p.is_dir() for q in p.iterdir() if q.is_dir())]
    return [p for p in candidates if any(is_id_folder(c) for c in p.iterdir())]


def snr_of(type_dir: Path) -> str | None:
    """`6_dB` for .../6_dB_fan/fan, else None."""
    m = _SNR.match(type_dir.parent.name)
    return m["snr"] if m and m["type"] == type_dir.name else None


def check_test_normals(value) -> None:
    """Refuse a data.mimii_test_normals that cannot be a count, naming the setting and the value."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"data.mimii_test_normals must be a whole number >= 0 (normal clips per machine ID that go "
                         f"to test) or null (as many as its abnormal clips, as DCASE 2020 did), got {value!r}")


def tested_normals(n_normals: int, n_anomalies: int, test_normals: int | None = None) -> int:
    """How many of a machine ID's normal clips go to test: `test_normals`, or by DCASE 2020's rule
    as many as its abnormal clips; never more than it has."""
    return min(n_anomalies if test_normals is None else test_normals, n_normals)


def describe_split(test_normals: int | None = None) -> str:
    """The split in one sentence, for the data check and the Train page."""
    if test_normals is None:
        how = ("N normal clips go to test (N = as many as its abnormal clips, as DCASE 2020 did; "
               "data.mimii_test_normals sets N)")
    else:
        how = f"{test_normals} normal clip(s) go to test (data.mimii_test_normals)"
    return f"MIMII has no train/test split: per machine ID, {how}, with every abnormal clip; the other normals train."


def scan_mimii(root: Path, accept, test_normals: int | None = None) -> list[ClipRecord]:
    """Records of every MIMII clip under root.  accept(path) -> bool says whether a file is usable
    audio (the caller records the problem otherwise); test_normals: normal clips per machine ID
    that go to test (None: as many as its abnormal clips)."""
    check_test_normals(test_normals)
    records = []
    for type_dir in type_folders(root):
        snr = snr_of(type_dir)
        attributes = (("snr", snr),) if snr else ()
        for id_dir in sorted(p for p in type_dir.iterdir() if is_id_folder(p)):
            by_label = {label: sorted(p for p in (id_dir / folder).glob("*") if p.is_file() and accept(p))
                        for folder, label in LABEL_FOLDERS.items() if (id_dir / folder).is_dir()}
            anomalies, normals = by_label.get(ANOMALY, []), by_label.get(NORMAL, [])
            # all abnormal clips are tested, with as many normal ones (DCASE 2020) or test_normals
            n_test = tested_normals(len(normals), len(anomalies), test_normals)
            split_of = {p: "train" for p in normals[:len(normals) - n_test]}
            split_of.update({p: "test" for p in normals[len(normals) - n_test:] + anomalies})
            for path, split in split_of.items():
                label = ANOMALY if path in anomalies else NORMAL
                records.append(ClipRecord(
                    path=str(path), root=str(root), relpath=path.relative_to(root).as_posix(),
                    machine_type=type_dir.name, machine_id=id_dir.name, split=split, label=label,
                    clip_index=path.stem, layout="mimii", attributes=attributes))
    return records
