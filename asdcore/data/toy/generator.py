"""The toy factory: a synthetic data set in the DCASE 2020 Task 2 layout.

    python -m asdcore data toy --out data/toy --preset default --seed 0

writes `<out>/<machine_type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav`
(16 kHz, mono, 16-bit), `<out>/metadata.csv` (one row per clip: type, ID, split,
label, fault kind, fault onset/offset in seconds, severity, SNR) and
`<out>/toy_manifest.json` (how it was made).

Deterministic for a seed: every clip draws from its own random stream, seeded by
(seed, type, ID, split, label, index), so the output does not depend on the order
or the number of worker processes.  Files are written to a temporary name and
renamed, so an interrupted run leaves only complete clips and resumes where it
stopped when run again with the same preset and seed.
"""
from __future__ import annotations

import csv
import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..records import DCASE2020_MACHINE_TYPES
from . import dsp
from .machines import ADDED, MACHINES, STRUCTURAL, Fault, Slot
from .presets import DEV_IDS, DOMAIN_SHIFTS, ID_SLOTS, PRESETS, Preset, domain_attributes

SAMPLE_RATE = 16000
GENERATOR_VERSION = 3  # bump when the sound models change: old data sets are then not resumed


@dataclass(frozen=True)
class ClipPlan:
    machine_type: str
    machine_id: str  # "00"
    split: str
    label: str
    index: int
    domain: str | None = None  # "source" / "target" in the DCASE 2022 layout
    section: int = 0  # the ID's index among its type's IDs (DCASE 2022 layout)

    @property
    def relpath(self) -> str:
        if self.domain is None:
            return f"{self.machine_type}/{self.split}/{self.label}_id_{self.machine_id}_{self.index:08d}.wav"
        return (f"{self.machine_type}/{self.split}/section_{self.section:02d}_{self.domain}_{self.split}_"
                f"{self.label}_{self.index:04d}_{domain_attributes(self.section, self.domain)}.wav")


class ToyDataError(RuntimeError):
    pass


