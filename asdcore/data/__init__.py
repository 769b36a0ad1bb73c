"""Data: DCASE layouts, clip records, audio loading, the data checker and the toy factory."""
from .audio import AudioError, fix_length, load_batch, load_clip, read_mono
from .dataset import Dataset, Problem, scan_dataset
from .layouts import NameNotUnderstood, parse_name
from .records import DCASE2020_MACHINE_TYPES, ClipRecord, class_list

__all__ = ["AudioError", "fix_length", "load_batch", "load_clip", "read_mono", "Dataset", "Problem",
           "scan_dataset", "NameNotUnderstood", "parse_name", "DCASE2020_MACHINE_TYPES", "ClipRecord",
           "class_list"]
