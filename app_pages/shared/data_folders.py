"""What the data-set folders hold: a stamp that changes when any clip does, and the data check,
kept per server process so that the warm-up (app_pages/warm_up.py) can run it before Train asks."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

from asdcore.data import scan_dataset
from asdcore.data.check import check_report, file_warnings
from asdcore.data.classes import classifier_classes, describe_classes


def folders_stamp(roots) -> float:
    """The newest modification time of the roots, their machine-type folders and the split
    folders inside them: it changes when a clip is added, removed or renamed anywhere."""
    stamp = 0.0
    for root in map(Path, roots):
        for folder in [root, *(p for p in root.glob("*") if p.is_dir()), *(p for p in root.glob("*/*") if p.is_dir())]:
            stamp = max(stamp, folder.stat().st_mtime)
    return stamp


@functools.lru_cache(maxsize=16)
def _data_check(roots: tuple[str, ...], stamp: float) -> dict:
    try:
        ds = scan_dataset(list(roots))
    except (FileNotFoundError, NotADirectoryError) as exc:
        return {"error": str(exc)}
    warnings = file_warnings(ds)  # decodes every clip once: shared by the report and the page
    mode, classes, trained = classifier_classes(ds.records)  # what a classifier's classes would be
    return {"error": None, "clips": len(ds.records), "classes": len(ds.classes),
            "class_mode": mode, "classifier_classes": describe_classes(mode, classes),
            "trained_classes": trained,
            "machine_types": ds.machine_types,
            "train_normals": len(ds.select(split="train", label="normal")),
            "labelled_test": sum(1 for r in ds.records if r.split == "test" and r.label is not None),
            "problems": [str(p) for p in ds.problems], "warnings": warnings,
            "report": check_report(ds, warnings)}


_data_check_lock = threading.Lock()


def data_check(roots) -> dict:
    """What the data-set folders hold (asdcore.data.scan_dataset and its check report), or
    {"error": why}.  Kept per server process until a folder changes, in a plain memo rather than
    st.cache_data so the warm-up thread (app_pages/warm_up.py) can fill it before the Train page
    asks; one check at a time, so a page asking during the warm-up's check waits for its result.
    Reads every clip's header: ~0.2 s for the default toy set."""
    stamp = folders_stamp(Path(r) for r in roots if Path(r).is_dir())
    with _data_check_lock:
        return _data_check(tuple(str(r) for r in roots), stamp)
