"""The toy factory's machines: one physically motivated sound model per DCASE 2020 type.

Every model draws per-ID parameters (its build: speeds, blade or vane counts,
resonances of its parts) and renders a clip from them with small per-clip
variation (speed jitter, phases, event timing).  A fault, when asked for, is
rendered inside its labelled span [onset, offset) with a severity in (0, 1]:
either an added sound (bearing ticks, cavitation crackle, rubbing, a leak's
hiss) or a change of the machine itself (speed drift, missing or extra valve
clicks, dull clicks, a damaged belt).

`render` returns (machine, fault): the machine's sound including any structural
change, and the added fault sound, so the mixer can set the background noise
level from the healthy machine alone.

The six machines and what a maintenance engineer would hear:
- fan:         blade-pass tone and harmonics over broadband air noise modulated at
               the blade pass; faults: imbalance (once-per-turn modulation),
               bearing ticks, blade rubbing.
- pump:        motor and vane-pass tones, flow noise pulsing at the vane pass;
               faults: cavitation crackle, a leak's hiss, bearing ticks.
- slider:      back-and-forth strokes: rolling noise and servo whine following the
               velocity, an impact at each end; faults: rail damage ticks, a dry
               rail's squeal, speed drift.
- valve:       solenoid open/close clicks (ringing modes plus a plunger thump),
               flow hiss while open; faults: missing click, extra click, leak,
               dull clicks from contamination.
- ToyCar:      motor whine with speed ripple, gear mesh, brush noise; faults:
               bearing ticks, a damaged gear tooth, shaft wobble, speed drift.
- ToyConveyor: motor hum, rollers beating against each other, belt noise and the
               belt joint's slap once per turn; its IDs differ only slightly
               (deliberately: ID classifiers confuse them, as with the real
               ToyConveyor); faults: belt damage, roller bearing ticks, belt-edge
               rubbing, speed drift.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import dsp


@dataclass(frozen=True)
class Fault:
    kind: str
    onset: float  # seconds
    offset: float  # seconds
    severity: float  # (0, 1]


def _speed_profile(n, sr, rng, p, fault, ripple_hz=0.4, ripple_depth=0.002, drift_max=0.12):
    """Speed relative to nominal: clip jitter, a slow ripple and, for a speed-drift
    fault, a change ramping up to drift_max * severity inside the span."""
    t = np.arange(n) / sr
    rate = (1 + rng.normal(0, p.get("speed_jitter", 0.004))) * (
        1 + ripple_depth * np.sin(2 * np.pi * ripple_hz * t + rng.uniform(0, 2 * np.pi)))
    if fault is not None and fault.kind == "speed_drift":
        direction = rng.choice([-1.0, 1.0])
        ramp = np.clip((t - fault.onset) / max(fault.offset - fault.onset, 1e-3), 0, 1)
        rate = rate * (1 + direction * drift_max * fault.severity * ramp * dsp.span_gate(
            n, sr, fault.onset, fault.offset, 0.05))
    return rate


def _gate(n, sr, fault):
    return dsp.span_gate(n, sr, fault.onset, fault.offset)


def _bearing_ticks(n, sr, rng, mt, fault, defect_rate_hz, ref_rms):
    """A damaged rolling element: a tick each time it passes the defect, ringing at
    a high structural resonance; ticks vary in strength (load zone)."""
    times = np.arange(rng.uniform(0, 1 / defect_rate_hz), mt[-1], 1 / defect_rate_hz)
    times = times + rng.normal(0, 0.02 / defect_rate_hz, len(times))
    exc = dsp.event_impulses(mt, times, rng.uniform(0.5, 1.0, len(times)))
    f0 = rng.uniform(2500, 5500)
    ring = dsp.resonate(exc, sr, [f0, f0 * 1.37], [0.002, 0.0015], [1.0, 0.6])
    return dsp.normalise(ring) * _gate(n, sr, fault) * ref_rms


def _gated_noise(n, sr, rng, fault, lo, hi, ref_rms, envelope=None):
    x = dsp.band_noise(n, sr, lo, hi, rng)
    if envelope is not None:
        x = x * envelope
    return dsp.normalise(x) * _gate(n, sr, fault) * ref_rms


def _perturb(value, rng: np.random.Generator, spread: float):
    """Scale floats (and lists of floats) by 1 + spread * U(-1, 1); integers (counts of blades,
    vanes, teeth) stay as they are."""
    if isinstance(value, (float, np.floating)):
        return float(value * (1 + spread * rng.uniform(-1, 1)))
    if isinstance(value, list):
        return [_perturb(v, rng, spread) for v in value]
    return value


class MachineModel:
    machine_type = ""
    fault_kinds: tuple[str, ...] = ()
    # fault loudness relative to the machine's RMS at severity 1 (calibrated so the
    # time-averaged-log-mel Gaussian baseline scores AUC 0.6-0.95 on the default preset)
    fault_gain = 0.3
    fault_gains: dict[str, float] = {}  # per fault kind, where it differs from fault_gain

    def fault_level(self, fault: Fault) -> float:
        """Loudness of the added fault sound relative to the machine's RMS."""
        return self.fault_gains.get(fault.kind, self.fault_gain) * fault.severity

    # how far the units (machine IDs) of a type differ from the type's common build: each
    # continuous parameter is scaled by 1 + id_spread * U(-1, 1).  Small on purpose: like the
    # real DCASE IDs, units of one product line sound alike, so telling them apart makes a
    # classifier learn fine detail of the normal sound (which faults then disturb).
    id_spread = 0.06
    level_spread_db = 1.0

    def build(self, rng: np.random.Generator) -> dict:
        """A random build of this machine type: its sound model's parameters."""
        raise NotImplementedError

    def id_params(self, rng: np.random.Generator, type_rng: np.random.Generator) -> dict:
        """One unit: the type's common build (from type_rng) with its own small deviations."""
        base = self.build(type_rng)
        return {k: _perturb(v, rng, self.id_spread) for k, v in base.items()}

    def level_db(self, rng: np.random.Generator, type_rng: np.random.Generator) -> float:
        """RMS level in dBFS of this unit's recordings: the type's microphone set-up, +- a little."""
        return float(type_rng.uniform(-30, -22) + rng.uniform(-self.level_spread_db, self.level_spread_db))

    def render(self, p: dict, rng: np.random.Generator, n: int, sr: int,
               fault: Fault | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class Fan(MachineModel):
    machine_type = "fan"
    fault_kinds = ("imbalance", "bearing", "rubbing")
    fault_gain = 0.5
    fault_gains = {"bearing": 0.08, "rubbing": 0.15}

    def build(self, rng):
        return dict(f_rot=rng.uniform(16, 28), blades=int(rng.choice([5, 6, 7, 9, 11])),
                    bpf_decay=rng.uniform(0.35, 0.7), tone_level=rng.uniform(0.4, 1.0),
                    air_cutoff=rng.uniform(1500, 4500), air_slope=rng.uniform(-4.5, -1.5),
                    bpf_mod=rng.uniform(0.1, 0.35), hum=rng.uniform(0.02, 0.15))

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault)
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_rot"] * mt  # shaft angle
        bpf_amps = [p["bpf_decay"] ** k for k in range(6)]
        tones = dsp.harmonic_series(p["blades"] * rot, bpf_amps, rng)
        air = dsp.lowpass(dsp.coloured_noise(n, rng, p["air_slope"]), sr, p["air_cutoff"])
        air = dsp.normalise(air) * (1 + p["bpf_mod"] * np.cos(p["blades"] * rot))
        hum = np.sin(2 * np.pi * 100 * np.arange(n) / sr + rng.uniform(0, 6.3))
        x = p["tone_level"] * dsp.normalise(tones) + air + p["hum"] * hum
        f = np.zeros(n)
        if fault is not None:
            ref = self.fault_level(fault) * dsp.rms(x)
            if fault.kind == "imbalance":
                # once-per-turn amplitude modulation of everything, plus the 1x tone
                depth = 0.6 * fault.severity * _gate(n, sr, fault)
                f = x * depth * np.cos(rot + rng.uniform(0, 6.3)) + \
                    ref * np.sqrt(2) * np.sin(rot) * _gate(n, sr, fault)
            elif fault.kind == "bearing":
                f = _bearing_ticks(n, sr, rng, mt, fault, p["f_rot"] * rng.uniform(3.1, 5.2), ref)
            elif fault.kind == "rubbing":
                # a blade tip touching the casing once per turn: broadband scrape bursts
                env = np.maximum(0, np.cos(rot + rng.uniform(0, 6.3))) ** 6
                f = _gated_noise(n, sr, rng, fault, 800, 6000, ref, env)
        return x, f


