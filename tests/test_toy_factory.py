"""The toy factory: DCASE 2020 layout, metadata, determinism, safety, the physics of its machine IDs
and faults, calibrated difficulty."""
import csv
import hashlib

import numpy as np
import pytest
import torch

from asdcore.cli import main
from asdcore.data import scan_dataset
from asdcore.data.baseline import auc_per_type, gaussian_baseline_scores
from asdcore.data.toy import MACHINES, PRESETS, ToyDataError, generate, read_manifest
from asdcore.data.layouts import parse_name
from asdcore.data.toy.generator import ClipPlan, id_params, plan_clips, render_clip
from asdcore.data.toy.presets import ID_SLOTS
from asdcore.data.toy.machines import ADDED, STRUCTURAL, Fault


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_tiny_preset_is_a_dcase2020_layout_with_metadata(tiny_toy_root):
    ds = scan_dataset(tiny_toy_root)
    p = PRESETS["tiny"]
    assert ds.problems == [] and ds.layouts == ["dcase2020"]
    assert set(ds.machine_types) == {"fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"}
    assert len(ds.classes) == 12
    assert len(ds.select(split="train")) == 12 * p.train_per_id
    assert len(ds.select(split="test", label="anomaly")) == 12 * p.test_anomaly_per_id
    rows = list(csv.DictReader(open(tiny_toy_root / "metadata.csv")))
    assert {r["path"] for r in rows} == {r.relpath for r in ds.records}
    for row in rows:
        if row["label"] == "anomaly":
            onset, offset, sev = float(row["fault_onset_s"]), float(row["fault_offset_s"]), float(row["severity"])
            assert 0 <= onset < offset <= p.clip_seconds and 0 < sev <= 1 and row["fault_kind"]
            model = MACHINES[row["machine_type"]]
            assert row["fault_family"] == model.family(row["fault_kind"])
            # structural faults are conditions of the machine: they last most of the clip
            span = (offset - onset) / p.clip_seconds
            low, high = p.structural_span if row["fault_family"] == STRUCTURAL else p.added_span
            assert low - 1e-3 <= span <= high + 1e-3
        else:
            assert row["fault_kind"] == "" and row["severity"] == "" and row["fault_family"] == ""
        assert p.snr_db[0] <= float(row["snr_db"]) <= p.snr_db[1]
    manifest = read_manifest(tiny_toy_root)
    assert manifest["complete"] and manifest["preset"] == "tiny" and manifest["clips"] == len(rows)


def test_same_seed_same_bytes_other_seed_other_sounds(tiny_toy_root, tmp_path):
    again = generate(tmp_path / "again", "tiny", seed=0, workers=1, progress=False)  # other worker count
    assert _digest(again) == _digest(tiny_toy_root)
    other = generate(tmp_path / "other", "tiny", seed=1, workers=2, progress=False)
    assert _digest(other) != _digest(tiny_toy_root)


def test_an_interrupted_set_resumes_and_nothing_else_is_overwritten(tmp_path):
    out = generate(tmp_path / "toy", "tiny", seed=3, workers=2, progress=False)
    before = _digest(out)
    victim = next(out.rglob("anomaly_*.wav"))
    victim.unlink()
    manifest = out / "toy_manifest.json"
    manifest.write_text(manifest.read_text().replace('"complete": true', '"complete": false'))
    generate(out, "tiny", seed=3, workers=2, progress=False)
    assert victim.exists() and _digest(out) == before
    with pytest.raises(ToyDataError, match="seed 3"):
        generate(out, "tiny", seed=4, progress=False)
    mine = tmp_path / "my_recordings"
    mine.mkdir()
    (mine / "precious.wav").write_bytes(b"x")
    with pytest.raises(ToyDataError, match="not empty"):
        generate(mine, "tiny", seed=0, progress=False)
    assert (mine / "precious.wav").read_bytes() == b"x"


