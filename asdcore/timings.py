"""Where a run's time goes: <run>/timings.json (the layout is in asdcore/runs.py).

    timings = Timings()              the clock starts at the process's start (Linux), else now
    with timings.phase("eval.umap"):  ...   seconds added to the phase (phases must not overlap)
    lap = timings.stopwatch(); ...; lap("eval.setup")   the same, for code that runs phase after phase
    timings.add("train.steps", s)    the same, for a figure measured elsewhere
    timings.write(run_dir)           timings.json: the phases, the rest ("other"), the wall time

Two perf_counter calls per phase: the record costs nothing measurable.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from .runs import write_json_atomic

TIMINGS = "timings.json"


def process_started() -> float | None:
    """Unix time at which this process started (from /proc: the interpreter's start and the imports
    count), or None where there is no /proc."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + since_boot
    except (OSError, ValueError, IndexError):
        return None


class Timings:
    """Seconds per named phase of one process's work on a run, in the order first met, and one row
    per epoch.  `started`: the process's start, so `wall_seconds` is the process's whole time so far."""

    def __init__(self, started: float | None = None):
        self.started = started if started is not None else (process_started() or time.time())
        self.phases: dict[str, float] = {}
        self.epochs: list[dict] = []

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + max(0.0, seconds)

    @contextlib.contextmanager
    def phase(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t)

    def stopwatch(self):
        """For code that runs phase after phase: lap = timings.stopwatch(), then lap(name) after each
        phase adds to `name` the seconds since the previous lap, less those that phases timed inside
        it (with phase()) got meanwhile."""
        last = [time.perf_counter(), sum(self.phases.values())]

        def lap(name: str) -> None:
            now = time.perf_counter()
            self.add(name, now - last[0] - (sum(self.phases.values()) - last[1]))
            last[:] = [now, sum(self.phases.values())]
        return lap

    def to_dict(self) -> dict:
        wall = time.time() - self.started
        phases = {name: round(s, 3) for name, s in self.phases.items()}
        return {"wall_seconds": round(wall, 2), "phases": phases,
                "other": round(max(0.0, wall - sum(self.phases.values())), 3), "epochs": self.epochs}

    def write(self, run_dir: str | os.PathLike) -> None:
        write_json_atomic(Path(run_dir) / TIMINGS, self.to_dict())
