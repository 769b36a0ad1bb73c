"""What the data-set folders hold: a stamp that changes when any clip does, and the data check,
kept per server process so that the warm-up (app_pages/warm_up.py) can run it before Train asks."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from asdcore.data import scan_dataset
from asdcore.data.check import (check_report, file_notes, group_notes, max_channels, no_training_normals,
                                per_file_lines, read_facts)
from asdcore.data.classes import classifier_classes, describe_classes
from asdcore.data.mimii import describe_split


def folders_stamp(roots) -> float:
    """The newest modification time of the roots, their machine-type folders and the split
    folders inside them: it changes when a clip is added, removed or renamed anywhere."""
    stamp = 0.0
    for root in map(Path, roots):
        for folder in [root, *(p for p in root.glob("*") if p.is_dir()), *(p for p in root.glob("*/*") if p.is_dir())]:
            stamp = max(stamp, folder.stat().st_mtime)
    return stamp


@functools.lru_cache(maxsize=16)
def _scan(roots: tuple[str, ...], stamp: float, mimii_test_normals: int | None):
    """The scanned data set, or the error that stopped the scan (a missing folder, a bad setting)."""
    try:
        return scan_dataset(list(roots), mimii_test_normals=mimii_test_normals)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        return exc


@functools.lru_cache(maxsize=16)
def _facts(roots: tuple[str, ...], stamp: float) -> dict:
    """Every clip decoded once (asdcore.data.check.read_facts): which clips there are does not depend
    on the MIMII split or the channel, so changing either on the Train page decodes nothing again."""
    return read_facts(_scan(roots, stamp, None))


@functools.lru_cache(maxsize=16)
def _data_check(roots: tuple[str, ...], stamp: float, mimii_test_normals: int | None = None,
                channel: int = 0) -> dict:
    ds = _scan(roots, stamp, mimii_test_normals)
    if isinstance(ds, Exception):
        return {"error": str(ds)}
    facts = _facts(roots, stamp)
    notes = file_notes(ds, channel=channel, facts=facts)  # shared by the report and the page
    mode, classes, trained = classifier_classes(ds.records)  # what a classifier's classes would be
    train_normals = len(ds.select(split="train", label="normal"))
    return {"error": None, "clips": len(ds.records), "classes": len(ds.classes),
            "class_mode": mode, "classifier_classes": describe_classes(mode, classes),
            "trained_classes": trained,
            "machine_types": ds.machine_types, "layouts": ds.layouts,
            "train_normals": train_normals,
            "no_train_normals": None if train_normals else no_training_normals(ds, mimii_test_normals),
            "mimii_split": describe_split(mimii_test_normals) if "mimii" in ds.layouts else None,
            "max_channels": max_channels(facts),
            # files without the chosen channel: a run would stop at the first of them
            "channel_missing": sorted(path for path, f in facts.items()
                                      if not isinstance(f, Exception) and f[2] <= channel),
            # machine IDs whose normals all went to test in the MIMII split: their test clips are left out
            "mimii_untrained": _mimii_untrained(ds),
            "labelled_test": sum(1 for r in ds.records if r.split == "test" and r.label is not None),
            "problems": [str(p) for p in ds.problems],
            # per file ("<path>: <note>; <note>") for whatever needs every file, and grouped for people
            "warnings": per_file_lines(notes), "note_groups": group_notes(notes),
            "report": check_report(ds, notes, mimii_test_normals)}


def _mimii_untrained(ds) -> list[str]:
    """"<type> <id>" of the MIMII machine IDs with normal clips but none left to train on."""
    mimii = [r for r in ds.records if r.layout == "mimii"]
    trained = {r.class_key for r in mimii if r.split == "train" and r.label == "normal"}
    return sorted({f"{r.machine_type} {r.machine_id}" for r in mimii if r.label == "normal" and r.class_key not in trained})


_data_check_lock = threading.Lock()


def data_check(roots, mimii_test_normals: int | None = None, channel: int = 0) -> dict:
    """What the data-set folders hold (asdcore.data.scan_dataset and its check report), or
    {"error": why}, with MIMII folders split by `mimii_test_normals` and multi-channel files read at
    `channel` (a run's data settings).  Kept per server process until a folder changes, in a plain
    memo rather than st.cache_data so the warm-up thread (app_pages/warm_up.py) can fill it before the
    Train page asks; one check at a time, so a page asking during the warm-up's check waits for its
    result.  Decodes every clip once per folder state: ~0.2 s for the default toy set."""
    stamp = folders_stamp(Path(r) for r in roots if Path(r).is_dir())
    with _data_check_lock:
        return _data_check(tuple(str(r) for r in roots), stamp, mimii_test_normals, channel)
