"""The toy factory's presets and machine IDs: plain data, cheap to import (the CLI's argument
parser and the app read them without loading numpy or scipy)."""
from __future__ import annotations

from dataclasses import dataclass, field

# Machine IDs of the real DCASE 2020 sets: the development set's, and the
# additional training set's (train clips only).
DEV_IDS = {"fan": ("00", "02", "04", "06"), "pump": ("00", "02", "04", "06"),
           "slider": ("00", "02", "04", "06"), "valve": ("00", "02", "04", "06"),
           "ToyCar": ("01", "02", "03", "04"), "ToyConveyor": ("01", "02", "03")}
ADDITIONAL_IDS = {"fan": ("01", "03", "05"), "pump": ("01", "03", "05"),
                  "slider": ("01", "03", "05"), "valve": ("01", "03", "05"),
                  "ToyCar": ("05", "06", "07"), "ToyConveyor": ("04", "05", "06")}
# Every ID a type can have, the development set's first: a unit's slot on its type's ladders
# (machines.ladder puts the development IDs on adjacent rungs)
ID_SLOTS = {t: DEV_IDS[t] + ADDITIONAL_IDS[t] for t in DEV_IDS}


@dataclass(frozen=True)
class Preset:
    name: str
    clip_seconds: float
    ids: dict  # machine_type -> IDs with train and test clips
    train_per_id: int
    test_normal_per_id: int
    test_anomaly_per_id: int
    train_only_ids: dict = field(default_factory=dict)  # the additional training set's IDs
    snr_db: tuple = (0.0, 10.0)  # machine-to-background ratio, uniform per clip
    severity: tuple = (0.3, 1.0)  # fault severity, uniform per anomalous clip
    added_share: float = 0.1  # share of anomalies with an ADDED fault (the rest STRUCTURAL)
    structural_span: tuple = (0.85, 1.0)  # fault span as a fraction of the clip: most of it
    added_span: tuple = (0.25, 0.5)  # short added sounds, for the Attention page
    added_gain: float = 3.0  # loudness of added fault sounds (x the machine model's own gains)
    what: str = ""  # what the preset is for (the CLI and the Home page say it)
    # domain shift (DCASE 2021-2023): "dcase2022" names clips section_XX_<domain>_..._<attributes>;
    # each machine ID becomes a section, with a few target-domain training clips beside the
    # source domain's train_per_id, and target test clips (per label) beside the source ones
    layout: str = "dcase2020"
    target_train_per_id: int = 0
    target_test_per_label: int = 0


# What changes in the target domain of each section (a section's index among its type's IDs,
# modulo 4), as DCASE 2021-2023 change one operating or recording condition per section:
#   speed  the machine runs 5 % faster (another operating point: every tone and cycle shifts)
#   mic    the microphone is further away: highs are lost and the machine is 6 dB less above the hall
#   hall   another hall: 60 Hz mains, more rumble, the machine 4 dB less above the background
DOMAIN_SHIFTS = (("speed",), ("mic",), ("hall",), ("speed", "mic"))
SOURCE_CONDITION = {"op": "100", "mic": "near", "hall": "A"}
TARGET_CONDITION = {"speed": ("op", "105"), "mic": ("mic", "far"), "hall": ("hall", "B")}


def domain_attributes(section: int, domain: str) -> str:
    """The key_value pairs a clip's name carries, e.g. `op_105_mic_near_hall_A`."""
    condition = dict(SOURCE_CONDITION)
    if domain == "target":
        condition.update(TARGET_CONDITION[s] for s in DOMAIN_SHIFTS[section % len(DOMAIN_SHIFTS)])
    return "_".join(f"{k}_{v}" for k, v in condition.items())


PRESETS = {
    # seconds to make: for the test suite
    "tiny": Preset("tiny", 2.0, {t: ids[:2] for t, ids in DEV_IDS.items()}, 8, 4, 4,
                   what="for tests and demos: 12 IDs, a few clips each"),
    # the domain-shift layout in seconds, for the test suite: sections 0 (faster) and 1 (far mic)
    "tiny-shift": Preset("tiny-shift", 2.0, {t: ids[:2] for t, ids in DEV_IDS.items()}, 8, 4, 4, layout="dcase2022",
                         target_train_per_id=2, target_test_per_label=4,
                         what="for tests: the domain-shift layout in seconds, 12 sections, a few clips each"),
    # sized for 2-core CPUs: 23 machine IDs, 2 s clips, enough clips per ID for an ID classifier
    # to generalise in a few CPU epochs, and test sets that pin an AUC to about +-0.03
    "default": Preset("default", 2.0, DEV_IDS, 120, 50, 50,
                      what="the lab's data: faults mostly change what tells the machine IDs apart "
                           "(speeds, resonances, timing), as on the real DCASE data, so ID classifiers work"),
    # the blind spot of ID classifiers: faults are added sounds (ticks, crackle, hiss, squeal)
    # that leave every property telling the IDs apart as it was
    "hard": Preset("hard", 2.0, DEV_IDS, 120, 50, 50, added_share=1.0, added_span=(0.6, 1.0), added_gain=1.0,
                   what="the blind spot of ID classifiers: every fault is an added sound that leaves "
                        "what tells the IDs apart unchanged; the ID classifiers lose their lead to the simple baselines"),
    # domain shift as DCASE 2021-2023 pose it: each ID is a section whose target domain changes
    # one condition (DOMAIN_SHIFTS), with 4 target training clips per 120 source ones (DCASE has
    # ~1000:10; scaled for CPUs) and 25 + 25 test clips per domain
    "domain-shift": Preset("domain-shift", 2.0, DEV_IDS, 120, 25, 25, layout="dcase2022",
                           target_train_per_id=4, target_test_per_label=25,
                           what="domain shift (DCASE 2021-2023 layout): each section's target domain runs at "
                                "another speed, is recorded further away or in another hall, with few training clips"),
    # the real set's size: 10 s clips, ~900 training clips per ID, plus the
    # additional training set's 18 IDs (41 classes, as the papers train on)
    "dcase-scale": Preset("dcase-scale", 10.0, DEV_IDS, 900, 100, 150, train_only_ids=ADDITIONAL_IDS,
                          what="for GPU users and scale tests: the real set's size (41 IDs, 10 s clips)"),
    # an eighth of dcase-scale for `make bench` (scripts/bench.py): over 5 000 training clips of
    # 10 s (1.6 GB as int16, 3.3 GB as float32), the memory figure's data, made in minutes
    "scale-5k": Preset("scale-5k", 10.0, DEV_IDS, 125, 20, 20, train_only_ids=ADDITIONAL_IDS,
                       what="for the benchmark: dcase-scale's 41 IDs and 10 s clips, 125 training clips each"),
}
