"""The toy factory's machines: one physically motivated sound model per DCASE 2020 type.

Why margin-loss ID classifiers work on this data (and where they do not)
-----------------------------------------------------------------------
An ID classifier learns what tells a type's machine IDs apart and ignores the rest.  It finds
faults when, and only when, a fault changes those same properties.  On the real DCASE data
that is usually so: the units of a type differ in running speed, in their harmonic balance,
in the resonances of their housings and pipes, in their cycle timing; and a worn bearing, an
imbalance, a clogged intake, a sticking plunger or a loose belt change exactly these.  The
models below are built that way:

- Units (machine IDs) of a type share the type's build and differ in a few *stable* properties,
  each on a geometric ladder (`ladder`): running speed, resonance frequencies, cycle period.
  Neighbouring units are 4-10 % apart (ToyConveyor's only about 1 %: its units are nearly
  identical, as in ToyADMOS), far more than a unit varies from one recording to the next
  (speed +-0.5 %, a little level and noise-balance variation), so an ID classifier generalises
  from training to test normals once it measures those properties finely.
- Most fault kinds are STRUCTURAL: they change the unit's own speed, harmonic balance,
  resonances or timing, by about the distance between neighbouring units or more, over most of
  the clip (DCASE anomalies are conditions of the machine, not events), with the side sounds a
  maintenance engineer would expect (a rattling mount, a spurting seal, a flapping belt).  The
  classifier has learnt to measure what they change, so a faulty clip lands away from its
  unit's class centre.
- ADDED fault kinds put a new sound on top (bearing ticks, cavitation crackle, a leak's hiss, a
  dry rail's squeal) and leave the properties that tell units apart as they were: the known
  blind spot of ID classifiers (the toy factory's `hard` preset holds only these), where
  detectors that model the whole spectrum (a Gaussian on the mean log-mel, the autoencoder)
  catch up with them or beat them (README, measured).
- What the simple baselines cannot do: every recording also carries what varies within a unit
  and says nothing about faults (the factory's background at a random level, other machines of
  the hall at their own speeds, the unit's load), which a Gaussian on the average spectrum or a
  frame autoencoder has to model too; several structural faults change timing or fine tonal
  structure (a sticking valve, a loose belt, shaft orders beside a blade pass) rather than the
  average spectrum; and the autoencoder, one per machine type, hears a unit that runs a ladder
  step fast as its neighbour running normally.

`render` returns (machine, added): the machine's own sound including any structural change, and
the added fault sound, so the mixer sets the background level from the machine alone.  A fault
acts inside its labelled span [onset, offset) with a severity in (0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dsp

STRUCTURAL = "structural"  # changes the unit's own speed, harmonic balance, resonances or timing
ADDED = "added"  # adds a new sound and leaves what tells the units apart as it was


@dataclass(frozen=True)
class FaultKind:
    name: str
    family: str  # STRUCTURAL or ADDED
    what: str  # what a maintenance engineer would hear, and why


@dataclass(frozen=True)
class Fault:
    kind: str
    onset: float  # seconds
    offset: float  # seconds
    severity: float  # (0, 1]


@dataclass(frozen=True)
class Slot:
    """Where a unit sits among its type's `total` units: the first `neighbours` (the development
    set's IDs, which have test clips) take adjacent rungs of every ladder, the others the rungs
    above, so the units a test compares are each other's nearest neighbours."""
    index: int
    neighbours: int
    total: int


def ladder(type_rng: np.random.Generator, rng: np.random.Generator, slot: Slot, low: float, ratio: float,
           jitter: float = 0.003) -> float:
    """A stable property of one unit: the type's units sit on the geometric ladder low * ratio**k,
    the rungs k shuffled per type and per property (type_rng), each unit off by +-jitter (rng).
    Neighbouring units are thus about ratio - 1 apart, never closer than ratio - 1 - 2 * jitter:
    unlike independent random draws, two units never coincide."""
    first = type_rng.permutation(slot.neighbours)
    rest = slot.neighbours + type_rng.permutation(max(slot.total - slot.neighbours, 0))
    k = int(np.r_[first, rest][slot.index])
    return float(low * ratio ** k * (1 + jitter * rng.uniform(-1, 1)))


def speed_profile(n: int, sr: int, rng: np.random.Generator, jitter: float, ripple_hz: float = 0.5,
                  ripple_depth: float = 0.002, shift: float = 0.0, gate: np.ndarray | None = None) -> np.ndarray:
    """Speed relative to the unit's nominal, per sample: this recording's operating point (load
    and supply voltage move a motor's speed by `jitter`, a fraction of a per cent), a slow
    ripple, and a fault's relative change `shift` where `gate` is 1."""
    t = np.arange(n) / sr
    rate = (1 + rng.normal(0, jitter)) * (1 + ripple_depth * np.sin(2 * np.pi * ripple_hz * t
                                                                    + rng.uniform(0, 2 * np.pi)))
    if shift and gate is not None:
        rate = rate * (1 + shift * gate)
    return rate


def _common(type_rng: np.random.Generator, rng: np.random.Generator, spread: float, **ranges) -> dict:
    """Parameters of the type's build (uniform in (lo, hi), or `count` of them for (lo, hi, count),
    drawn from type_rng) that each unit carries within +-spread of the type's value."""
    out = {}
    for name, r in ranges.items():
        base = type_rng.uniform(r[0], r[1], r[2]) if len(r) == 3 else type_rng.uniform(r[0], r[1])
        value = base * (1 + spread * rng.uniform(-1, 1, np.shape(base)))
        out[name] = [float(v) for v in value] if np.ndim(value) else float(value)
    return out


def _gate(n: int, sr: int, fault: Fault | None, fade: float = 0.05) -> np.ndarray:
    if fault is None:
        return np.zeros(n)
    return dsp.span_gate(n, sr, fault.onset, fault.offset, fade)


def _level_jitter(rng: np.random.Generator, db: float = 1.5) -> float:
    """A component's level in this recording: +-db dB around the unit's (load, airflow)."""
    return float(10 ** (rng.normal(0, db) / 20))