class Pump(MachineModel):
    machine_type = "pump"
    fault_kinds = ("cavitation", "leak", "bearing")
    fault_gain = 0.16
    fault_gains = {"leak": 0.11, "bearing": 0.1}

    def build(self, rng):
        return dict(f_rot=rng.uniform(24, 48), vanes=int(rng.choice([5, 6, 7])),
                    motor_amps=list(rng.uniform(0.2, 1.0, 4)), vane_level=rng.uniform(0.3, 0.9),
                    flow_lo=rng.uniform(80, 250), flow_hi=rng.uniform(700, 2200),
                    pulsation=rng.uniform(0.2, 0.5), hiss=rng.uniform(0.05, 0.2))

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault)
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_rot"] * mt
        motor = dsp.harmonic_series(rot, p["motor_amps"], rng)
        vane = dsp.harmonic_series(p["vanes"] * rot, [1.0, 0.5, 0.25], rng)
        flow = dsp.band_noise(n, sr, p["flow_lo"], p["flow_hi"], rng) * (
            1 + p["pulsation"] * np.cos(p["vanes"] * rot))
        hiss = dsp.band_noise(n, sr, 2000, 7000, rng)
        x = 0.5 * dsp.normalise(motor) + p["vane_level"] * dsp.normalise(vane) + flow + p["hiss"] * hiss
        f = np.zeros(n)
        if fault is not None:
            ref = self.fault_level(fault) * dsp.rms(x)
            if fault.kind == "cavitation":
                # vapour bubbles collapsing: random sharp crackles, denser at the vane pass
                rate_hz = rng.uniform(300, 900)
                times = dsp.poisson_times(rate_hz, n / sr, rng)
                pos = (times * sr).astype(int)
                pulse = 1 + 0.8 * np.cos(p["vanes"] * rot[pos])
                exc = dsp.impulses(n, pos, rng.exponential(1.0, len(pos)) * pulse)
                crackle = dsp.resonate(exc, sr, rng.uniform(2500, 7000, 3), [4e-4, 3e-4, 5e-4],
                                       [1.0, 0.8, 0.6])
                f = dsp.normalise(crackle) * _gate(n, sr, fault) * ref
            elif fault.kind == "leak":
                f = _gated_noise(n, sr, rng, fault, rng.uniform(1500, 3000), rng.uniform(5000, 7500), ref)
            elif fault.kind == "bearing":
                f = _bearing_ticks(n, sr, rng, mt, fault, p["f_rot"] * rng.uniform(3.1, 5.2), ref)
        return x, f


