"""What a class is for the classifier recipes (the ID classifiers with margin losses).

A classifier learns to tell classes of normal sound apart; a clip far from its own class's centre
is anomalous.  What a class is depends on the data (the run's `data.classes`):

    section      one class per machine type and machine ID (DCASE 2020) or section (2021-2022,
                 MIMII); a 2021-2023 section holds both domains, so its target clips share the
                 source clips' class
    attributes   one class per machine type, section and attribute values ("vel=8;loc=A") found
                 among the training normals: DCASE 2023, where every machine type has one section
                 and a section-per-type classifier would only learn to tell the types apart
    auto         attributes where every machine type has a single section and at least one type's
                 training normals carry two or more attribute combinations; section otherwise

With attribute classes a test clip's class is the one its name's attributes select; a test clip
whose attributes no training normal of its section carries, or whose name carries none (DCASE
2023 evaluation clips), has no class (class_index -1): it scores as the most normal of its
section's classes (`section_candidates`, asdcore.evaluation.scoring.score_with_candidates).

A classifier needs at least two classes with training normals: `check_classes` refuses otherwise,
and says what to do (the autoencoder recipe learns from a single machine).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from .records import ClipRecord, class_list

CLASS_MODES = ("auto", "section", "attributes")


class TooFewClasses(ValueError):
    """A classifier recipe on data with fewer than two classes of training normals."""


def choose_class_mode(train_normals: list[ClipRecord], mode: str = "auto") -> str:
    """"section" or "attributes": `mode` itself, or for "auto" the rule in the module docstring."""
    if mode not in CLASS_MODES:
        raise ValueError(f"data.classes must be one of {', '.join(CLASS_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    sections, combinations = defaultdict(set), defaultdict(set)
    for r in train_normals:
        sections[r.machine_type].add(r.machine_id)
        combinations[r.machine_type].add(r.attributes)
    one_section_each = bool(sections) and all(len(s) == 1 for s in sections.values())
    has_attributes = any(len(c) >= 2 for c in combinations.values())
    return "attributes" if one_section_each and has_attributes else "section"


def attribute_class_key(r: ClipRecord) -> tuple[str, str]:
    """(machine type, "section_00 vel=8;loc=A"): the section, then the attribute values."""
    return (r.machine_type, f"{r.machine_id} {r.attributes_text}".strip())


def assign_classes(records: list[ClipRecord], mode: str) -> tuple[list[ClipRecord], list[tuple[str, str]]]:
    """The records with `class_index` set for `mode` ("section" or "attributes"), and the classes.

    section: every record's (type, ID) is a class (asdcore.data.records.class_list's order).
    attributes: the classes are the attribute combinations of the training normals, sorted; other
    records get the index of their combination, or -1 when no training normal carries it."""
    if mode == "section":
        classes = class_list(records)
        key = ClipRecord.class_key.fget
    elif mode == "attributes":
        type_order = {t: i for i, (t, _) in enumerate(class_list(records))}
        keys = {attribute_class_key(r) for r in records if r.split == "train" and r.label == "normal"}
        classes = sorted(keys, key=lambda k: (type_order[k[0]], k[1]))
        key = attribute_class_key
    else:
        raise ValueError(f"class mode must be 'section' or 'attributes', got {mode!r}")
    index = {k: i for i, k in enumerate(classes)}
    return [replace(r, class_index=index.get(key(r), -1)) for r in records], classes


def section_candidates(records: list[ClipRecord], classes: list[tuple[str, str]]):
    """(N, C) bool numpy array: for each record without a class (class_index -1), the classes of
    its machine type and section (attribute classes are named "section_00 key=value;...");
    all False for records with a class."""
    out = np.zeros((len(records), len(classes)), dtype=bool)
    section_of = [(t, name.split(" ")[0]) for t, name in classes]
    for i, r in enumerate(records):
        if r.class_index < 0:
            out[i] = [key == (r.machine_type, r.machine_id) for key in section_of]
    return out


def classifier_classes(records: list[ClipRecord]) -> tuple[str, list[tuple[str, str]], int]:
    """What data.classes=auto makes of these records: (mode, classes, how many classes have
    training normals); `data check` and the Train page say it."""
    normals = [r for r in records if r.split == "train" and r.label == "normal"]
    mode = choose_class_mode(normals)
    records, classes = assign_classes(records, mode)
    trained = {r.class_index for r in records if r.split == "train" and r.label == "normal"}
    return mode, classes, len(trained)


def describe_classes(mode: str, classes: list[tuple[str, str]]) -> str:
    """One line for `data check` and the training log."""
    what = ("machine type x section (attribute values)" if mode == "attributes"
            else "machine type x machine ID / section")
    return f"{len(classes)} classes, one per {what}"


def check_classes(train: list[ClipRecord], classes: list[tuple[str, str]], recipe: str) -> None:
    """Refuse a classifier recipe when fewer than two classes have training normals."""
    trained = sorted({r.class_index for r in train if r.class_index >= 0})
    if len(trained) >= 2:
        return
    which = " ".join(classes[trained[0]]) if trained else "none"
    raise TooFewClasses(
        f"recipe {recipe!r} learns to tell classes of normal sound apart, but the training normals form "
        f"{len(trained)} class ({which}): it needs two or more machine IDs, sections, or attribute values "
        f"(data.classes=attributes). Add another machine's recordings, or train the autoencoder, which learns "
        f"from one machine: --recipe dcase-ae")