def _bearing_ticks(n, sr, rng, mt, gate, defect_rate_hz, ref_rms):
    """A damaged rolling element: a tick each time it passes the defect, ringing at a high
    structural resonance; ticks vary in strength (load zone)."""
    times = np.arange(rng.uniform(0, 1 / defect_rate_hz), mt[-1], 1 / defect_rate_hz)
    times = times + rng.normal(0, 0.02 / defect_rate_hz, len(times))
    exc = dsp.event_impulses(mt, times, rng.uniform(0.5, 1.0, len(times)))
    f0 = rng.uniform(2500, 5500)
    ring = dsp.resonate(exc, sr, [f0, f0 * 1.37], [0.002, 0.0015], [1.0, 0.6])
    return dsp.normalise(ring) * gate * ref_rms if exc.any() else np.zeros(n)


def _cavitation(n, sr, rng, rot, vanes, gate, ref_rms):
    """Vapour bubbles collapsing at an impeller: random sharp crackles, denser at the vane pass."""
    times = dsp.poisson_times(rng.uniform(300, 900), n / sr, rng)
    pos = (times * sr).astype(int)
    pulse = 1 + 0.8 * np.cos(vanes * rot[pos])
    exc = dsp.impulses(n, pos, rng.exponential(1.0, len(pos)) * pulse)
    crackle = dsp.resonate(exc, sr, rng.uniform(2500, 7000, 3), [4e-4, 3e-4, 5e-4], [1.0, 0.8, 0.6])
    return dsp.normalise(crackle) * gate * ref_rms


def _rattle(n, sr, rng, times, freqs, decays, peak, gate):
    """A loose or rubbing part: knocks at the given times (seconds), each of random strength,
    ringing at the part's modes; scaled to `peak` at the loudest, inside the fault's gate.
    Transients: loud in the frames they hit, little in the clip's average spectrum."""
    times = times[(times > 0) & (times < n / sr)]
    if len(times) == 0:
        return np.zeros(n)
    exc = dsp.impulses(n, np.round(times * sr).astype(int), rng.uniform(0.5, 1.0, len(times)))
    ring = dsp.resonate(exc, sr, freqs, decays, [1.0, 0.6][:len(freqs)])
    return ring / (np.max(np.abs(ring)) + 1e-12) * peak * gate


def _gated_noise(n, sr, rng, gate, lo, hi, ref_rms, envelope=None):
    x = dsp.band_noise(n, sr, lo, hi, rng)
    if envelope is not None:
        x = x * envelope
    return dsp.normalise(x) * gate * ref_rms