def _stream(*parts) -> np.random.Generator:
    """A random stream named by its parts (ints or strings), independent of call order."""
    words = [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def plan_clips(preset: Preset) -> list[ClipPlan]:
    if preset.layout == "dcase2022":
        return _plan_domain_clips(preset)
    plans = []
    for machine_type in DCASE2020_MACHINE_TYPES:
        for machine_id in preset.ids.get(machine_type, ()):
            plans += [ClipPlan(machine_type, machine_id, "train", "normal", i) for i in range(preset.train_per_id)]
            plans += [ClipPlan(machine_type, machine_id, "test", "normal", i)
                      for i in range(preset.test_normal_per_id)]
            plans += [ClipPlan(machine_type, machine_id, "test", "anomaly", i)
                      for i in range(preset.test_anomaly_per_id)]
        for machine_id in preset.train_only_ids.get(machine_type, ()):
            plans += [ClipPlan(machine_type, machine_id, "train", "normal", i) for i in range(preset.train_per_id)]
    return plans


def _plan_domain_clips(preset: Preset) -> list[ClipPlan]:
    """Each ID a section: source and target training normals, test normals and anomalies per domain."""
    plans = []
    for machine_type in DCASE2020_MACHINE_TYPES:
        for section, machine_id in enumerate(preset.ids.get(machine_type, ())):
            counts = {("source", "train", "normal"): preset.train_per_id,
                      ("target", "train", "normal"): preset.target_train_per_id,
                      ("source", "test", "normal"): preset.test_normal_per_id,
                      ("source", "test", "anomaly"): preset.test_anomaly_per_id,
                      ("target", "test", "normal"): preset.target_test_per_label,
                      ("target", "test", "anomaly"): preset.target_test_per_label}
            for (domain, split, label), n in counts.items():
                plans += [ClipPlan(machine_type, machine_id, split, label, i, domain, section) for i in range(n)]
    return plans


def id_params(seed: int, machine_type: str, machine_id: str) -> dict:
    """The build of one machine: its sound model's parameters and its recording level."""
    model = MACHINES[machine_type]
    ids = ID_SLOTS.get(machine_type, ())
    index = ids.index(machine_id) if machine_id in ids else len(ids)
    slot = Slot(index, len(DEV_IDS.get(machine_type, ())), max(len(ids), index + 1))
    rng = _stream(seed, "id", machine_type, machine_id)
    params = model.build(slot, rng, _stream(seed, "type", machine_type))
    params["level_db"] = model.level_db(rng, _stream(seed, "type level", machine_type))
    return params


def factory_background(n: int, sr: int, rng: np.random.Generator, mains_hz: float = 50.0) -> np.ndarray:
    """Background of a factory hall: rumble (brown-ish noise), air handling (pink noise), distant
    mains-driven machinery (hum harmonics), now and then a far-off clank, and one to four other
    machines of the hall running at their own speeds (tones that differ from one recording to the
    next, so they say nothing about the machine recorded); unit RMS."""
    t = np.arange(n) / sr
    others = sum(rng.uniform(0.3, 1.0) * dsp.normalise(dsp.harmonic_series(
        2 * np.pi * rng.uniform(25, 500) * t, rng.uniform(0.2, 1.0, 8) * 0.8 ** np.arange(8), rng))
        for _ in range(int(rng.integers(1, 5))))
    rumble = dsp.lowpass(dsp.coloured_noise(n, rng, -6), sr, 400)
    air = dsp.coloured_noise(n, rng, rng.uniform(-3.5, -2.0))
    hum = sum(rng.uniform(0, 1) / k * np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 6.3))
              for k in (1, 2, 3, 4, 6))
    clanks = dsp.resonate(dsp.impulses(n, (dsp.poisson_times(0.3, n / sr, rng) * sr).astype(int), 1.0), sr,
                          rng.uniform(200, 1200, 2), [0.08, 0.05], [1.0, 0.5])
    x = (rng.uniform(0.5, 1.0) * dsp.normalise(rumble) + rng.uniform(0.3, 0.8) * air
         + 0.3 * dsp.normalise(hum) + 1.5 * clanks / (np.max(np.abs(clanks)) + 1e-9) + others)
    return dsp.normalise(x)


