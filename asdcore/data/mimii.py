"""The original MIMII recordings: `<snr>_<type>/<type>/id_XX/{normal,abnormal}/NNNNNNNN.wav`.

MIMII (Purohit et al., 2019) has no train/test split and 8-channel files.  The split follows the
way DCASE 2020 Task 2 was made from it: per machine ID, every abnormal clip and as many normal
clips go to the test set, the other normal clips are for training.  Which normals are tested is
fixed by name (the last ones in sorted order), so a folder always splits the same way.  The SNR
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


def scan_mimii(root: Path, accept) -> list[ClipRecord]:
    """Records of every MIMII clip under root.  accept(path) -> bool says whether a file is usable
    audio (the caller records the problem otherwise)."""
    records = []
    for type_dir in type_folders(root):
        snr = snr_of(type_dir)
        attributes = (("snr", snr),) if snr else ()
        for id_dir in sorted(p for p in type_dir.iterdir() if is_id_folder(p)):
            by_label = {label: sorted(p for p in (id_dir / folder).glob("*") if p.is_file() and accept(p))
                        for folder, label in LABEL_FOLDERS.items() if (id_dir / folder).is_dir()}
            anomalies, normals = by_label.get(ANOMALY, []), by_label.get(NORMAL, [])
            # DCASE 2020's split: all abnormal clips and as many normal ones are tested
            n_test = min(len(anomalies), len(normals))
            split_of = {p: "train" for p in normals[:len(normals) - n_test]}
            split_of.update({p: "test" for p in normals[len(normals) - n_test:] + anomalies})
            for path, split in split_of.items():
                label = ANOMALY if path in anomalies else NORMAL
                records.append(ClipRecord(
                    path=str(path), root=str(root), relpath=path.relative_to(root).as_posix(),
                    machine_type=type_dir.name, machine_id=id_dir.name, split=split, label=label,
                    clip_index=path.stem, layout="mimii", attributes=attributes))
    return records