class Slider(MachineModel):
    machine_type = "slider"
    id_spread = 0.08
    fault_kinds = ("rail_damage", "no_grease", "speed_drift")
    fault_gain = 0.6
    fault_gains = {"no_grease": 0.25}

    def build(self, rng):
        return dict(period=rng.uniform(0.45, 0.9), duty=rng.uniform(0.55, 0.85),
                    roll_lo=rng.uniform(400, 1200), roll_hi=rng.uniform(2000, 4500),
                    servo_hz=rng.uniform(300, 900), servo_level=rng.uniform(0.2, 0.6),
                    impact_freqs=list(rng.uniform(400, 4000, 3)),
                    impact_decays=list(rng.uniform(0.01, 0.06, 3)), impact_level=rng.uniform(1.0, 3.0),
                    defect_positions=list(rng.uniform(0.15, 0.85, 2)))

    def _stroke_phase(self, p, mt, offset):
        """Per sample: stroke progress tau in [0,1) and whether the carriage is moving.
        Each period holds two strokes (out and back) of duty * period / 2 each."""
        half = p["period"] / 2
        local = np.mod(mt + offset, half)
        move = p["duty"] * half
        tau = np.clip(local / move, 0, 1)
        moving = local < move
        return tau, moving

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault, ripple_depth=0.0)
        mt = dsp.machine_time(rate, sr)
        offset = rng.uniform(0, p["period"])
        tau, moving = self._stroke_phase(p, mt, offset)
        velocity = np.where(moving, np.sin(np.pi * tau), 0.0)
        roll = dsp.band_noise(n, sr, p["roll_lo"], p["roll_hi"], rng) * velocity
        servo_phase = 2 * np.pi * np.cumsum(p["servo_hz"] * (0.6 + 0.4 * velocity)) / sr
        servo = dsp.harmonic_series(servo_phase, [1.0, 0.4, 0.2], rng) * velocity
        # an impact where each stroke ends
        half = p["period"] / 2
        stroke_ends = np.arange(-offset + p["duty"] * half, mt[-1] + half, half)
        stroke_ends = stroke_ends + rng.normal(0, 0.003, len(stroke_ends))
        exc = dsp.event_impulses(mt, stroke_ends, rng.uniform(0.7, 1.0, len(stroke_ends)))
        impact = dsp.resonate(exc, sr, p["impact_freqs"], p["impact_decays"], [1.0, 0.7, 0.5])
        x = roll + p["servo_level"] * dsp.normalise(servo) * 0.7 + \
            p["impact_level"] * impact / (np.max(np.abs(impact)) + 1e-9) * 0.5
        f = np.zeros(n)
        if fault is not None:
            ref = self.fault_level(fault) * dsp.rms(x)
            if fault.kind == "rail_damage":
                # a dent in the rail: a tick each time the carriage rolls over it
                ticks = np.zeros(n)
                for d in p["defect_positions"]:
                    crossing = moving & (np.diff(np.concatenate([[0.0], (tau >= d).astype(float)])) > 0)
                    ticks[crossing] = rng.uniform(0.6, 1.0, crossing.sum())
                ring = dsp.resonate(ticks, sr, [rng.uniform(3000, 6000), rng.uniform(1500, 2500)],
                                    [0.003, 0.006], [1.0, 0.5])
                f = dsp.normalise(ring) * _gate(n, sr, fault) * ref if ticks.any() else f
            elif fault.kind == "no_grease":
                # stick-slip squeal while moving: a jittery tone with harmonics
                sq_hz = rng.uniform(1200, 3200)
                jitter = 1 + 0.01 * dsp.lowpass(rng.standard_normal(n), sr, 30) * 10
                squeal = dsp.harmonic_series(2 * np.pi * np.cumsum(sq_hz * jitter) / sr,
                                             [1.0, 0.5, 0.3], rng)
                env = velocity * (0.6 + 0.4 * np.abs(dsp.lowpass(rng.standard_normal(n), sr, 40)) * 3)
                f = dsp.normalise(squeal * env) * _gate(n, sr, fault) * ref
            # speed_drift is structural: handled by the speed profile
        return x, f


