"""File-name schemes of the DCASE anomalous-sound-detection data sets.

    DCASE 2020:       <type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav
                      (evaluation set: id_XX_NNNNNNNN.wav, no label)
    DCASE 2021:       <type>/train/section_XX_{source,target}_train_normal_NNNN[_attr...].wav
                      <type>/{source_test,target_test}/section_XX_{source,target}_test_{normal,anomaly}_NNNN.wav
    DCASE 2022/2023:  <type>/{train,test}/section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN_<key>_<value>...wav
                      (evaluation set: section_XX_NNNN.wav, no label)
    DCASE 2024/2025:  the 2022/2023 scheme; a machine type recorded without attributes ends its names in
                      `_noAttribute` (section_00_source_train_normal_0001_noAttribute.wav): no attributes, so
                      the section is the class.  2025 adds <type>/supplemental/ (clean machine sound and
                      noise-only clips): not clips of the data set, counted apart (`supplemental_kind`)

`parse_name` turns one file name into the fields of a ClipRecord, or says why it
cannot.  Sections, domains and attributes flow into the clip tables and the
DCASE 2021-2023 metrics (asdcore.evaluation.domain_metrics).  The original MIMII
folders carry their labels in folder names: asdcore.data.mimii reads them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_DCASE2020 = re.compile(r"^(?:(?P<label>normal|anomaly)_)?id_(?P<id>\d+)_(?P<index>\d+)$")
_DCASE2021PLUS = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<index>\d+)(?:_(?P<attrs>.+))?$")
_UNLABELLED_SECTION = re.compile(r"^section_(?P<section>\d+)_(?P<index>\d+)$")
# DCASE 2021's evaluation clips keep the domain and split but drop the label:
# <type>/source_test/section_03_source_test_0000.wav (the evaluation set's README)
_UNLABELLED_2021 = re.compile(r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>test)_(?P<index>\d+)$")

# Each layout's name for people, and where its training normals are: the path and file name the
# scanners (parse_name, asdcore.data.mimii) read as a training normal, so that a folder with none
# can be told exactly what is missing.  Keys are ClipRecord.layout values.
LAYOUT_NAMES = {"dcase2020": "DCASE 2020", "dcase2021": "DCASE 2021", "dcase2022": "DCASE 2022/2023",
                "mimii": "MIMII"}
TRAIN_PATTERNS = {
    "dcase2020": "<root>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav",
    "dcase2021": "<root>/<machine_type>/train/section_XX_{source,target}_train_normal_NNNN.wav",
    "dcase2022": ("<root>/<machine_type>/train/section_XX_{source,target}_train_normal_NNNN_<key>_<value>"
                  "[_<key>_<value>...].wav"),
    "mimii": "<root>/<snr>_<machine_type>/<machine_type>/id_XX/normal/NNNNNNNN.wav",
}
# Where the missing training clips come from, per layout.  DCASE ships the training clips of the
# evaluation set's machine IDs / sections in a separate "additional training data" set.
_DCASE_SOURCES = ("the development set's `train/` folders, or, for the evaluation set's {what}, DCASE's separate "
                  "\"additional training data\" set, as another data-set folder")
TRAIN_SOURCES = {
    "dcase2020": _DCASE_SOURCES.format(what="machine IDs"),
    "dcase2021": _DCASE_SOURCES.format(what="sections"),
    "dcase2022": _DCASE_SOURCES.format(what="sections"),
    "mimii": "normal clips in the `id_XX/normal/` folders",
}


def layouts_read() -> str:
    """Every layout the scanners read, with its training-file pattern (for a folder where no clip
    was recognised at all)."""
    return "; ".join(f"{LAYOUT_NAMES[k]} `{TRAIN_PATTERNS[k]}`" for k in TRAIN_PATTERNS)


# Folder names that hold clips, and the split they mean.
SPLIT_FOLDERS = {
    "train": "train",
    "test": "test",
    "source_test": "test",
    "target_test": "test",
}

# DCASE 2025's per-machine-type folder of supplemental clips: clean machine sound (recorded without
# the factory noise) and noise-only recordings.  They are neither training normals nor test clips: a
# scan counts them (asdcore.data.dataset.Dataset.supplemental) and `data check` reports the counts.
# Public code that reads the 2025 development set names them as, e.g.,
#   section_00_source_supplemental_machine_0000.wav / section_00_noise_supplemental_normal_0000.wav
#   (a DCASE 2025 task 2 scanner on GitHub), and section_00_machine_source_0000_noAttribute.wav
#   (the README of another 2025 project);
# the forms differ, so the folder, not the name, says a clip is supplemental, and a `noise` token in
# the name says it is noise-only (clean machine sound otherwise).
SUPPLEMENTAL_FOLDER = "supplemental"


def supplemental_kind(filename: str) -> str:
    """"noise" for a noise-only supplemental clip (a `noise` token in its name), "clean" otherwise."""
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return "noise" if "noise" in stem.lower().split("_") else "clean"


@dataclass(frozen=True)
class ParsedName:
    machine_id: str
    label: str | None
    clip_index: str
    layout: str
    split: str | None = None  # only when the name itself says it (2021+)
    section: str | None = None
    domain: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


# What DCASE 2024/2025 names carry in place of attributes when a machine type has none.
NO_ATTRIBUTE = "noAttribute"


class NameNotUnderstood(ValueError):
    pass


def parse_attributes(text: str | None) -> tuple[tuple[str, str], ...]:
    """`vel_8_loc_A` -> (("vel", "8"), ("loc", "A")).  `noAttribute` (DCASE 2024/2025: a machine
    type recorded without attributes) is no attributes: ().  Any other trailing lone token becomes
    a key with an empty value."""
    if not text or text == NO_ATTRIBUTE:
        return ()
    tokens = text.split("_")
    pairs = [(tokens[i], tokens[i + 1]) for i in range(0, len(tokens) - 1, 2)]
    if len(tokens) % 2:
        pairs.append((tokens[-1], ""))
    return tuple(pairs)


def parse_name(filename: str) -> ParsedName:
    """Parse a clip's file name (with or without directories and `.wav`)."""
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if stem.lower().endswith(".wav"):
        stem = stem[:-4]
    m = _DCASE2020.match(stem)
    if m:
        return ParsedName(machine_id=f"id_{m['id']}", label=m["label"], clip_index=m["index"],
                          layout="dcase2020")
    m = _DCASE2021PLUS.match(stem)
    if m:
        attrs = parse_attributes(m["attrs"])
        # 2021 names end at the index (train names may carry free-form suffixes);
        # 2022/2023 names carry key_value pairs.  Both share the record fields.
        # (2024/2025's `noAttribute` is the 2022 scheme's word for no attributes)
        layout = "dcase2022" if attrs or m["attrs"] == NO_ATTRIBUTE else "dcase2021"
        return ParsedName(machine_id=f"section_{m['section']}", label=m["label"],
                          clip_index=m["index"], layout=layout, split=m["split"],
                          section=m["section"], domain=m["domain"], attributes=attrs)
    m = _UNLABELLED_2021.match(stem)
    if m:
        return ParsedName(machine_id=f"section_{m['section']}", label=None, clip_index=m["index"],
                          layout="dcase2021", split="test", section=m["section"], domain=m["domain"])
    m = _UNLABELLED_SECTION.match(stem)
    if m:
        return ParsedName(machine_id=f"section_{m['section']}", label=None, clip_index=m["index"],
                          layout="dcase2022", section=m["section"])
    raise NameNotUnderstood(
        f"name not understood: {stem!r} matches no DCASE 2020-2023 scheme "
        "(expected e.g. normal_id_00_00000000.wav or section_00_source_train_normal_0000.wav)")