def render_clip(plan: ClipPlan, preset: Preset, seed: int, params: dict) -> tuple[np.ndarray, dict]:
    """One clip's waveform (float32) and its metadata row."""
    sr = SAMPLE_RATE
    n = int(round(preset.clip_seconds * sr))
    stream = ("clip", plan.machine_type, plan.machine_id, plan.split, plan.label, plan.index)
    rng = _stream(seed, *stream, *((plan.domain,) if plan.domain else ()))
    model = MACHINES[plan.machine_type]
    shifts = (DOMAIN_SHIFTS[plan.section % len(DOMAIN_SHIFTS)] if plan.domain == "target" else ())
    # another operating point: the machine (and a fault with it) rendered for longer, then played
    # `speed` times faster, so every tone, resonance and cycle moves up together
    speed = 1.05 if "speed" in shifts else 1.0
    n_render = n if speed == 1.0 else int(np.ceil(n * speed)) + 2
    fault = None
    if plan.label == "anomaly":
        # a structural fault over most of the clip, or (added_share of the time) an added sound
        family = ADDED if rng.uniform() < preset.added_share else STRUCTURAL
        kind = str(rng.choice(model.fault_kinds(family)))
        span = preset.clip_seconds * rng.uniform(*(preset.added_span if family == ADDED else preset.structural_span))
        onset = rng.uniform(0, preset.clip_seconds - span)
        fault = Fault(kind, float(onset), float(onset + span), float(rng.uniform(*preset.severity)))
    machine, fault_sound = model.render(params, rng, n_render, sr, fault)
    if speed != 1.0:
        played = np.arange(n) * speed
        machine = np.interp(played, np.arange(n_render), machine)
        fault_sound = np.interp(played, np.arange(n_render), fault_sound)
        if fault is not None:  # the fault's span, in the played clip's seconds
            fault = Fault(fault.kind, fault.onset / speed, min(fault.offset / speed, preset.clip_seconds),
                          fault.severity)
    if "mic" in shifts:  # a far microphone: the air and the room take the highs
        machine, fault_sound = dsp.lowpass(machine, sr, 2500.0, 1), dsp.lowpass(fault_sound, sr, 2500.0, 1)
    fault_sound = fault_sound * preset.added_gain
    snr_db = float(rng.uniform(*preset.snr_db)) - 6.0 * ("mic" in shifts) - 4.0 * ("hall" in shifts)
    hall = factory_background(n, sr, rng, mains_hz=60.0 if "hall" in shifts else 50.0)
    if "hall" in shifts:  # a bigger hall: more low rumble under the same machinery
        hall = dsp.normalise(hall + 1.5 * dsp.normalise(dsp.lowpass(dsp.coloured_noise(n, rng, -6), sr, 250)))
    background = hall * dsp.rms(machine) * 10 ** (-snr_db / 20)
    x = machine + fault_sound + background
    # the unit's recording level, +-0.5 dB from clip to clip; anomalies are not
    # normalised, so a louder fault stays louder
    gain = 10 ** ((params["level_db"] + rng.uniform(-0.5, 0.5)) / 20) / dsp.rms(machine + background)
    x = x * gain
    peak = np.max(np.abs(x))
    if peak > 0.99:  # a soft limit rather than clipping
        x = x * 0.99 / peak
    row = dict(path=plan.relpath, machine_type=plan.machine_type, machine_id=f"id_{plan.machine_id}",
               split=plan.split, label=plan.label, fault_kind=fault.kind if fault else "",
               fault_family=model.family(fault.kind) if fault else "",
               fault_onset_s=round(fault.onset, 4) if fault else "",
               fault_offset_s=round(fault.offset, 4) if fault else "",
               severity=round(fault.severity, 4) if fault else "", snr_db=round(snr_db, 2))
    if plan.domain is not None:
        row.update(machine_id=f"section_{plan.section:02d}", domain=plan.domain,
                   attributes=domain_attributes(plan.section, plan.domain))
    return x.astype(np.float32), row


def _write_clip(job) -> dict:
    plan, preset, seed, params, out = job
    x, row = render_clip(plan, preset, seed, params)
    path = Path(out) / plan.relpath
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        sf.write(str(tmp), x, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    return row


METADATA_COLUMNS = ["path", "machine_type", "machine_id", "split", "label", "fault_kind", "fault_family",
                    "fault_onset_s", "fault_offset_s", "severity", "snr_db"]


def _manifest(preset: Preset, seed: int, n_clips: int, complete: bool) -> dict:
    """How the set was made, and what its faults are (so a page can say it without the sound models)."""
    faults = {t: [dict(kind=f.name, family=f.family, what=f.what) for f in MACHINES[t].faults]
              for t in DCASE2020_MACHINE_TYPES if t in preset.ids}
    return dict(kind="asdcore toy factory", generator_version=GENERATOR_VERSION, preset=preset.name,
                seed=seed, sample_rate=SAMPLE_RATE, clip_seconds=preset.clip_seconds, clips=n_clips,
                complete=complete, preset_settings=asdict(preset), faults=faults)


def read_manifest(out: str | os.PathLike) -> dict | None:
    path = Path(out) / "toy_manifest.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def remove_outdated(out: Path, manifest: dict, progress: bool) -> None:
    """Delete a toy set made by an older generator: only the files it lists in metadata.csv (and
    their `.part` leftovers), its metadata.csv and manifest, and the folders left empty.  Anything
    else in the folder stays where it is."""
    listed = []
    if (out / "metadata.csv").exists():
        with open(out / "metadata.csv", newline="") as fh:
            listed = [row["path"] for row in csv.DictReader(fh)]
    listed += [str(p.relative_to(out)) for p in out.glob("*/*/*.wav.part")]
    others = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
                    and str(p.relative_to(out)) not in {*listed, "metadata.csv", "toy_manifest.json"})
    if others:
        raise ToyDataError(f"{out} holds an outdated toy data set (generator version "
                           f"{manifest.get('generator_version')}) and files it did not make "
                           f"({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}): not replacing it; "
                           "move those files elsewhere, or choose another --out")
    for rel in listed:
        (out / rel).unlink(missing_ok=True)
    for name in ("metadata.csv", "toy_manifest.json"):
        (out / name).unlink(missing_ok=True)
    for folder in sorted((d for d in out.glob("*/*") if d.is_dir()), reverse=True) + sorted(out.glob("*")):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if progress:
        print(f"{out}: removed the toy data set of generator version {manifest.get('generator_version')} "
              f"({len(listed)} clips); making version {GENERATOR_VERSION}")


