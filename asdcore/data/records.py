"""Clip records: what one audio file of a DCASE-style data set is.

One record per file.  DCASE 2020 names carry the label and the machine ID
(`normal_id_00_00000000.wav`); DCASE 2021-2023 names carry a section, a
source/target domain and, from 2022, attribute key-value pairs
(`section_00_source_train_normal_0001_vel_8_loc_A.wav`).  The record has a
field for each, so later data sets need no redesign: a 2020 record simply leaves
`section`, `domain` and `attributes` empty.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

# The six DCASE 2020 Task 2 machine types, in the order the challenge lists them.
DCASE2020_MACHINE_TYPES = ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor")

NORMAL = "normal"
ANOMALY = "anomaly"


@dataclass(frozen=True)
class ClipRecord:
    """One clip.  Paths: `path` is where the file is now; `relpath` is relative to
    `root`, the data-set folder it was found under, so a run can refer to clips in a
    machine-independent way."""

    path: str
    root: str
    relpath: str
    machine_type: str
    machine_id: str  # "id_00" (2020) or "section_00" (2021-2023): the classification target
    split: str  # "train" or "test"
    label: str | None  # "normal", "anomaly", or None for unlabelled (evaluation) clips
    clip_index: str  # the running number in the file name, as written ("00000012")
    layout: str  # "dcase2020", "dcase2021", "dcase2022" (2022 and 2023 share a scheme)
    section: str | None = None  # "00".. for 2021-2023
    domain: str | None = None  # "source" / "target" for 2021-2023
    attributes: tuple[tuple[str, str], ...] = field(default=())
    class_index: int = -1  # position of (machine_type, machine_id) in the data set's class list
    # the ground-truth list (eval_data_list_<year>.csv) that gave an evaluation clip its label;
    # None when the name itself carries the label, or the clip has none (asdcore.data.ground_truth)
    labelled_by: str | None = None

    @property
    def class_key(self) -> tuple[str, str]:
        return (self.machine_type, self.machine_id)

    @property
    def is_anomaly(self) -> int | None:
        """1 for anomalous, 0 for normal, None when the name carries no label."""
        if self.label is None:
            return None
        return int(self.label == ANOMALY)

    @property
    def attributes_text(self) -> str:
        """The attributes as "key=value;key=value" ("" when there are none)."""
        return ";".join(f"{k}={v}" for k, v in self.attributes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["attributes"] = self.attributes_text
        return d


def class_list(records) -> list[tuple[str, str]]:
    """The data set's classes, one per (machine_type, machine_id), in a stable order.

    Order: sorted by machine type in DCASE 2020's listing order (fan, pump, slider,
    valve, ToyCar, ToyConveyor; other types after them, alphabetically), then by
    machine ID as a string ("id_00" < "id_02" ...).  Every record contributes,
    train and test alike: the machine ID is read from the file name, it is not a
    label the model could cheat with, and the same class then means the same
    machine whichever split a clip is in.  The order depends only on which
    (type, ID) pairs exist, never on the order files were found in.
    """
    keys = {r.class_key for r in records}

    def type_rank(machine_type: str) -> tuple[int, str]:
        if machine_type in DCASE2020_MACHINE_TYPES:
            return (DCASE2020_MACHINE_TYPES.index(machine_type), "")
        return (len(DCASE2020_MACHINE_TYPES), machine_type)

    return sorted(keys, key=lambda k: (type_rank(k[0]), k[1]))