def test_make_data_replaces_an_outdated_toy_set_but_nothing_else(tmp_path, capsys):
    """`make data` after the sound models changed: the old toy set (same preset and seed, older
    generator) is replaced, its own files only; a folder with anything else in it is left alone."""
    import json

    from asdcore.data.toy.generator import GENERATOR_VERSION

    def age(folder):
        manifest = folder / "toy_manifest.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "generator_version": GENERATOR_VERSION - 1}))

    out = generate(tmp_path / "toy", "tiny", seed=0, workers=2, progress=False)
    fresh = _digest(out)
    age(out)
    (out / "fan" / "train" / "normal_id_00_00000000.wav").write_bytes(b"old sound")
    with pytest.raises(ToyDataError, match="generator version"):
        generate(out, "tiny", seed=0, progress=False)  # without the flag: refused, as before
    mine = out / "fan" / "my_notes.txt"
    mine.write_text("keep me")
    with pytest.raises(ToyDataError, match="my_notes.txt"):
        generate(out, "tiny", seed=0, progress=False, replace_outdated=True)
    assert mine.read_text() == "keep me" and (out / "toy_manifest.json").exists()
    mine.unlink()
    generate(out, "tiny", seed=0, workers=2, progress=False, replace_outdated=True)
    assert _digest(out) == fresh and read_manifest(out)["generator_version"] == GENERATOR_VERSION
    assert main(["data", "toy", "--out", str(out), "--preset", "tiny", "--seed", "1", "--quiet",
                 "--replace-outdated"]) == 2  # another seed is never replaced
    assert "not overwriting" in capsys.readouterr().err


def test_cli_writes_the_set_and_explains_refusals(tmp_path, capsys):
    assert main(["data", "toy", "--out", str(tmp_path / "t"), "--preset", "tiny", "--quiet"]) == 0
    assert "toy data set ready" in capsys.readouterr().out
    assert main(["data", "toy", "--out", str(tmp_path / "t"), "--preset", "tiny", "--seed", "9", "--quiet"]) == 2
    assert "not overwriting" in capsys.readouterr().err


def test_default_preset_is_hard_for_the_simple_baseline(default_toy_root):
    """A Gaussian on time-averaged log-mel per machine ID (the data set's simplest detector)
    averages an AUC between 0.65 and 0.80 over the types of the default preset, as the DCASE 2020
    autoencoder does on the real data (73.7 %): faults are there to find, but not trivially."""
    ds = scan_dataset(default_toy_root)
    assert len(ds.select(split="train")) == 23 * PRESETS["default"].train_per_id
    table = auc_per_type(gaussian_baseline_scores(ds, clip_seconds=2.0)).set_index("machine_type")
    assert set(table.index) == {"fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"}
    assert 0.65 <= table["auc"].mean() <= 0.80, table


def test_machine_ids_sit_on_ladders_toyconveyor_closest():
    """Units of a type differ in stable properties (speeds, resonances, cycle timing) placed on a
    ladder: neighbouring IDs at least ~3 % apart, never coinciding; ToyConveyor's about 1 % apart,
    the confusable type."""
    ladders = {"fan": "f_rot", "pump": "f_rot", "slider": "period", "valve": "period", "ToyCar": "f_motor",
               "ToyConveyor": "f_motor"}
    for machine_type, key in ladders.items():
        values = sorted(id_params(0, machine_type, i)[key] for i in ID_SLOTS[machine_type])
        steps = np.diff(np.log(values))
        if machine_type == "ToyConveyor":
            assert steps.max() < 0.015, (machine_type, values)
        else:
            assert steps.min() > 0.03, (machine_type, values)
    # the same ID always has the same build; another seed builds other units
    assert id_params(0, "fan", "02") == id_params(0, "fan", "02")
    assert id_params(1, "fan", "02")["f_rot"] != id_params(0, "fan", "02")["f_rot"]


def _dominant_hz(x, lo, hi, sr=16000):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    f = np.fft.rfftfreq(len(x), 1 / sr)
    band = (f > lo) & (f < hi)
    return f[band][np.argmax(spec[band])]


@pytest.mark.parametrize("machine_type, kind, shift", [
    ("fan", "voltage_change", 0.09),  # at severity 1 the motor runs 9 % faster or slower
    ("ToyCar", "excessive_voltage", 0.06),
    ("pump", "clogging", -0.06),  # the loaded motor slows
])
def test_speed_faults_move_the_units_tones_by_more_than_a_ladder_step(machine_type, kind, shift):
    """The structural faults that change a unit's speed move its tones by more than the distance
    between neighbouring units (4 %): what the ID classifier has learnt to measure.  (Each clip
    also has its own operating point, +-0.5-0.8 %: hence the tolerance.)"""
    model, p = MACHINES[machine_type], id_params(0, machine_type, "02")
    n, sr = 4 * 16000, 16000
    tone = p["f_rot"] * p["blades"] if machine_type == "fan" else p.get("f_motor", p.get("f_rot"))
    normal, _ = model.render(p, np.random.default_rng(5), n, sr, None)
    faulty, _ = model.render(p, np.random.default_rng(5), n, sr, Fault(kind, 0.0, 4.0, 1.0))
    before = _dominant_hz(normal, tone * 0.97, tone * 1.03)
    after = _dominant_hz(faulty, tone * 0.85, tone * 1.15)
    moved = after / before - 1
    assert abs((abs(moved) if machine_type == "fan" else moved) - shift) < 0.02, (before, after)


