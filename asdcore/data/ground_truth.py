"""The organisers' evaluation ground truth: labels for the evaluation set's unlabelled test clips.

The DCASE evaluation sets ship their test clips without the normal/anomaly word
(`section_03_source_test_0000.wav`, 2021; `section_03_0000.wav`, 2022-2025; `id_05_00000000.wav`,
2020).  The organisers published, per year, a list from each such name to the name with its label
(`datasets/eval_data_list_<year>.csv` of the DCASE 2023 task 2 baseline repository, which
`asdcore data download dcaseYYYY-eval` copies into the data-set folder).  Its format:

    fan                                                           <- a row of one cell: a machine type
    section_03_source_test_0000.wav,section_03_source_test_anomaly_0000.wav
    ...                                                           <- name as shipped, name with label

When such a list lies in a data-set folder, the scanner labels the evaluation clips from it
(asdcore.data.dataset.scan_root), so the evaluation scores them by AUC and pAUC like development
clips.  The label, domain and attributes come from the labelled name; a clip the list does not
name stays unlabelled.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from .layouts import NameNotUnderstood, ParsedName, parse_name

LIST_PATTERN = re.compile(r"^eval_data_list_(?P<year>20\d\d)\.csv$")


class GroundTruthError(ValueError):
    pass


def ground_truth_files(root: Path) -> list[Path]:
    """The organisers' lists lying directly in a data-set folder (eval_data_list_<year>.csv)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and LIST_PATTERN.match(p.name))


def read_ground_truth(path: Path) -> dict[tuple[str, str], ParsedName]:
    """{(machine type, file name as shipped): the labelled name, parsed} of one list.  A pair
    before any machine type, or a labelled name that is not understood or carries no label, is
    refused with the file and line."""
    out: dict[tuple[str, str], ParsedName] = {}
    machine_type = None
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            if len(cells) == 1:  # a machine type's heading
                machine_type = cells[0]
                continue
            if machine_type is None:
                raise GroundTruthError(f"{path}, line {line_no}: a file pair before any machine-type line")
            shipped, labelled = cells[:2]  # further cells, if any, are not read (as the organisers' renamer)
            try:
                parsed = parse_name(labelled)
            except NameNotUnderstood as exc:
                raise GroundTruthError(f"{path}, line {line_no}: {exc}") from None
            if parsed.label is None:
                raise GroundTruthError(f"{path}, line {line_no}: {labelled!r} carries no normal/anomaly label")
            out[(machine_type, shipped)] = parsed
    return out


def load_root_ground_truth(root: Path) -> dict[tuple[str, str], tuple[ParsedName, str]]:
    """{(machine type, name as shipped): (labelled name parsed, the list's file name)} of every list
    in a data-set folder.  Two lists that label one clip differently are refused: the folder mixes
    years, and which label is right cannot be told."""
    out: dict[tuple[str, str], tuple[ParsedName, str]] = {}
    for path in ground_truth_files(root):
        for key, parsed in read_ground_truth(path).items():
            if key in out and out[key][0].label != parsed.label:
                raise GroundTruthError(f"{root}: {out[key][1]} and {path.name} label {key[0]}/{key[1]} "
                                       f"differently ({out[key][0].label} / {parsed.label}); keep one year's "
                                       "list per data-set folder")
            out[key] = (parsed, path.name)
    return out