class Valve(MachineModel):
    machine_type = "valve"
    id_spread = 0.08
    fault_kinds = ("missing_click", "extra_click", "leak", "contamination")
    fault_gain = 0.6

    def build(self, rng):
        return dict(period=rng.uniform(0.5, 1.2), open_frac=rng.uniform(0.25, 0.6),
                    click_freqs=list(rng.uniform(1000, 6000, 3)),
                    click_decays=list(rng.uniform(0.003, 0.015, 3)),
                    thump_hz=rng.uniform(90, 300), close_ratio=rng.uniform(0.5, 1.2),
                    flow_lo=rng.uniform(1500, 3000), flow_hi=rng.uniform(4000, 7000),
                    flow_level=rng.uniform(0.03, 0.1))

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault, ripple_depth=0.0)
        mt = dsp.machine_time(rate, sr)
        offset = rng.uniform(0, p["period"])
        opens = np.arange(-offset, mt[-1] + p["period"], p["period"])
        closes = opens + p["open_frac"] * p["period"]
        times = np.concatenate([opens, closes])
        amps = np.concatenate([np.ones(len(opens)), np.full(len(closes), p["close_ratio"])])
        keep = times > 0
        times, amps = times[keep], amps[keep] * rng.uniform(0.85, 1.0, keep.sum())
        freqs, decays = np.array(p["click_freqs"]), np.array(p["click_decays"])
        if fault is not None:
            inside = (times >= fault.onset) & (times < fault.offset)
            if fault.kind == "missing_click" and inside.any():
                # the plunger sticks: clicks in the span fail with probability ~ severity,
                # at least one always does
                drop = inside & (rng.uniform(size=len(times)) < 0.4 + 0.6 * fault.severity)
                drop[rng.choice(np.flatnonzero(inside))] = True
                times, amps = times[~drop], amps[~drop]
            elif fault.kind == "extra_click" and inside.any():
                # chatter: a bounce 15-40 ms after clicks in the span
                extra_t = times[inside] + rng.uniform(0.015, 0.04, inside.sum())
                times = np.concatenate([times, extra_t])
                amps = np.concatenate([amps, amps[inside] * (0.3 + 0.6 * fault.severity)])
        # contamination makes the clicks in the span dull: lower, shorter modes
        dull = np.zeros(len(times), bool)
        if fault is not None and fault.kind == "contamination":
            dull = (times >= fault.onset) & (times < fault.offset)
        healthy = dsp.event_impulses(mt, times[~dull], amps[~dull])
        click = dsp.resonate(healthy, sr, freqs, decays, [1.0, 0.7, 0.5])
        thump = dsp.resonate(healthy, sr, [p["thump_hz"]], [0.02], [0.6])
        if dull.any():
            sev = fault.severity
            d_exc = dsp.event_impulses(mt, times[dull], amps[dull])
            click = click + dsp.resonate(d_exc, sr, freqs * (1 - 0.35 * sev), decays * (1 - 0.6 * sev),
                                         [1.0, 0.7, 0.5])
            thump = thump + dsp.resonate(d_exc, sr, [p["thump_hz"]], [0.02], [0.6 * (1 + sev)])
        # flow hiss while the valve is open
        phase = np.mod(mt + offset, p["period"])
        is_open = phase < p["open_frac"] * p["period"]
        flow = dsp.band_noise(n, sr, p["flow_lo"], p["flow_hi"], rng)
        peak = np.max(np.abs(click + thump)) + 1e-9
        x = (click + thump) / peak * 0.8 + p["flow_level"] * flow * is_open
        f = np.zeros(n)
        if fault is not None and fault.kind == "leak":
            # seat leak: hiss while closed too
            ref = self.fault_level(fault) * dsp.rms(x)
            f = _gated_noise(n, sr, rng, fault, p["flow_lo"] * 0.8, p["flow_hi"], ref * 0.6) * ~is_open
        return x, f