def test_fault_families_and_the_hard_preset():
    """Every type has structural faults (the default preset's anomalies, mostly) and added sounds;
    the hard preset holds only added sounds, over most of the clip."""
    for model in MACHINES.values():
        assert len(model.fault_kinds(STRUCTURAL)) >= 2 and len(model.fault_kinds(ADDED)) >= 2
        assert all(f.what for f in model.faults)
    default, hard = PRESETS["default"], PRESETS["hard"]
    assert default.added_share < 0.25 and default.structural_span[0] >= 0.8 and default.added_span[1] <= 0.5
    assert hard.added_share == 1.0 and hard.added_span[0] >= 0.5
    assert default.test_normal_per_id >= 50 and default.test_anomaly_per_id >= 50


def test_sounds_have_the_structure_of_their_machines(tiny_toy_root):
    """Not beeps: rotating machines are tonal and steady, sliders and valves are events."""
    from asdcore.data import load_clip
    from asdcore.features import LogMel

    ds = scan_dataset(tiny_toy_root)
    front = LogMel()

    def frame_energy_variation(machine_type):
        clip = load_clip(ds.select(split="train", machine_type=machine_type)[0].path, 2.0)
        energy = front.power_mel(torch.from_numpy(clip)).sum(0)
        db = 10 * torch.log10(energy)
        return float(db.max() - db.min())

    # events (strokes, clicks) swing the frame energy far more than steady rotation does
    assert frame_energy_variation("valve") > 2 * frame_energy_variation("fan")
    assert frame_energy_variation("slider") > 2 * frame_energy_variation("pump")


# --- the domain-shift preset (DCASE 2022 layout) --------------------------------------------------

def test_domain_shift_preset_names_sections_domains_and_conditions():
    preset = PRESETS["domain-shift"]
    counts = {}
    for plan in plan_clips(preset):
        parsed = parse_name(plan.relpath)
        assert (parsed.layout, parsed.split, parsed.domain) == ("dcase2022", plan.split, plan.domain)
        assert parsed.machine_id == f"section_{plan.section:02d}"
        key = (plan.machine_type, parsed.section, parsed.domain, parsed.split, parsed.label)
        counts[key] = counts.get(key, 0) + 1
        attributes = dict(parsed.attributes)
        assert set(attributes) == {"op", "mic", "hall"}
        if parsed.domain == "source":
            assert attributes == {"op": "100", "mic": "near", "hall": "A"}
    # per section: 120 source and 4 target training clips (DCASE's ~1000:10, scaled), 25 + 25 tests per domain
    assert counts[("fan", "00", "source", "train", "normal")] == 120
    assert counts[("fan", "00", "target", "train", "normal")] == 4
    assert all(counts[("pump", "01", d, "test", lab)] == 25 for d in ("source", "target") for lab in ("normal", "anomaly"))


def _peak_hz(x, sr=16000):
    """The strongest tone above 100 Hz (below it: the hall's mains hum and rumble)."""
    spectrum, hz = np.abs(np.fft.rfft(x * np.hanning(len(x)))), np.fft.rfftfreq(len(x), 1 / sr)
    return hz[np.argmax(np.where(hz > 100, spectrum, 0))]


def test_target_domains_change_speed_or_microphone_as_their_names_say():
    preset = PRESETS["domain-shift"]

    def clips(section, domain):
        """Three training normals of ToyCar's section `section` in `domain` (the unit is the same)."""
        machine_id = ("01", "02", "03", "04")[section]
        params = id_params(0, "ToyCar", machine_id)
        return [render_clip(ClipPlan("ToyCar", machine_id, "train", "normal", i, domain, section), preset, 0,
                            params)[0] for i in range(3)]

    # section 0 runs 5 % faster in its target domain: the strongest tone moves up by that much
    ratio = np.median([_peak_hz(t) for t in clips(0, "target")]) / np.median([_peak_hz(s) for s in clips(0, "source")])
    assert ratio == pytest.approx(1.05, abs=0.015)

    # section 1 is recorded further away: less of the energy above 4 kHz
    def high_share(x):
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        return spectrum[len(spectrum) // 2:].sum() / spectrum.sum()

    assert np.mean([high_share(t) for t in clips(1, "target")]) < 0.7 * np.mean([high_share(s) for s in clips(1, "source")])
