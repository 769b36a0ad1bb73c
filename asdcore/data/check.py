"""`python -m asdcore data check PATH...`: what a folder holds and what is wrong with it."""
from __future__ import annotations

from collections import Counter

import pandas as pd
import soundfile as sf

from .classes import classifier_classes, describe_classes
from .dataset import Dataset, scan_dataset


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


def file_warnings(ds: Dataset, sample_rate: int = 16000, shortest_s: float = 1.0,
                  longest_ratio: float = 1.5) -> list[str]:
    """Every usable clip decoded in full, with what a model would see differently from the file or
    what an engineer should look at: another sample rate (resampled when read), several channels
    (channel 0 is used unless data.channel says otherwise), a clip shorter than `shortest_s` (padded
    to the clip length) or over `longest_ratio` times its machine type's median length (cropped to
    the clip length), and a silent clip (a disconnected microphone, or a stopped machine: it is
    kept, since a test clip of a stopped machine is a fair anomaly).  One line per file, naming it.
    Unusable files (NaN samples, truncated, not audio) are the scan's problems, not listed here."""
    import numpy as np

    facts = {}  # path -> (seconds, sample rate, channels, peak), or the exception that stopped the read
    for r in ds.records:
        try:  # one full read: the header's facts come from the samples themselves
            data, sr = sf.read(r.path, dtype="float32", always_2d=True)
            facts[r.path] = (len(data) / sr, sr, data.shape[1], float(np.abs(data).max()) if data.size else 0.0)
        except Exception as exc:  # unreadable since the scan
            facts[r.path] = exc
    seconds = {p: f[0] for p, f in facts.items() if not isinstance(f, Exception)}
    median = {t: float(np.median([seconds[r.path] for r in ds.records if r.machine_type == t and r.path in seconds]
                                 or [0.0])) for t in ds.machine_types}
    out = []
    for r in ds.records:
        if isinstance(facts[r.path], Exception):
            out.append(f"{r.path}: unreadable ({facts[r.path]})")
            continue
        length, rate, channels, peak = facts[r.path]
        notes = []
        if rate != sample_rate:
            notes.append(f"{rate} Hz (resampled to {sample_rate} Hz when read)")
        if channels > 1:
            notes.append(f"{channels} channels (channel 0 is used; data.channel picks another)")
        if length < shortest_s:
            notes.append(f"only {length:.2f} s long (padded to the clip length)")
        elif median[r.machine_type] and length > longest_ratio * median[r.machine_type]:
            notes.append(f"{length:.1f} s long, where {r.machine_type}'s clips last {median[r.machine_type]:.1f} s "
                         "(cropped to the clip length, data.clip_seconds)")
        if peak == 0.0:
            notes.append("silent: every sample is 0 (a disconnected microphone, or a stopped machine?)")
        elif peak < 1e-4:
            notes.append(f"almost silent: peak {20 * np.log10(peak):.0f} dBFS")
        if notes:
            out.append(f"{r.path}: " + "; ".join(notes))
    return out


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


def check_report(ds: Dataset, warnings: list[str] | None = None) -> str:
    """A human-readable report: layout, counts per type / ID / split / label, problems (`warnings`:
    file_warnings(ds) when the caller has it already)."""
    lines = [f"roots: {', '.join(ds.roots)}"]
    if ds.records:
        lines.append(f"layout found: {', '.join(ds.layouts)}")
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
        fmt = ", ".join(f"{n} x {d:g} s @ {sr} Hz, {ch} ch" for (d, sr, ch), n in
                        sorted(durations(ds).items()))
        lines.append(f"clip formats (sampled): {fmt}")
    else:
        lines.append("no usable clips found: expected <root>/<machine_type>/{train,test}/"
                     "{normal,anomaly}_id_XX_NNNNNNNN.wav (DCASE 2020), the DCASE 2021-2023 names, or "
                     "MIMII's <snr>_<type>/<type>/id_XX/{normal,abnormal}/NNNNNNNN.wav")
    warnings = file_warnings(ds) if warnings is None else warnings
    if warnings:
        lines.append("")
        lines.append(f"{len(warnings)} usable file(s) to look at:")
        lines += [f"  {w}" for w in warnings]
    if ds.problems:
        lines.append("")
        lines.append(f"{len(ds.problems)} problem file(s):")
        lines += [f"  {p}" for p in ds.problems]
    else:
        lines.append("no problem files")
    return "\n".join(lines)


def run_check(paths) -> int:
    """Print the report; the exit status is non-zero when nothing usable was found."""
    try:
        ds = scan_dataset(paths)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}")
        return 2
    print(check_report(ds))
    return 0 if ds.records else 1