class ToyCar(MachineModel):
    machine_type = "ToyCar"
    id_spread = 0.05
    fault_kinds = ("bearing", "gear_damage", "shaft_wobble", "speed_drift")
    fault_gain = 0.4
    fault_gains = {"bearing": 0.12, "gear_damage": 0.25}

    def build(self, rng):
        return dict(f_motor=rng.uniform(150, 320), motor_amps=list(rng.uniform(0.1, 1.0, 8)),
                    ripple_hz=rng.uniform(2, 6), ripple_depth=rng.uniform(0.01, 0.03),
                    pinion_teeth=int(rng.integers(8, 13)), gear_ratio=rng.uniform(10, 20),
                    mesh_level=rng.uniform(0.2, 0.6), brush_level=rng.uniform(0.1, 0.3),
                    roll_cutoff=rng.uniform(600, 1500))

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault, p["ripple_hz"], p["ripple_depth"], drift_max=0.05)
        mt = dsp.machine_time(rate, sr)
        rot = 2 * np.pi * p["f_motor"] * mt
        whine = dsp.harmonic_series(rot, p["motor_amps"], rng)
        mesh = dsp.harmonic_series(p["pinion_teeth"] * rot, [1.0, 0.4], rng)
        brush = dsp.band_noise(n, sr, 3000, 7500, rng) * (1 + 0.5 * np.cos(2 * rot))
        roll = dsp.lowpass(dsp.coloured_noise(n, rng, -3), sr, p["roll_cutoff"])
        x = dsp.normalise(whine) + p["mesh_level"] * dsp.normalise(mesh) + \
            p["brush_level"] * brush + 0.4 * dsp.normalise(roll)
        f = np.zeros(n)
        if fault is not None:
            ref = self.fault_level(fault) * dsp.rms(x)
            gear_rot = rot / p["gear_ratio"]
            if fault.kind == "bearing":
                f = _bearing_ticks(n, sr, rng, mt, fault, p["f_motor"] * rng.uniform(0.35, 0.45), ref)
            elif fault.kind == "gear_damage":
                # a broken tooth: an impact once per gear turn and sidebands on the mesh tone
                times = np.arange(rng.uniform(0, 1), mt[-1] * p["f_motor"] / p["gear_ratio"], 1.0)
                exc = dsp.event_impulses(mt, times * p["gear_ratio"] / p["f_motor"], 1.0)
                hit = dsp.resonate(exc, sr, [p["f_motor"] * p["pinion_teeth"], 2500], [0.01, 0.003], [1.0, 0.7])
                side = mesh * np.cos(gear_rot)
                f = (dsp.normalise(hit) + 0.5 * dsp.normalise(side)) * _gate(n, sr, fault) * ref
            elif fault.kind == "shaft_wobble":
                f = x * 0.6 * fault.severity * np.cos(gear_rot * 2) * _gate(n, sr, fault) + \
                    ref * np.sin(rot / 2) * _gate(n, sr, fault)
        return x, f