def generate(out: str | os.PathLike, preset: str = "default", seed: int = 0, workers: int | None = None,
             progress: bool = True, replace_outdated: bool = False) -> Path:
    """Write the toy data set; resume an interrupted one; refuse to touch anything else.

    replace_outdated: a toy set with the same preset and seed made by an older generator version
    in `out` is replaced (its own clips only, see remove_outdated) rather than refused; `make data`
    uses it, so a checkout that updates the sound models updates its default data set too."""
    if preset not in PRESETS:
        raise ToyDataError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    out = Path(out).expanduser()
    manifest = read_manifest(out)
    if (manifest is not None and replace_outdated and manifest.get("kind") == "asdcore toy factory"
            and (manifest.get("preset"), manifest.get("seed")) == (preset, seed)
            and int(manifest.get("generator_version", 0)) < GENERATOR_VERSION):
        remove_outdated(out, manifest, progress)
        manifest = None
    if manifest is not None:
        same = (manifest.get("preset") == preset and manifest.get("seed") == seed
                and manifest.get("generator_version") == GENERATOR_VERSION)
        if not same:
            raise ToyDataError(
                f"{out} already holds a toy data set made with preset {manifest.get('preset')!r}, seed "
                f"{manifest.get('seed')}, generator version {manifest.get('generator_version')}; "
                f"not overwriting it: choose another --out, or remove that folder first")
        if manifest.get("complete"):
            if progress:
                print(f"{out}: toy data set (preset {preset}, seed {seed}) already complete")
            return out
    elif out.exists() and any(out.iterdir()):
        raise ToyDataError(f"{out} exists and is not empty (and is not a toy data set): not writing "
                           "into it; choose another --out")
    plans = plan_clips(p)
    out.mkdir(parents=True, exist_ok=True)
    (out / "toy_manifest.json").write_text(json.dumps(_manifest(p, seed, len(plans), False), indent=2))
    for d in {Path(pl.relpath).parent for pl in plans}:
        (out / d).mkdir(parents=True, exist_ok=True)
    params = {(pl.machine_type, pl.machine_id): None for pl in plans}
    params = {k: id_params(seed, *k) for k in params}
    jobs = [(pl, p, seed, params[(pl.machine_type, pl.machine_id)], str(out)) for pl in plans]
    workers = workers or min(4, os.cpu_count() or 1)
    if progress:
        print(f"making the toy factory's {preset!r} data set ({len(plans)} clips of {p.clip_seconds:g} s, "
              f"seed {seed}) in {out} with {workers} process(es)")
    rows = _run_jobs(jobs, workers, progress)
    with open(out / "metadata.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, METADATA_COLUMNS + (["domain", "attributes"] if p.layout == "dcase2022" else []))
        w.writeheader()
        w.writerows(rows)
    (out / "toy_manifest.json").write_text(json.dumps(_manifest(p, seed, len(plans), True), indent=2))
    return out


def _run_jobs(jobs, workers: int, progress: bool) -> list[dict]:
    bar = tqdm(total=len(jobs), unit="clip", disable=not progress)
    rows = []
    if workers <= 1:
        for job in jobs:
            rows.append(_write_clip(job))
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for row in pool.map(_write_clip, jobs, chunksize=16):
                rows.append(row)
                bar.update()
    bar.close()
    return rows
