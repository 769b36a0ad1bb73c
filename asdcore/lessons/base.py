"""What a lesson is made of, and the runs it reads.

A lesson is text plus functions of a `Context` (the bundled runs and the default data set): its
figures, its computed answer and its conclusion are drawn when it renders, so no number is ever
typed into its text.  The app's Lessons page and the notebooks under notebooks/lessons/ both call
these functions: one source for each lesson.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

from ..paths import bundled_runs_root, default_data_root
from ..runs import Run, resolve_root

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 % intervals


@dataclass(frozen=True)
class Link:
    """A "try it" link: an app page (its url path, e.g. "angles") with its URL state set."""
    text: str
    page: str
    query: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The page's address relative to the app's root (what a Streamlit markdown link takes)."""
        # "./" is Home (the root): a bare "?type=..." would resolve against the current page instead
        return (self.page or ".") + ("/" if not self.page else "") \
            + ("?" + urlencode(self.query, safe=",/") if self.query else "")


@dataclass(frozen=True)
class RunButton:
    """A "try it" button: queue a training run (asdcore.jobs.launcher.start_training) with these
    settings on the bundled runs' data set, so the new run can be compared with them clip by clip."""
    text: str
    recipe: str
    preset: str
    overrides: dict = field(default_factory=dict)
    minutes: str = ""  # how long it takes on 2 cores, as measured (shown beside the button)


@dataclass
class Answer:
    """The computed answer to a lesson's question: markdown for people, numbers for tests."""
    text: str
    values: dict


@dataclass
class Lesson:
    number: int
    slug: str  # the notebook's name: notebooks/lessons/NN-slug.ipynb; the page's ?lesson=NN
    title: str
    goal: str  # one sentence
    look: str  # what to look at in the figures (markdown)
    question: str
    figures: Callable[["Context"], list]  # plotly figures (or PIL images), drawn live from the runs
    answer: Callable[["Context"], Answer]
    conclude: Callable[["Context", Answer], str]  # what to conclude, with its uncertainty
    try_it: list = field(default_factory=list)  # Link and RunButton
    runs: tuple = ()  # the bundled runs it reads
    try_it_live: Callable[["Context"], list] | None = None  # links found when it renders (e.g. a clip)

    def links(self, context: "Context") -> list:
        """Its "try it" steps: the fixed ones, then those computed from the runs."""
        return list(self.try_it) + (self.try_it_live(context) if self.try_it_live else [])

    @property
    def name(self) -> str:
        return f"{self.number:02d}-{self.slug}"


# The data set the bundled runs were trained and evaluated on (`make data`): the lessons about them
# read its clips and fault metadata, whatever data set the app is pointed at.
BUNDLED_DATA = "data/toy"


class Context:
    """The bundled runs (checkpoints/, read-only), the data set they were evaluated on (data_root) and
    the data set in use (user_data_root: ASD_DATA, else the default).  User runs are never used: a
    lesson's answer must not change because someone trained a tiny run."""

    def __init__(self, bundled: str | Path | None = None, data_root: str | Path | None = None,
                 user_data_root: str | Path | None = None):
        self.bundled = Path(bundled) if bundled is not None else bundled_runs_root()
        self.data_root = Path(data_root) if data_root is not None else resolve_root(BUNDLED_DATA)
        self.user_data_root = Path(user_data_root) if user_data_root is not None else default_data_root()
        self._runs: dict[str, Run] = {}
        self._cache: dict = {}

    def run(self, run_id: str) -> Run:
        if run_id not in self._runs:
            path = self.bundled / run_id
            if not (path / "eval").is_dir():
                raise FileNotFoundError(f"the lessons read the bundled run {run_id}, and {path} has no "
                                        "evaluation (is the checkout complete? `git status checkpoints/`)")
            self._runs[run_id] = Run(path)
        return self._runs[run_id]

    def cached(self, key, make):
        """make() once per context: the page and the notebook ask for the same table several times."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def missing_runs(lesson: Lesson, context: Context) -> list[str]:
    """The bundled runs a lesson needs that this checkout lacks (their evaluation)."""
    return [r for r in lesson.runs if not (context.bundled / r / "eval").is_dir()]


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % score interval of a proportion: better than p ± 1.96 se near 0 and 1 and for
    small n.  p̂ = k/n; centre (p̂ + z²/2n) / (1 + z²/n), half-width z √(p̂(1-p̂)/n + z²/4n²) / (1 + z²/n)."""
    if n == 0:
        return float("nan"), float("nan")
    p, z2 = successes / n, Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bounds(interval) -> tuple[float, float]:
    """(low, high) of an interval given as a mapping with "low" and "high" (metrics.json, a table row)."""
    return float(interval["low"]), float(interval["high"])


def pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f} %"


def interval_pct(low: float, high: float, digits: int = 1) -> str:
    return f"[{100 * low:.{digits}f}, {100 * high:.{digits}f}]"