class ToyConveyor(MachineModel):
    """Its units differ by about 1 % (the others' by 5-8 %): the confusable type."""

    machine_type = "ToyConveyor"
    id_spread = 0.01
    level_spread_db = 0.3
    fault_kinds = ("belt_damage", "roller_bearing", "rubbing", "speed_drift")
    fault_gain = 0.5
    fault_gains = {"belt_damage": 0.5, "roller_bearing": 0.05, "rubbing": 0.2}

    def build(self, rng):
        return dict(f_motor=rng.uniform(45, 60), roller_hz=list(rng.uniform(9, 16, 3)),
                    roller_order=int(rng.integers(18, 30)), belt_period=rng.uniform(0.6, 1.0),
                    slap_freqs=list(rng.uniform(300, 1500, 2)), belt_cutoff=rng.uniform(900, 2000),
                    hum_amps=list(rng.uniform(0.2, 1.0, 5)), slap_level=0.75)

    def render(self, p, rng, n, sr, fault):
        rate = _speed_profile(n, sr, rng, p, fault, drift_max=0.08)
        mt = dsp.machine_time(rate, sr)
        hum = dsp.harmonic_series(2 * np.pi * p["f_motor"] * mt, p["hum_amps"], rng)
        rollers = sum(dsp.harmonic_series(2 * np.pi * hz * p["roller_order"] * mt, [1.0, 0.3], rng)
                      for hz in p["roller_hz"])
        offset = rng.uniform(0, p["belt_period"])
        belt_phase = 2 * np.pi * (mt + offset) / p["belt_period"]
        belt = dsp.lowpass(dsp.coloured_noise(n, rng, -2), sr, p["belt_cutoff"]) * (1 + 0.3 * np.cos(belt_phase))
        joints = np.arange(p["belt_period"] - offset, mt[-1], p["belt_period"])
        exc = dsp.event_impulses(mt, joints, 1.0)
        slap = dsp.resonate(exc, sr, p["slap_freqs"], [0.015, 0.01], [1.0, 0.6])
        slap = slap / (np.max(np.abs(slap)) + 1e-9) if exc.any() else slap
        x = dsp.normalise(hum) + 0.6 * dsp.normalise(rollers) + dsp.normalise(belt) + p["slap_level"] * slap
        f = np.zeros(n)
        if fault is not None:
            ref = self.fault_level(fault) * dsp.rms(x)
            if fault.kind == "belt_damage":
                # a torn belt: a sharper slap at a second point of the belt, every turn
                torn = np.arange(rng.uniform(0, p["belt_period"]), mt[-1], p["belt_period"] / 2)
                exc = dsp.event_impulses(mt, torn, rng.uniform(0.7, 1.0, len(torn)))
                hit = dsp.resonate(exc, sr, [rng.uniform(1500, 3500), p["slap_freqs"][0]], [0.004, 0.01], [1.0, 0.6])
                f = dsp.normalise(hit) * _gate(n, sr, fault) * ref if exc.any() else f
            elif fault.kind == "roller_bearing":
                f = _bearing_ticks(n, sr, rng, mt, fault, p["roller_hz"][0] * rng.uniform(3.0, 5.0), ref)
            elif fault.kind == "rubbing":
                env = np.maximum(0, np.cos(belt_phase * 3)) ** 2
                f = _gated_noise(n, sr, rng, fault, 1000, 4500, ref, env)
        return x, f


MACHINES: dict[str, MachineModel] = {m.machine_type: m for m in
                                      (Fan(), Pump(), Slider(), Valve(), ToyCar(), ToyConveyor())}