class MachineModel:
    machine_type = ""
    faults: tuple[FaultKind, ...] = ()
    # loudness of an ADDED fault sound relative to the machine's RMS at severity 1
    added_gains: dict[str, float] = {}
    level_spread_db = 1.0

    def fault_kinds(self, family: str | None = None) -> tuple[str, ...]:
        return tuple(f.name for f in self.faults if family is None or f.family == family)

    def family(self, kind: str) -> str:
        return next(f.family for f in self.faults if f.name == kind)

    def added_level(self, fault: Fault) -> float:
        """Loudness of an added fault sound relative to the machine's RMS."""
        return self.added_gains.get(fault.kind, 0.3) * (0.4 + 0.6 * fault.severity)

    def build(self, slot: Slot, rng: np.random.Generator, type_rng: np.random.Generator) -> dict:
        """One unit: the type's common build (type_rng) and its place on the type's ladders."""
        raise NotImplementedError

    def level_db(self, rng: np.random.Generator, type_rng: np.random.Generator) -> float:
        """RMS level in dBFS of this unit's recordings: the type's microphone set-up, +- a little."""
        return float(type_rng.uniform(-30, -22) + rng.uniform(-self.level_spread_db, self.level_spread_db))

    def render(self, p: dict, rng: np.random.Generator, n: int, sr: int,
               fault: Fault | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class Fan(MachineModel):
    """Blade-pass tone and harmonics over broadband air noise shaped by the housing's resonances
    and modulated at the blade pass; a small once-per-turn tone from residual imbalance."""

    machine_type = "fan"
    faults = (
        FaultKind("imbalance", STRUCTURAL, "a blade lost material or gathered dirt: the rotor is no longer "
                  "symmetric, so tones appear at the shaft orders beside each blade-pass harmonic, with a "
                  "strong once-per-turn tone and the whole sound beating at the shaft rate"),
        FaultKind("voltage_change", STRUCTURAL, "the supply voltage changed: the motor runs 3-7 % faster "
                  "or slower and every tone moves"),
        FaultKind("clogging", STRUCTURAL, "a clogged filter or intake: less air, so the duct's resonances "
                  "move down and the unloaded motor speeds up"),
        FaultKind("bearing", ADDED, "a damaged bearing race: high-pitched ticks at the defect frequency"),
        FaultKind("rubbing", ADDED, "a blade tip touching the casing: a scrape once per turn"),
    )
    added_gains = {"bearing": 0.25, "rubbing": 0.3}

    def build(self, slot, rng, type_rng):
        blades = int(type_rng.choice([5, 6, 7, 9]))
        air_slope = float(type_rng.uniform(-4.0, -2.0))
        return dict(
            f_rot=ladder(type_rng, rng, slot, 14.0, 1.04),  # shaft speed, Hz (840-1060 rpm)
            housing_hz=[ladder(type_rng, rng, slot, 450.0, 1.04),
                        ladder(type_rng, rng, slot, 1700.0, 1.04)],
            residual_1x=float(rng.uniform(0.03, 0.08)),  # the balancing grade: a faint once-per-turn tone
            blades=blades, air_slope=air_slope,
            bpf_amps=list(rng.uniform(0.3, 1.0, 5) * 0.7 ** np.arange(5)),
            tone_level=float(rng.uniform(0.6, 1.0)), housing_q=list(rng.uniform(2.0, 5.0, 2)),
            bpf_mod=float(rng.uniform(0.15, 0.35)),
            hum=float(rng.uniform(0.03, 0.1)), speed_jitter=0.005,
        )

    def render(self, p, rng, n, sr, fault):
        gate = _gate(n, sr, fault)
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        shift = 0.0
        if kind == "voltage_change":
            shift = float(rng.choice([-1.0, 1.0])) * (0.04 + 0.05 * sev)
        elif kind == "clogging":
            shift = 0.03 + 0.03 * sev  # less air to move: the motor's slip drops
        rate = speed_profile(n, sr, rng, p["speed_jitter"], shift=shift, gate=gate)
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_rot"] * mt  # shaft angle
        bpf_amps = list(p["bpf_amps"])
        if kind == "imbalance":  # the rotor's orbit changes the tip clearance: the blade-pass pulse changes shape
            bpf_amps = [a * (1 + (0.4 + 0.4 * sev) * rng.choice([-1.0, 1.0])) for a in bpf_amps]
            tones = dsp.crossfade(dsp.harmonic_series(p["blades"] * rot, p["bpf_amps"], rng),
                                  dsp.harmonic_series(p["blades"] * rot, bpf_amps, rng), gate)
        else:
            tones = dsp.harmonic_series(p["blades"] * rot, bpf_amps, rng)
        if kind == "imbalance":  # an asymmetric rotor: shaft orders B-1 and B+1 beside each blade-pass harmonic
            beside = [a * (0.5 + 0.5 * sev) for a in p["bpf_amps"]]
            orders = [k * p["blades"] + d for k in range(1, len(beside) + 1) for d in (-1, 1)]
            tones = tones + gate * dsp.harmonic_series(rot, [a for a in beside for _ in (-1, 1)], rng, orders)
        tones = dsp.normalise(tones)
        air = dsp.resonant_noise(n, sr, rng, p["housing_hz"], p["housing_q"], [1.0, 0.7],
                                 floor_slope=p["air_slope"])
        if kind == "clogging":
            clogged = dsp.resonant_noise(n, sr, rng, [f * (1 - 0.05 - 0.07 * sev) for f in p["housing_hz"]],
                                         p["housing_q"], [1.0, 0.7], floor_slope=p["air_slope"])
            air = dsp.crossfade(air, clogged * (1 - 0.2 * sev), gate)
        air = air * _level_jitter(rng) * (1 + p["bpf_mod"] * np.cos(p["blades"] * rot))
        once = dsp.normalise(dsp.harmonic_series(rot, [1.0, 0.5, 0.25], rng))
        once_level = p["residual_1x"] * (1 + gate * (3.0 + 5.0 * sev) if kind == "imbalance" else 1.0)
        hum = dsp.harmonic_series(2 * np.pi * 100 * np.arange(n) / sr, [1.0, 0.4, 0.2], rng)
        hum_level = p["hum"] * (1 + gate * (1.5 + 2.5 * sev) if kind == "voltage_change" else 1.0)
        x = p["tone_level"] * tones + air + once_level * once + hum_level * hum
        # what else each fault does, as a maintenance engineer would hear it: the motor's magnetic
        # hum follows the voltage (above); an imbalanced rotor shakes its mounts loose (a rumble of
        # shaft orders, and the mount rattling on some turns); air rushing through a clogged
        # intake whistles
        if kind == "imbalance":
            x = x + gate * (0.05 + 0.15 * sev) * dsp.rms(x) * dsp.normalise(
                dsp.harmonic_series(rot, 0.8 ** np.arange(10), rng))
            turns = np.arange(rng.uniform(0, 1), mt[-1] * p["f_rot"], 1.0) / p["f_rot"]
            turns = turns[rng.uniform(size=len(turns)) < 0.3]
            x = x + _rattle(n, sr, rng, np.interp(turns, mt, np.arange(n) / sr), rng.uniform(2500, 5000, 2),
                            [0.01, 0.006], (0.3 + 0.5 * sev) * np.max(np.abs(x)), gate)
        elif kind == "clogging":
            x = x + _gated_noise(n, sr, rng, gate, 3000, 6500, (0.04 + 0.08 * sev) * dsp.rms(x))
        if kind == "imbalance":  # the rotor's wobble modulates everything once per turn
            x = x * (1 + gate * (0.05 + 0.15 * sev) * np.cos(rot + rng.uniform(0, 6.3)))
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "bearing":
                added = _bearing_ticks(n, sr, rng, mt, gate, p["f_rot"] * rng.uniform(3.1, 5.2), ref)
            else:  # rubbing: broadband scrape bursts once per turn
                env = np.maximum(0, np.cos(rot + rng.uniform(0, 6.3))) ** 6
                added = _gated_noise(n, sr, rng, gate, 800, 6000, ref, env)
        return x, added


class Pump(MachineModel):
    """Motor and vane-pass tones, flow noise coloured by the pipe's resonances and pulsing at the
    vane pass, a little high-frequency hiss."""

    machine_type = "pump"
    faults = (
        FaultKind("clogging", STRUCTURAL, "a clogged suction line: the flow's pipe resonances move up, the "
                  "flow noise drops, its pulsation grows, and the loaded motor slows"),
        FaultKind("leakage", STRUCTURAL, "a leaking seal: the head drops, the unloaded motor speeds up, the "
                  "pulsation weakens and a faint hiss joins"),
        FaultKind("impeller_wear", STRUCTURAL, "a worn or fouled vane: the impeller is no longer symmetric, so "
                  "tones appear at the shaft orders beside the vane pass, the vane-pass harmonics rebalance and "
                  "the dragging impeller slows the motor"),
        FaultKind("cavitation", ADDED, "vapour bubbles collapsing at the impeller: a sharp crackle"),
        FaultKind("bearing", ADDED, "a damaged bearing: high-pitched ticks at the defect frequency"),
    )
    added_gains = {"cavitation": 0.3, "bearing": 0.25}

    def build(self, slot, rng, type_rng):
        vanes = int(type_rng.choice([5, 6, 7]))
        return dict(
            f_rot=ladder(type_rng, rng, slot, 24.0, 1.04),  # 1440-1820 rpm
            pipe_hz=[ladder(type_rng, rng, slot, 380.0, 1.04),
                     ladder(type_rng, rng, slot, 1250.0, 1.04)],
            vane_second=float(rng.uniform(0.2, 0.5)),  # the vane-pass harmonic balance: second to first
            vanes=vanes, motor_amps=list(rng.uniform(0.2, 1.0, 4)),
            vane_level=float(rng.uniform(0.4, 0.8)), pipe_q=list(rng.uniform(3.0, 8.0, 2)),
            pulsation=float(rng.uniform(0.2, 0.45)), hiss=float(rng.uniform(0.04, 0.12)), speed_jitter=0.005,
        )

    def render(self, p, rng, n, sr, fault):
        gate = _gate(n, sr, fault)
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        shift = {"clogging": -(0.03 + 0.03 * sev), "leakage": 0.03 + 0.035 * sev,
                 "impeller_wear": -(0.02 + 0.025 * sev)}.get(kind, 0.0)
        rate = speed_profile(n, sr, rng, p["speed_jitter"], shift=shift, gate=gate)
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_rot"] * mt
        motor = dsp.normalise(dsp.harmonic_series(rot, p["motor_amps"], rng))
        first = dsp.harmonic_series(p["vanes"] * rot, [1.0, 0.0, 0.3], rng)
        second = dsp.harmonic_series(p["vanes"] * rot, [0.0, 1.0], rng)
        second_level = p["vane_second"] * np.ones(n)
        if kind == "impeller_wear":  # a worn vane: shaft orders beside the vane pass, harmonics rebalance
            second_level = second_level * (1 + gate * (0.6 + 0.9 * sev))
            beside = dsp.harmonic_series(rot, [0.3 + 0.4 * sev] * 2, rng, [p["vanes"] - 1, p["vanes"] + 1])
            first = first + gate * beside
        vane = first + second_level * second
        vane = dsp.normalise(vane)
        flow = dsp.resonant_noise(n, sr, rng, p["pipe_hz"], p["pipe_q"], [1.0, 0.6])
        pulsation = p["pulsation"] * np.ones(n)
        if kind == "clogging":
            clogged = dsp.resonant_noise(n, sr, rng, [f * (1 + 0.05 + 0.07 * sev) for f in p["pipe_hz"]],
                                         p["pipe_q"], [1.0, 0.6])
            flow = dsp.crossfade(flow, clogged * (1 - 0.25 * sev), gate)
            pulsation = pulsation * (1 + gate * sev)
        elif kind == "leakage":
            pulsation = pulsation * (1 - gate * 0.6 * sev)
        elif kind == "impeller_wear":  # more turbulence behind the worn vane
            flow = flow * (1 + gate * (0.2 + 0.3 * sev))
        flow = flow * _level_jitter(rng) * (1 + pulsation * np.cos(p["vanes"] * rot))
        hiss = dsp.band_noise(n, sr, 2000, 7000, rng)
        x = 0.5 * motor + p["vane_level"] * vane + flow + p["hiss"] * hiss
        if kind == "leakage":  # the seal spurts: hiss in bursts
            bursts = np.repeat(rng.uniform(size=n // 800 + 1) < 0.5, 800)[:n].astype(float)
            bursts = dsp.lowpass(bursts, sr, 60)
            x = x + _gated_noise(n, sr, rng, gate, 3000, 7500, (0.15 + 0.25 * sev) * dsp.rms(x), bursts)
        elif kind == "impeller_wear":  # the worn vane brushes the casing on some turns
            turns = np.arange(rng.uniform(0, 1), mt[-1] * p["f_rot"], 1.0) / p["f_rot"]
            turns = turns[rng.uniform(size=len(turns)) < 0.3]
            x = x + _rattle(n, sr, rng, np.interp(turns, mt, np.arange(n) / sr), rng.uniform(1500, 4000, 2),
                            [0.004, 0.003], (0.3 + 0.5 * sev) * np.max(np.abs(x)), gate)
        elif kind == "clogging":  # the suction pressure drops: the first bubbles collapse
            x = x + _cavitation(n, sr, rng, rot, p["vanes"], gate, (0.08 + 0.15 * sev) * dsp.rms(x))
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "cavitation":
                added = _cavitation(n, sr, rng, rot, p["vanes"], gate, ref)
            else:
                added = _bearing_ticks(n, sr, rng, mt, gate, p["f_rot"] * rng.uniform(3.1, 5.2), ref)
        return x, added


class Slider(MachineModel):
    """Back-and-forth strokes: rolling noise and a servo whine following the carriage's
    velocity, an impact where each stroke ends."""

    machine_type = "slider"
    faults = (
        FaultKind("loose_belt", STRUCTURAL, "a slack drive belt: strokes take longer and vary, the servo spins "
                  "faster to make up for the slip (its whine rises and wavers), the carriage bounces at the ends"),
        FaultKind("worn_guide", STRUCTURAL, "a worn guide: the carriage drags, so each stroke takes longer "
                  "to complete, the servo works harder (its whine drops), the rolling noise grows and darkens"),
        FaultKind("drive_fault", STRUCTURAL, "the servo drive's velocity setting drifted: the motor (and its "
                  "whine) runs 4-8 % slow or fast, so the carriage stops short of the end stop or hits it hard"),
        FaultKind("rail_damage", ADDED, "a dent in the rail: a tick each time the carriage rolls over it"),
        FaultKind("no_grease", ADDED, "a dry rail: a stick-slip squeal while moving"),
    )
    added_gains = {"rail_damage": 0.5, "no_grease": 0.25}

    def build(self, slot, rng, type_rng):
        return dict(
            # slide rails of one product line with their own gearing and motion programs: what tells
            # them apart is the servo's speed (its whine) and the program's cycle
            servo_hz=ladder(type_rng, rng, slot, 320.0, 1.04),
            period=ladder(type_rng, rng, slot, 0.5, 1.05),  # out and back, s
            duty=float(rng.uniform(0.55, 0.75)),  # moving share of each stroke
            servo_level=float(rng.uniform(0.3, 0.6)),
            # the rail, the carriage and the end stops are the type's, within a few per cent
            **_common(type_rng, rng, 0.03, roll_lo=(400, 1000), roll_hi=(2200, 4500),
                      impact_freqs=(400, 4000, 3), impact_decays=(0.01, 0.05, 3), impact_level=(1.0, 2.5)),
            defect_positions=list(rng.uniform(0.15, 0.85, 2)),
        )

    def render(self, p, rng, n, sr, fault):
        gate = _gate(n, sr, fault)
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        t = np.arange(n) / sr
        half = p["period"] / 2 * (1 + rng.normal(0, 0.005))  # this recording's cycle
        # stroke start times: each stroke lasts `half`, a loose belt stretches and jitters it
        starts = [-rng.uniform(0, p["period"])]
        while starts[-1] < t[-1]:
            g = float(np.interp(max(starts[-1], 0.0), t, gate))
            length = half * (1 + rng.normal(0, 0.004))
            if kind == "loose_belt":
                length *= 1 + g * ((0.04 + 0.06 * sev) + rng.normal(0, 0.03 * sev))
            starts.append(starts[-1] + length)
        starts = np.array(starts)
        idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 2)
        length = starts[idx + 1] - starts[idx]
        drive = float(rng.choice([-1.0, 1.0])) * (0.04 + 0.04 * sev) if kind == "drive_fault" else 0.0
        # the moving share of a stroke: longer with drag, shorter or longer with the drive's speed
        duty = p["duty"] * {"drive_fault": 1 + gate * 2 * drive,
                            "worn_guide": 1 + gate * (0.08 + 0.08 * sev)}.get(kind, 1.0)
        move = duty * length
        local = t - starts[idx]
        tau = np.clip(local / move, 0, 1)
        moving = local < move
        velocity = np.where(moving, np.sin(np.pi * tau), 0.0)
        lo, hi = p["roll_lo"], p["roll_hi"]
        roll = dsp.band_noise(n, sr, lo, hi, rng)
        servo_hz = p["servo_hz"] * np.ones(n)
        roll_level = 1.0
        if kind == "worn_guide":
            darker = 1 - 0.1 - 0.15 * sev
            roll = dsp.crossfade(roll, dsp.band_noise(n, sr, lo * darker, hi * darker, rng), gate)
            roll_level = 1 + gate * (0.2 + 0.4 * sev)
            servo_hz = servo_hz * (1 - gate * (0.03 + 0.04 * sev))
        elif kind == "loose_belt":  # the servo spins faster to make up for the slip, and wavers
            servo_hz = servo_hz * (1 + gate * ((0.02 + 0.03 * sev)
                                               + 0.02 * sev * np.sin(2 * np.pi * rng.uniform(5, 9) * t)))
        elif kind == "drive_fault":
            servo_hz = servo_hz * (1 + gate * drive)
        roll = roll * velocity * roll_level * _level_jitter(rng)
        servo_phase = 2 * np.pi * np.cumsum(servo_hz * (0.6 + 0.4 * velocity)) / sr
        servo = dsp.harmonic_series(servo_phase, [1.0, 0.4, 0.2], rng)
        if kind == "drive_fault":  # the drive's current ripple: the servo's upper harmonics grow
            servo = servo + gate * (0.3 + 0.4 * sev) * dsp.harmonic_series(servo_phase, [0, 0, 0, 0.6, 0.4, 0.3], rng)
        servo = dsp.normalise(servo * velocity)
        # an impact where each stroke ends (a bounce after it with a loose belt)
        ends = starts[:-1] + duty_at(duty, starts[:-1], t) * np.diff(starts)
        amps = rng.uniform(0.7, 1.0, len(ends))
        if kind == "loose_belt":
            bounce = np.interp(ends, t, gate) > 0.5
            ends = np.concatenate([ends, ends[bounce] + rng.uniform(0.02, 0.05, bounce.sum())])
            amps = np.concatenate([amps, amps[bounce] * (0.3 + 0.4 * sev)])
        exc = dsp.impulses(n, np.round(ends[(ends > 0) & (ends < t[-1])] * sr).astype(int),
                           amps[(ends > 0) & (ends < t[-1])])
        impact = dsp.resonate(exc, sr, p["impact_freqs"], p["impact_decays"], [1.0, 0.7, 0.5])
        impact = impact / (np.max(np.abs(impact)) + 1e-9)
        if kind == "drive_fault":  # stopping short of the end stop, or hitting it hard
            impact = impact * (1 + gate * 8 * drive)
        x = roll + p["servo_level"] * 0.7 * servo + p["impact_level"] * 0.5 * impact
        if kind == "loose_belt":  # the slack belt flaps while the carriage moves, and slaps as it reverses
            flap = dsp.band_noise(n, sr, 60, 400, rng) * velocity
            x = x + gate * (0.15 + 0.3 * sev) * dsp.rms(x) * dsp.normalise(flap) + _rattle(
                n, sr, rng, starts + rng.uniform(0.01, 0.03, len(starts)), rng.uniform(200, 700, 2),
                [0.02, 0.012], (0.3 + 0.4 * sev) * np.max(np.abs(x)), gate)
        elif kind == "worn_guide":  # grit in the worn guide grinds while the carriage moves
            grind = dsp.poisson_times(40, n / sr, rng)
            grind = grind[moving[np.minimum((grind * sr).astype(int), n - 1)]]
            x = x + _rattle(n, sr, rng, grind, rng.uniform(2000, 5000, 2), [0.002, 0.0015],
                            (0.2 + 0.4 * sev) * np.max(np.abs(x)), gate)
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "rail_damage":
                ticks = np.zeros(n)
                for d in p["defect_positions"]:
                    crossing = moving & (np.diff(np.concatenate([[0.0], (tau >= d).astype(float)])) > 0)
                    ticks[crossing] = rng.uniform(0.6, 1.0, crossing.sum())
                ring = dsp.resonate(ticks, sr, [rng.uniform(3000, 6000), rng.uniform(1500, 2500)],
                                    [0.003, 0.006], [1.0, 0.5])
                added = dsp.normalise(ring) * gate * ref if ticks.any() else added
            else:  # no_grease: stick-slip squeal while moving, a jittery tone with harmonics
                sq_hz = rng.uniform(1200, 3200)
                jitter = 1 + 0.1 * dsp.lowpass(rng.standard_normal(n), sr, 30)
                squeal = dsp.harmonic_series(2 * np.pi * np.cumsum(sq_hz * jitter) / sr, [1.0, 0.5, 0.3], rng)
                env = velocity * (0.6 + 1.2 * np.abs(dsp.lowpass(rng.standard_normal(n), sr, 40)))
                added = dsp.normalise(squeal * env) * gate * ref
        return x, added


def duty_at(duty, times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The duty cycle (a number, or a per-sample array) at the given times."""
    if np.ndim(duty) == 0:
        return np.full(len(times), float(duty))
    return np.interp(times, t, duty)


class Valve(MachineModel):
    """A solenoid valve cycling open and shut: a click at each movement (ringing modes plus a
    plunger thump), flow hiss while open."""

    machine_type = "valve"
    faults = (
        FaultKind("sticking", STRUCTURAL, "contamination makes the plunger stick: it opens late, shuts "
                  "late and its cycle turns irregular"),
        FaultKind("contamination", STRUCTURAL, "deposits on the seat and plunger: dull, damped clicks"),
        FaultKind("missing_click", STRUCTURAL, "the plunger fails to move on some cycles: clicks and flow "
                  "go missing"),
        FaultKind("chatter", ADDED, "a weak spring: the plunger bounces, an extra click after some clicks"),
        FaultKind("leak", ADDED, "a worn seat: hiss while the valve is shut"),
    )
    added_gains = {"chatter": 0.6, "leak": 0.35}

    def build(self, slot, rng, type_rng):
        return dict(
            # units of one valve model on different controllers and pipes: what tells them apart
            # is their cycle (period, open fraction) and the flow's band, not the solenoid's click
            period=ladder(type_rng, rng, slot, 0.42, 1.07),  # one open-shut cycle, s
            open_frac=ladder(type_rng, rng, slot, 0.3, 1.1),
            flow_lo=ladder(type_rng, rng, slot, 1500.0, 1.06),
            **_common(type_rng, rng, 0.03, click_freqs=(1000, 6000, 3), click_decays=(0.003, 0.015, 3),
                      thump_hz=(90, 300), close_ratio=(0.5, 1.2), flow_level=(0.05, 0.12)),
            flow_hi=float(rng.uniform(4500, 7000)),
        )

    def render(self, p, rng, n, sr, fault):
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        t = np.arange(n) / sr
        period = p["period"] * (1 + rng.normal(0, 0.005))
        opens = np.arange(-rng.uniform(0, period), t[-1] + period, period)
        opens = opens + rng.normal(0, 0.003, len(opens))
        open_len = p["open_frac"] * period * (1 + rng.normal(0, 0.01, len(opens)))
        inside = np.zeros(len(opens), bool) if fault is None else (opens >= fault.onset) & (opens < fault.offset)
        if kind == "sticking":  # opens late, shuts late, irregular
            delay = inside * (0.15 + 0.3 * sev) * open_len * rng.uniform(0.6, 1.4, len(opens))
            opens = opens + delay + inside * rng.normal(0, 0.03 * sev * period, len(opens))
            open_len = open_len * (1 + inside * (0.15 + 0.35 * sev) * rng.uniform(0.5, 1.5, len(opens)))
        closes = opens + open_len
        works = np.ones(len(opens), bool)
        if kind == "missing_click" and inside.any():  # the plunger fails to move on some cycles
            works = ~(inside & (rng.uniform(size=len(opens)) < 0.4 + 0.5 * sev))
            works[rng.choice(np.flatnonzero(inside))] = False
        times = np.concatenate([opens[works], closes[works]])
        amps = np.concatenate([np.ones(works.sum()), np.full(works.sum(), p["close_ratio"])])
        amps = amps * rng.uniform(0.85, 1.0, len(amps))
        freqs, decays = np.array(p["click_freqs"]), np.array(p["click_decays"])
        added_times = np.zeros(0)
        if kind == "chatter" and fault is not None:
            bouncing = (times >= fault.onset) & (times < fault.offset) & (rng.uniform(size=len(times)) < 0.7)
            added_times = times[bouncing] + rng.uniform(0.015, 0.04, bouncing.sum())
        dull = np.zeros(len(times), bool)
        if kind == "contamination" and fault is not None:
            dull = (times >= fault.onset) & (times < fault.offset)
        ok = (times > 0) & (times < t[-1])
        healthy = dsp.impulses(n, np.round(times[ok & ~dull] * sr).astype(int), amps[ok & ~dull])
        click = dsp.resonate(healthy, sr, freqs, decays, [1.0, 0.7, 0.5])
        thump = dsp.resonate(healthy, sr, [p["thump_hz"]], [0.02], [0.6])
        if (ok & dull).any():
            d_exc = dsp.impulses(n, np.round(times[ok & dull] * sr).astype(int), amps[ok & dull])
            click = click + dsp.resonate(d_exc, sr, freqs * (1 - 0.08 - 0.12 * sev), decays * (1 - 0.5 * sev),
                                         [1.0, 0.7, 0.5])
            thump = thump + dsp.resonate(d_exc, sr, [p["thump_hz"] * 0.8], [0.03], [0.6 * (1 + sev)])
        # flow hiss while open
        is_open = np.zeros(n, bool)
        for a, b in zip(opens[works], closes[works]):
            is_open[max(0, int(a * sr)):max(0, int(b * sr))] = True
        flow = dsp.band_noise(n, sr, p["flow_lo"], p["flow_hi"], rng)
        peak = np.max(np.abs(click + thump)) + 1e-9
        x = (click + thump) / peak * 0.8 + p["flow_level"] * _level_jitter(rng) * flow * is_open
        if kind == "sticking":  # the plunger scrapes as it breaks free, just before each late click
            scrape = np.zeros(n)
            for when in times[ok & (np.interp(times, t, _gate(n, sr, fault)) > 0.5)]:
                a, b = max(0, int((when - 0.02) * sr)), int(when * sr)
                scrape[a:b] = 1.0
            x = x + (0.3 + 0.4 * sev) * dsp.rms(x) * scrape * dsp.band_noise(n, sr, 2000, 6000, rng)
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            gate = _gate(n, sr, fault)
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "chatter":
                ok = (added_times > 0) & (added_times < t[-1])
                exc = dsp.impulses(n, np.round(added_times[ok] * sr).astype(int), 1.0)
                bounce = dsp.resonate(exc, sr, freqs * 1.1, decays * 0.7, [1.0, 0.7, 0.5])
                added = bounce / (np.max(np.abs(bounce)) + 1e-9) * 0.8 * (0.4 + 0.6 * sev) if exc.any() else added
            else:  # leak: hiss while shut
                added = _gated_noise(n, sr, rng, gate, p["flow_lo"] * 0.8, p["flow_hi"], ref) * ~is_open
        return x, added


class ToyCar(MachineModel):
    """A toy car on a roller: motor whine with speed ripple, gear mesh, brush noise, rolling."""

    machine_type = "ToyCar"
    faults = (
        FaultKind("excessive_voltage", STRUCTURAL, "too high a supply voltage: the motor and everything it "
                  "drives run 3-7 % faster"),
        FaultKind("gear_damage", STRUCTURAL, "a damaged gear tooth: the gears bind, so the small DC motor "
                  "slows; the mesh tone rebalances, beats once per gear turn and knocks there"),
        FaultKind("shaft_deformation", STRUCTURAL, "a bent shaft: the load rises and falls twice per wheel turn, "
                  "so the motor slows and its speed (and whine) wobbles; a half-order tone appears"),
        FaultKind("bearing", ADDED, "a damaged bearing: high-pitched ticks"),
        FaultKind("tire_damage", ADDED, "a flat spot on a tyre: a dull thump once per wheel turn"),
    )
    added_gains = {"bearing": 0.25, "tire_damage": 0.4}

    def build(self, slot, rng, type_rng):
        teeth = int(type_rng.integers(8, 13))
        return dict(
            f_motor=ladder(type_rng, rng, slot, 160.0, 1.04),  # Hz
            gear_ratio=ladder(type_rng, rng, slot, 18.0, 1.05),  # wheels at 6-9 turns/s
            pinion_teeth=teeth, motor_amps=list(rng.uniform(0.1, 1.0, 8)),
            ripple_hz=float(rng.uniform(2, 6)), ripple_depth=float(rng.uniform(0.005, 0.015)),
            mesh_level=float(rng.uniform(0.2, 0.6)), brush_level=float(rng.uniform(0.3, 0.6)),
            roll_cutoff=float(rng.uniform(600, 1500)),
            speed_jitter=0.008,  # a toy's DC motor follows its supply voltage
        )

    def render(self, p, rng, n, sr, fault):
        gate = _gate(n, sr, fault)
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        # a small DC motor's speed falls steeply with load: binding gears or a bent shaft slow it
        shift = {"excessive_voltage": 0.025 + 0.035 * sev, "gear_damage": -(0.02 + 0.025 * sev),
                 "shaft_deformation": -(0.015 + 0.02 * sev)}.get(kind, 0.0)
        rate = speed_profile(n, sr, rng, p["speed_jitter"], p["ripple_hz"], p["ripple_depth"], shift, gate)
        if kind == "shaft_deformation":  # the load, so the speed, wobbles twice per wheel turn
            wobble_hz = 2 * p["f_motor"] / p["gear_ratio"]
            rate = rate * (1 + gate * (0.01 + 0.015 * sev) * np.sin(2 * np.pi * wobble_hz * np.arange(n) / sr))
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_motor"] * mt
        wheel = rot / p["gear_ratio"]  # the driven wheel's angle
        whine = dsp.normalise(dsp.harmonic_series(rot, p["motor_amps"], rng))
        mesh = dsp.normalise(dsp.harmonic_series(p["pinion_teeth"] * rot, [1.0, 0.4], rng))
        brush = dsp.band_noise(n, sr, 3000, 7500, rng) * (1 + 0.5 * np.cos(2 * rot))
        roll = dsp.normalise(dsp.lowpass(dsp.coloured_noise(n, rng, -3), sr, p["roll_cutoff"]))
        if kind == "gear_damage":  # the damaged tooth meshes once per gear turn
            phase = rng.uniform(0, 6.3)
            mesh = mesh * (1 + gate * (0.4 + 0.5 * sev) * np.maximum(0, np.cos(wheel + phase)) ** 8)
            mesh = mesh + gate * (0.3 + 0.4 * sev) * dsp.normalise(
                dsp.harmonic_series(p["pinion_teeth"] * rot, [0.0, 1.0, 0.6], rng))
            times = (np.arange(rng.uniform(0, 1), mt[-1] * p["f_motor"] / p["gear_ratio"], 1.0)
                     * p["gear_ratio"] / p["f_motor"])
            exc = dsp.event_impulses(mt, times, 1.0)
            knock = dsp.resonate(exc, sr, [p["f_motor"] * p["pinion_teeth"], 2500], [0.01, 0.003], [1.0, 0.7])
            if exc.any():
                mesh = mesh + gate * (0.3 + 0.5 * sev) * dsp.normalise(knock)
        if kind == "shaft_deformation":
            whine = whine * (1 + gate * (0.2 + 0.3 * sev) * np.cos(2 * wheel + rng.uniform(0, 6.3)))
            whine = whine + gate * (0.15 + 0.25 * sev) * np.sin(rot / 2 + rng.uniform(0, 6.3))
        x = whine + p["mesh_level"] * mesh + p["brush_level"] * _level_jitter(rng) * brush + 0.6 * roll
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "bearing":
                added = _bearing_ticks(n, sr, rng, mt, gate, p["f_motor"] * rng.uniform(0.35, 0.45), ref)
            else:  # tire_damage: a thump once per wheel turn
                times = np.arange(rng.uniform(0, 1), mt[-1] * p["f_motor"] / p["gear_ratio"], 1.0) \
                    * p["gear_ratio"] / p["f_motor"]
                exc = dsp.event_impulses(mt, times, rng.uniform(0.7, 1.0, len(times)))
                thump = dsp.resonate(exc, sr, [rng.uniform(80, 200), rng.uniform(400, 900)], [0.03, 0.01], [1.0, 0.5])
                added = dsp.normalise(thump) * gate * ref if exc.any() else added
        return x, added


class ToyConveyor(MachineModel):
    """Motor hum, rollers beating against each other, belt noise and the belt joint's slap once
    per turn.  Its units are nearly identical (about 1 % apart, the others' 4-10 %): ID
    classifiers confuse them, as with the real ToyConveyor, the problem OS-SCL addresses."""

    machine_type = "ToyConveyor"
    faults = (
        FaultKind("tension_change", STRUCTURAL, "a belt tensioner out of adjustment: the belt and rollers run "
                  "3-7 % off their speed and the joint slaps harder or softer"),
        FaultKind("excessive_voltage", STRUCTURAL, "too high a supply voltage: the motor and belt run 3-7 % faster"),
        FaultKind("belt_damage", ADDED, "a torn belt: a sharper slap at a second point of the belt, every turn"),
        FaultKind("roller_bearing", ADDED, "a roller's damaged bearing: high-pitched ticks"),
        FaultKind("rubbing", ADDED, "the belt's edge rubbing on the frame: scraping noise"),
    )
    added_gains = {"belt_damage": 0.45, "roller_bearing": 0.25, "rubbing": 0.3}
    level_spread_db = 0.3

    def build(self, slot, rng, type_rng):
        common = dict(f_motor=type_rng.uniform(45, 60), roller_hz=list(type_rng.uniform(9, 16, 3)),
                      roller_order=int(type_rng.integers(18, 30)), belt_period=type_rng.uniform(0.6, 1.0),
                      slap_freqs=list(type_rng.uniform(300, 1500, 2)), belt_cutoff=type_rng.uniform(900, 2000),
                      hum_amps=list(type_rng.uniform(0.2, 1.0, 5)))
        scale = ladder(type_rng, rng, slot, 1.0, 1.009, jitter=0.001)  # the unit's gearing
        return dict(
            f_motor=common["f_motor"] * scale, roller_hz=[h * scale for h in common["roller_hz"]],
            belt_period=common["belt_period"] / scale, roller_order=common["roller_order"],
            slap_freqs=[f * (1 + 0.01 * rng.uniform(-1, 1)) for f in common["slap_freqs"]],
            belt_cutoff=common["belt_cutoff"] * (1 + 0.01 * rng.uniform(-1, 1)),
            hum_amps=[a * (1 + 0.05 * rng.uniform(-1, 1)) for a in common["hum_amps"]],
            slap_level=0.75, speed_jitter=0.004,
        )

    def render(self, p, rng, n, sr, fault):
        gate = _gate(n, sr, fault)
        kind, sev = (fault.kind, fault.severity) if fault else (None, 0.0)
        shift = 0.035 + 0.04 * sev if kind == "excessive_voltage" else 0.0
        rate = speed_profile(n, sr, rng, p["speed_jitter"], shift=shift, gate=gate)
        mt = dsp.machine_time(rate, sr)
        belt_rate = rate.copy()
        slap_level = p["slap_level"]
        if kind == "tension_change":
            direction = float(rng.choice([-1.0, 1.0]))
            belt_rate = belt_rate * (1 + direction * gate * (0.035 + 0.04 * sev))
            slap_level = slap_level * (1 - direction * 0.4 * sev)
        bt = dsp.machine_time(belt_rate, sr)  # the belt's and rollers' own time
        hum = dsp.harmonic_series(2 * np.pi * p["f_motor"] * mt, p["hum_amps"], rng)
        rollers = sum(dsp.harmonic_series(2 * np.pi * hz * p["roller_order"] * bt, [1.0, 0.3], rng)
                      for hz in p["roller_hz"])
        offset = rng.uniform(0, p["belt_period"])
        belt_phase = 2 * np.pi * (bt + offset) / p["belt_period"]
        belt = dsp.lowpass(dsp.coloured_noise(n, rng, -2), sr, p["belt_cutoff"]) * (1 + 0.3 * np.cos(belt_phase))
        joints = np.arange(p["belt_period"] - offset, bt[-1], p["belt_period"])
        exc = dsp.event_impulses(bt, joints, 1.0)
        slap = dsp.resonate(exc, sr, p["slap_freqs"], [0.015, 0.01], [1.0, 0.6])
        slap = slap / (np.max(np.abs(slap)) + 1e-9) if exc.any() else slap
        x = dsp.normalise(hum) + 0.6 * dsp.normalise(rollers) + dsp.normalise(belt) * _level_jitter(rng) \
            + slap_level * slap
        if kind == "tension_change":  # a belt out of tension flutters and slaps the rollers
            x = x + _gated_noise(n, sr, rng, gate, 60, 300, (0.08 + 0.15 * sev) * dsp.rms(x)) + _rattle(
                n, sr, rng, dsp.poisson_times(4, n / sr, rng), rng.uniform(150, 600, 2), [0.02, 0.01],
                (0.3 + 0.4 * sev) * np.max(np.abs(x)), gate)
        added = np.zeros(n)
        if kind in self.fault_kinds(ADDED):
            ref = self.added_level(fault) * dsp.rms(x)
            if kind == "belt_damage":
                torn = np.arange(rng.uniform(0, p["belt_period"]), bt[-1], p["belt_period"])
                exc = dsp.event_impulses(bt, torn, rng.uniform(0.7, 1.0, len(torn)))
                hit = dsp.resonate(exc, sr, [rng.uniform(1500, 3500), p["slap_freqs"][0]], [0.004, 0.01], [1.0, 0.6])
                added = dsp.normalise(hit) * gate * ref if exc.any() else added
            elif kind == "roller_bearing":
                added = _bearing_ticks(n, sr, rng, bt, gate, p["roller_hz"][0] * rng.uniform(3.0, 5.0), ref)
            else:
                env = np.maximum(0, np.cos(belt_phase * 3)) ** 2
                added = _gated_noise(n, sr, rng, gate, 1000, 4500, ref, env)
        return x, added


MACHINES: dict[str, MachineModel] = {m.machine_type: m for m in
                                      (Fan(), Pump(), Slider(), Valve(), ToyCar(), ToyConveyor())}
