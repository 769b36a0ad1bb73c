"""`python -m asdcore data check PATH...`: what a folder holds and what is wrong with it."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd
import soundfile as sf

from . import mimii
from .classes import classifier_classes, describe_classes
from .dataset import Dataset, scan_dataset
from .layouts import LAYOUT_NAMES, TRAIN_PATTERNS, TRAIN_SOURCES, layouts_read


def durations(ds: Dataset, max_files_per_class: int = 50) -> Counter:
    """Clip durations in seconds (rounded to 0.1 s) from a sample of headers per class."""
    seen: Counter = Counter()
    out: Counter = Counter()
    for r in ds.records:
        if seen[r.class_key] >= max_files_per_class:
            continue
        seen[r.class_key] += 1
        info = sf.info(r.path)
        out[(round(info.frames / info.samplerate, 1), info.samplerate, info.channels)] += 1
    return out


def read_facts(ds: Dataset) -> dict:
    """Every usable clip decoded in full: path -> (seconds, sample rate, channels, peak), or the
    exception that stopped the read (a file unreadable since the scan).  The notes below come from
    the samples themselves, not the header; callers that need the notes twice keep this."""
    import numpy as np

    facts = {}
    for r in ds.records:
        try:
            data, sr = sf.read(r.path, dtype="float32", always_2d=True)
            facts[r.path] = (len(data) / sr, sr, data.shape[1], float(np.abs(data).max()) if data.size else 0.0)
        except Exception as exc:  # unreadable since the scan
            facts[r.path] = exc
    return facts


def max_channels(facts: dict) -> int:
    """The most channels any readable clip has (1 when none was read)."""
    return max((f[2] for f in facts.values() if not isinstance(f, Exception)), default=1)


def file_notes(ds: Dataset, sample_rate: int = 16000, shortest_s: float = 1.0, longest_ratio: float = 1.5,
               channel: int = 0, facts: dict | None = None) -> list[tuple[str, str]]:
    """(path, note) for what a model would see differently from the file or what an engineer should
    look at: another sample rate (resampled when read), several channels (`channel` is used: the
    run's data.channel), a file without that channel (it cannot be read as asked), a clip shorter than
    `shortest_s` (padded to the clip length) or over `longest_ratio` times its machine type's median
    length (cropped to the clip length), and a silent clip (a disconnected microphone, or a stopped
    machine: it is kept, since a test clip of a stopped machine is a fair anomaly).  A file with
    several notes gives several pairs.  Unusable files (NaN samples, truncated, not audio) are the
    scan's problems, not listed here.  facts: read_facts(ds) when the caller has it already."""
    import numpy as np

    facts = read_facts(ds) if facts is None else facts
    seconds = {p: f[0] for p, f in facts.items() if not isinstance(f, Exception)}
    median = {t: float(np.median([seconds[r.path] for r in ds.records if r.machine_type == t and r.path in seconds]
                                 or [0.0])) for t in ds.machine_types}
    out = []
    for r in ds.records:
        if isinstance(facts[r.path], Exception):
            out.append((r.path, f"unreadable ({facts[r.path]})"))
            continue
        length, rate, channels, peak = facts[r.path]
        if rate != sample_rate:
            out.append((r.path, f"{rate} Hz (resampled to {sample_rate} Hz when read)"))
        if channel >= channels:
            out.append((r.path, f"{channels} channel(s): no channel {channel} to read (data.channel counts from 0)"))
        elif channels > 1:
            out.append((r.path, f"{channels} channels, channel {channel} used (data.channel picks another)"))
        if length < shortest_s:
            out.append((r.path, f"only {length:.2f} s long (padded to the clip length)"))
        elif median[r.machine_type] and length > longest_ratio * median[r.machine_type]:
            out.append((r.path, f"{length:.1f} s long, where {r.machine_type}'s clips last "
                                f"{median[r.machine_type]:.1f} s (cropped to the clip length, data.clip_seconds)"))
        if peak == 0.0:
            out.append((r.path, "silent: every sample is 0 (a disconnected microphone, or a stopped machine?)"))
        elif peak < 1e-4:
            out.append((r.path, f"almost silent: peak {20 * np.log10(peak):.0f} dBFS"))
    return out


def file_warnings(ds: Dataset, sample_rate: int = 16000, shortest_s: float = 1.0,
                  longest_ratio: float = 1.5, channel: int = 0, facts: dict | None = None) -> list[str]:
    """file_notes as one "<path>: <note>; <note>" line per file (the per-file list, for whoever needs
    every file by name; people read group_notes)."""
    return per_file_lines(file_notes(ds, sample_rate, shortest_s, longest_ratio, channel, facts))


def per_file_lines(notes: list[tuple[str, str]]) -> list[str]:
    """(path, note) pairs as one "<path>: <note>; <note>" line per file, in the order files first appear."""
    per_file: dict[str, list[str]] = {}
    for path, note in notes:
        per_file.setdefault(path, []).append(note)
    return [f"{path}: " + "; ".join(texts) for path, texts in per_file.items()]


@dataclass(frozen=True)
class NoteGroup:
    """One note and every file it applies to."""

    note: str
    paths: tuple[str, ...]

    def __str__(self) -> str:
        # a note of one file names it; a note shared by many is one line with its count and examples,
        # so 40 eight-channel MIMII files read as one line rather than 40 identical ones
        if len(self.paths) == 1:
            return f"{self.paths[0]}: {self.note}"
        return f"{len(self.paths)} files: {self.note} (e.g. {', '.join(self.paths[:2])})"


def group_notes(notes: list[tuple[str, str]]) -> list[NoteGroup]:
    """Identical notes of several files as one group each, in the order the notes first appear."""
    groups: dict[str, list[str]] = {}
    for path, note in notes:
        groups.setdefault(note, []).append(path)
    return [NoteGroup(note, tuple(paths)) for note, paths in groups.items()]


def no_training_normals(ds: Dataset, mimii_test_normals: int | None = None) -> str:
    """Why a data set has no training normals and what to do, naming the file pattern of the layout
    that was actually found (the Train page and asdcore.runtime show this one text)."""
    roots = ", ".join(ds.roots)
    if not ds.records:  # nothing recognised: say which layouts are read
        return (f"no training normals under {roots}: no clip there was recognised. The layouts read, by their "
                f"training files: {layouts_read()}.")
    parts = []
    found = ds.layouts
    mimii_normals = [r for r in ds.records if r.layout == "mimii" and r.label == "normal"]
    if mimii_normals:  # every normal went to test: the split, not the folder, left nothing to train
        per_id = Counter((r.machine_type, r.machine_id, r.label) for r in ds.records if r.layout == "mimii")
        t, i = mimii_normals[0].machine_type, mimii_normals[0].machine_id
        example = f"{t} {i}: {per_id[(t, i, 'normal')]} normal, {per_id[(t, i, 'anomaly')]} abnormal"
        parts.append(f"{mimii.describe_split(mimii_test_normals)} Here that sends all {len(mimii_normals)} normal "
                     f"clip(s) to test ({example}): set data.mimii_test_normals (the Train page's \"MIMII normals "
                     "tested per machine ID\", `data check --mimii-test-normals N`) below the normal clips per "
                     "machine ID, or add normal clips.")
    for layout in found:
        if layout == "mimii" and mimii_normals:
            continue
        parts.append(f"The {LAYOUT_NAMES.get(layout, layout)} layout was found; its training clips are named "
                     f"`{TRAIN_PATTERNS.get(layout, '?')}`. Add them: {TRAIN_SOURCES.get(layout, 'its training clips')}.")
    return f"no training normals under {roots}. " + " ".join(parts)


def domain_table(ds: Dataset) -> pd.DataFrame | None:
    """DCASE 2021-2023 data: clips per machine type, section and domain (source/target), by split
    and label; None when no clip names a domain."""
    counts = Counter((r.machine_type, r.section, r.domain, f"{r.split} {r.label or 'unlabelled'}")
                     for r in ds.records if r.domain is not None)
    if not counts:
        return None
    rows = [dict(machine_type=t, section=s, domain=d, column=c, clips=n) for (t, s, d, c), n in counts.items()]
    table = pd.DataFrame(rows).pivot_table(index=["machine_type", "section", "domain"], columns="column",
                                           values="clips", fill_value=0, aggfunc="sum")
    order = [c for c in ("train normal", "test normal", "test anomaly", "test unlabelled") if c in table]
    return table[order + [c for c in table if c not in order]].reset_index().rename_axis(columns=None)


def supplemental_lines(ds: Dataset) -> list[str]:
    """One line per machine type with a DCASE 2025 `supplemental/` folder: its clip counts, which
    are never trained on nor scored (asdcore.data.layouts.SUPPLEMENTAL_FOLDER)."""
    return [f"supplemental ({machine_type}): {clean} clean machine, {noise} noise-only clips, "
            "not used for training or scoring"
            for machine_type, (clean, noise) in ds.supplemental_counts().items()]


def ground_truth_lines(ds: Dataset) -> list[str]:
    """One line per organisers' ground-truth list that labelled evaluation clips, and one for the
    test clips left unlabelled (asdcore.data.ground_truth): those are scored but not in the AUC."""
    labelled = Counter(r.labelled_by for r in ds.records if r.labelled_by)
    lines = [f"evaluation ground truth: {n} test clips labelled from {name}" for name, n in sorted(labelled.items())]
    unlabelled = sum(1 for r in ds.records if r.split == "test" and r.label is None)
    if unlabelled:
        lines.append(f"{unlabelled} test clips carry no label (no normal/anomaly word and no ground-truth list "
                     "naming them): scored, not counted in AUC or pAUC. `asdcore data download dcaseYYYY-eval` "
                     "puts the organisers' list (eval_data_list_YYYY.csv) beside the clips")
    return lines


def check_report(ds: Dataset, notes: list[tuple[str, str]] | None = None,
                 mimii_test_normals: int | None = None) -> str:
    """A human-readable report: layout, counts per type / ID / split / label, what to look at and
    the problems (`notes`: file_notes(ds) when the caller has it already), repeated notes grouped."""
    lines = [f"roots: {', '.join(ds.roots)}"]
    if ds.records:
        lines.append(f"layout found: {', '.join(ds.layouts)}")
        if "mimii" in ds.layouts:
            lines.append(mimii.describe_split(mimii_test_normals))
        mode, classes, _ = classifier_classes(ds.records)
        lines.append(f"{len(ds.records)} usable clips, machine types: {', '.join(ds.machine_types)}")
        lines.append(f"classifier recipes: {describe_classes(mode, classes)} (data.classes=auto)")
        table = ds.summary_table()
        lines.append("")
        lines.append(table.to_string(index=False))
        lines.append("")
        domains = domain_table(ds)
        if domains is not None:
            lines.append("per section and domain (DCASE 2021-2023: the target domain has few training clips):")
            lines.append(domains.to_string(index=False))
            lines.append("")
        lines += supplemental_lines(ds)
        lines += ground_truth_lines(ds)
        fmt = ", ".join(f"{n} x {d:g} s @ {sr} Hz, {ch} ch" for (d, sr, ch), n in
                        sorted(durations(ds).items()))
        lines.append(f"clip formats (sampled): {fmt}")
        if not ds.select(split="train", label="normal"):
            lines.append("")
            lines.append(f"nothing to train on: {no_training_normals(ds, mimii_test_normals)}")
    else:
        lines.append(f"no usable clips found. The layouts read, by their training files: {layouts_read()} "
                     "(test clips sit beside them in test/, source_test/, target_test/ or abnormal/)")
        lines += supplemental_lines(ds)
    notes = file_notes(ds) if notes is None else notes
    if notes:
        lines.append("")
        lines.append(f"{len({path for path, _ in notes})} usable file(s) to look at:")
        lines += [f"  {group}" for group in group_notes(notes)]
    if ds.problems:
        lines.append("")
        lines.append(f"{len(ds.problems)} problem file(s):")
        lines += [f"  {p}" for p in ds.problems]
    else:
        lines.append("no problem files")
    return "\n".join(lines)


def run_check(paths, mimii_test_normals: int | None = None, channel: int = 0) -> int:
    """Print the report; the exit status is non-zero when nothing usable was found (2 for a missing
    folder or a setting that cannot work)."""
    if channel < 0:
        print(f"error: --channel counts from 0, got {channel}")
        return 2
    try:
        ds = scan_dataset(paths, mimii_test_normals=mimii_test_normals)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    print(check_report(ds, file_notes(ds, channel=channel), mimii_test_normals))
    return 0 if ds.records else 1
