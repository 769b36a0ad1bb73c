"""The toy factory's metadata.csv, read in one place (the run evaluation, the diagnosis and the
Home page all want each clip's fault: its kind and family, its span in seconds and its severity)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

FAULT_COLUMNS = ("fault_kind", "fault_family", "fault_onset_s", "fault_offset_s", "severity")


def read_fault_metadata(root: str | Path) -> pd.DataFrame | None:
    """One row per clip of a toy data set: `path` (relative to `root`) and the fault columns the
    file has (NaN for normal clips; sets made before fault families have no `fault_family`).
    None when `root` holds no metadata.csv naming faults (not a toy set)."""
    path = Path(root) / "metadata.csv"
    if not path.is_file():
        return None
    meta = pd.read_csv(path)
    if "path" not in meta.columns or "fault_kind" not in meta.columns:
        return None
    return meta[["path", *[c for c in FAULT_COLUMNS if c in meta.columns]]]
