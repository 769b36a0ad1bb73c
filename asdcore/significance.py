"""Is a difference between two runs real, or within the noise of the test clips?

    comparison = paired_comparison(run_a, run_b, backend="default")
    comparison.per_id     per machine ID: each run's AUC, the difference a - b, its 95 % CI and the
                          two-sided p-value of DeLong's paired test (asdcore.evaluation.delong)
    comparison.per_type   per machine type: the mean of its IDs' differences, with the variance
                          summed over the IDs as independent: Var = sum_i Var_i / k^2
    comparison.average    the mean over types of the type differences (as the DCASE average AUC is
                          the mean over types of the mean over IDs), Var = sum_t Var_t / T^2
    format_comparison(comparison, per_id=False)   the text `python -m asdcore compare` prints

Both runs are scored on the test clips they share (the same files of the same data roots), by each
run's own default back-end unless `backend` names one.  The DCASE protocol: per machine ID, the ID's
normals against its anomalies.  What this leaves out: the spread over training seeds (another
seed gives another network; see seed_spread), and any dependence between machine IDs.
No Streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from .evaluation.delong import Z95, paired_auc_test
from .evaluation.metrics import machine_type_order
from .runs import Run

DEFAULT_BACKEND = "default"


def score_column(run: Run, backend: str) -> str:
    """The clips.parquet column holding `backend`'s scores ("score": the run's own default)."""
    return "score" if backend == DEFAULT_BACKEND else f"score_{backend}"


def _keyed_scores(run: Run, backend: str) -> pd.DataFrame:
    clips = run.clips()
    column = score_column(run, backend)
    if column not in clips.columns:
        raise ValueError(f"{run.id} has no scores of back-end {backend!r} (it has: "
                         + ", ".join(c.removeprefix("score_") for c in clips.columns if c.startswith("score_")) + ")")
    return _keyed(run, clips, column)


def _keyed(run: Run, clips: pd.DataFrame, column: str) -> pd.DataFrame:
    """key (the clip's file: data root and path), machine_type, machine_id, label and `column` as
    "score", for some rows of the run's clips table."""
    roots = [str(p.resolve()) for p in run.data_roots()]
    key = [f"{roots[int(i)]}/{p}" for i, p in zip(clips["root_index"], clips["path"])]
    return pd.DataFrame({"key": key, "machine_type": clips["machine_type"].to_numpy(),
                         "machine_id": clips["machine_id"].to_numpy(), "label": clips["label"].astype(int).to_numpy(),
                         "score": clips[column].astype(float).to_numpy()})


def paired_angle_auc(run_a: Run, clips_a: pd.DataFrame, run_b: Run, clips_b: pd.DataFrame,
                     angle: str = "angle_to_centre_deg") -> dict | None:
    """DeLong's paired test of the Angles page's angle AUC (the angle to the own centre as the score,
    all the clips given pooled, as the page pools them) of two runs, on the clips both have:
    {auc_a, auc_b, difference, se, ci_low, ci_high, p_value, n_clips}.  Paired, because both runs
    judge the same clips: far narrower than two independent intervals side by side.  None when they
    share no clip with an angle, or the shared clips lack a label."""
    if angle not in clips_a.columns or angle not in clips_b.columns:
        return None
    try:
        both = _pair_scores(_keyed(run_a, clips_a, angle), _keyed(run_b, clips_b, angle), run_a.id, run_b.id)
    except ValueError:
        return None
    if both["label"].nunique() < 2:
        return None
    test = paired_auc_test(both["label"], both["score_a"], both["score_b"])
    return {"auc_a": test.auc_a, "auc_b": test.auc_b, **_interval(test.difference, test.variance),
            "n_clips": len(both)}


def shared_clips(run_a: Run, run_b: Run, backend: str = DEFAULT_BACKEND) -> pd.DataFrame:
    """The labelled test clips both runs scored (the same file): machine_type, machine_id, label,
    score_a, score_b.  Raises ValueError when they share none (runs on other data)."""
    return _pair_scores(_keyed_scores(run_a, backend), _keyed_scores(run_b, backend), run_a.id, run_b.id)


def _pair_scores(a: pd.DataFrame, b: pd.DataFrame, id_a: str, id_b: str) -> pd.DataFrame:
    both = a.merge(b[["key", "score"]], on="key", suffixes=("_a", "_b"))
    both = both[np.isfinite(both["score_a"]) & np.isfinite(both["score_b"])]
    if both.empty:
        raise ValueError(f"{id_a} and {id_b} share no scored test clip: were they evaluated on the same data?")
    return both.drop(columns="key").reset_index(drop=True)


@dataclass
class PairedComparison:
    run_a: str
    run_b: str
    backend: str
    n_clips: int  # shared labelled test clips
    per_id: pd.DataFrame  # machine_type, machine_id, auc_a, auc_b, difference, se, ci_low, ci_high, p_value
    per_type: pd.DataFrame  # machine_type, n_ids, auc_a, auc_b, difference, se, ci_low, ci_high, p_value
    average: dict  # auc_a, auc_b, difference, se, ci_low, ci_high, p_value, n_types
    protocol: str = "dcase"

    def within_noise(self, machine_type: str | None = None) -> bool:
        """Whether the 95 % CI of the average difference (or of one machine type's) includes 0."""
        row = self.average if machine_type is None else \
            self.per_type.set_index("machine_type").loc[machine_type]
        return bool(row["ci_low"] <= 0 <= row["ci_high"])


def _interval(difference: float, variance: float) -> dict:
    se = math.sqrt(max(variance, 0.0))
    p = float(2 * norm.sf(abs(difference) / se)) if se > 0 else (1.0 if difference == 0 else 0.0)
    return {"difference": difference, "se": se, "ci_low": difference - Z95 * se, "ci_high": difference + Z95 * se,
            "p_value": p}


def _tests(clips: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """DeLong's paired test within each group of `by` that has both labels."""
    rows = []
    for key, group in clips.groupby(by, sort=False):
        if group["label"].nunique() < 2:
            continue  # a group without anomalies (or normals) has no AUC
        test = paired_auc_test(group["label"], group["score_a"], group["score_b"])
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "auc_a": test.auc_a,
                     "auc_b": test.auc_b, **_interval(test.difference, test.variance),
                     "n_anomalous": test.n_anomalous, "n_normal": test.n_normal})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {t: i for i, t in enumerate(machine_type_order(table["machine_type"].unique()))}
    return table.sort_values(by, key=lambda s: s.map(order) if s.name == "machine_type" else s).reset_index(drop=True)


def compare_scores(clips: pd.DataFrame, id_a: str, id_b: str, backend: str = DEFAULT_BACKEND,
                   protocol: str = "dcase") -> PairedComparison:
    """The comparison of shared_clips' scores.  protocol "dcase": per machine ID, then per type the
    mean of its IDs' differences; "pooled": one test per machine type over its clips pooled."""
    if protocol == "pooled":
        per_id = pd.DataFrame()
        per_type = _tests(clips, ["machine_type"]).assign(n_ids=lambda t: [
            clips.loc[clips["machine_type"] == m, "machine_id"].nunique() for m in t["machine_type"]])
    else:
        per_id = _tests(clips, ["machine_type", "machine_id"])
        if per_id.empty:
            per_type = per_id
        else:
            types = []
            for machine_type, group in per_id.groupby("machine_type", sort=False):
                k = len(group)
                types.append({"machine_type": machine_type, "n_ids": k, "auc_a": group["auc_a"].mean(),
                              "auc_b": group["auc_b"].mean(),
                              # the mean of independent per-ID differences: Var = sum Var_i / k^2
                              **_interval(group["difference"].mean(), float((group["se"] ** 2).sum()) / k ** 2)})
            per_type = pd.DataFrame(types)
    if per_type.empty:
        raise ValueError(f"{id_a} and {id_b}: no machine ID has both normal and anomalous shared clips")
    t = len(per_type)
    average = {"auc_a": per_type["auc_a"].mean(), "auc_b": per_type["auc_b"].mean(), "n_types": t,
               **_interval(per_type["difference"].mean(), float((per_type["se"] ** 2).sum()) / t ** 2)}
    return PairedComparison(id_a, id_b, backend, len(clips), per_id, per_type, average, protocol)


def paired_comparison(run_a: Run, run_b: Run, backend: str = DEFAULT_BACKEND,
                      protocol: str = "dcase") -> PairedComparison:
    return compare_scores(shared_clips(run_a, run_b, backend), run_a.id, run_b.id, backend, protocol)


class PairwiseComparer:
    """Paired comparisons among several runs, each run's scores read once, each pair tested once
    (what Compare needs to tell, column by column, which neighbours lie within the noise).
    comparer(id_a, id_b) is the PairedComparison, or None where the two share no test clip."""

    def __init__(self, runs, backend: str = DEFAULT_BACKEND, protocol: str = "dcase"):
        self.runs = {run.id: run for run in runs}
        self.backend, self.protocol = backend, protocol
        self._scores: dict[str, pd.DataFrame | None] = {}
        self._pairs: dict[tuple[str, str], PairedComparison | None] = {}

    def _scores_of(self, run_id: str) -> pd.DataFrame | None:
        if run_id not in self._scores:
            try:
                self._scores[run_id] = _keyed_scores(self.runs[run_id], self.backend)
            except (ValueError, OSError, KeyError):
                self._scores[run_id] = None  # no such back-end, or no clips table: not tested
        return self._scores[run_id]

    def __call__(self, id_a: str, id_b: str) -> PairedComparison | None:
        if (id_b, id_a) in self._pairs:  # the same test, seen from the other side
            flipped = self._pairs[(id_b, id_a)]
            return None if flipped is None else _flip(flipped)
        if (id_a, id_b) not in self._pairs:
            a, b = self._scores_of(id_a), self._scores_of(id_b)
            try:
                self._pairs[(id_a, id_b)] = None if a is None or b is None else compare_scores(
                    _pair_scores(a, b, id_a, id_b), id_a, id_b, self.backend, self.protocol)
            except ValueError:
                self._pairs[(id_a, id_b)] = None
        return self._pairs[(id_a, id_b)]


def _flip(c: PairedComparison) -> PairedComparison:
    """b against a: AUCs swapped, differences and intervals negated."""
    def flip(frame):
        if frame.empty:
            return frame
        out = frame.rename(columns={"auc_a": "auc_b", "auc_b": "auc_a"})
        out["difference"] = -frame["difference"]
        out["ci_low"], out["ci_high"] = -frame["ci_high"], -frame["ci_low"]
        return out

    average = dict(c.average, auc_a=c.average["auc_b"], auc_b=c.average["auc_a"], difference=-c.average["difference"],
                   ci_low=-c.average["ci_high"], ci_high=-c.average["ci_low"])
    return PairedComparison(c.run_b, c.run_a, c.backend, c.n_clips, flip(c.per_id), flip(c.per_type), average,
                            c.protocol)


def _line(name: str, row, width: int) -> str:
    verdict = "within noise" if row["ci_low"] <= 0 <= row["ci_high"] else "differs (CI excludes 0)"
    return (f"{name:<{width}s} {100 * row['auc_a']:6.2f} {100 * row['auc_b']:6.2f} {100 * row['difference']:+7.2f} "
            f"[{100 * row['ci_low']:+6.2f}, {100 * row['ci_high']:+6.2f}] {row['p_value']:8.2g}  {verdict}")


def format_comparison(comparison: PairedComparison, per_id: bool = False) -> str:
    """The comparison as text: AUCs and differences in %, a - b."""
    per_id = per_id and not comparison.per_id.empty  # the pooled protocol tests whole types
    rows = [(f"{r['machine_type']} {r['machine_id']}", r) for _, r in comparison.per_id.iterrows()] if per_id else []
    rows += [(f"{r['machine_type']} ({r['n_ids']} IDs)", r) for _, r in comparison.per_type.iterrows()]
    rows.append((f"average ({comparison.average['n_types']} types)", comparison.average))
    width = max(len(name) for name, _ in rows)
    head = (f"A = {comparison.run_a}\nB = {comparison.run_b}\n"
            f"back-end: {comparison.backend}; {comparison.n_clips} shared test clips; AUC in %, "
            + ("DCASE protocol; DeLong's paired test per machine ID, IDs and types as independent\n\n"
               if comparison.protocol == "dcase" else
               "pooled protocol; DeLong's paired test per machine type, types as independent\n\n")
            + f"{'':<{width}s} {'AUC A':>6s} {'AUC B':>6s} {'A - B':>7s} {'95 % CI':>16s} {'p':>8s}")
    lines = [head]
    for i, (name, row) in enumerate(rows):
        if per_id and i == len(comparison.per_id):
            lines.append("")
        lines.append(_line(name, row, width))
    if per_id:
        n = len(comparison.per_id)
        lines.append(f"\nOf {n} machine IDs, about {n / 20:.1f} would fall outside their 95 % interval by chance "
                     "alone, were the runs equally good.")
    lines.append("\nThe intervals count the test clips only, not the spread over training seeds: a difference within "
                 "the noise here says the test clips cannot tell the runs apart; one outside it may still vanish "
                 "with another seed.")
    return "\n".join(lines)


# --- the spread over training seeds ------------------------------------------------------------

SEEDS_FILE = "seeds.json"  # beside the bundled runs: scripts/make_checkpoints.py writes it


def seed_spread(recipes=None, seeds_path=None) -> pd.DataFrame:
    """Mean and standard deviation over training seeds of each recipe's AUC per machine type and on
    average (DCASE protocol, the recipe's default back-end, in %), from checkpoints/seeds.json: the
    bundled recipes trained again with other seeds (other initial weights, batches, mixup and
    validation split; same data).  One row per recipe with seeds (those in `recipes` when given):
    recipe, n_seeds, then (column, "mean") and (column, "sd") for each type and "Average"."""
    from .paths import bundled_runs_root
    from .runs import read_json

    seeds = read_json(seeds_path or bundled_runs_root() / SEEDS_FILE, {}) or {}
    rows = []
    for recipe, by_seed in seeds.items():
        if recipes is not None and recipe not in recipes:
            continue
        runs = list(by_seed.values())
        if len(runs) < 2:
            continue
        types = machine_type_order({t for r in runs for t in r.get("per_type", {})})
        row = {("recipe", ""): recipe, ("seeds", ""): len(runs)}
        for name, values in [(t, [r["per_type"][t]["auc"] for r in runs if t in r.get("per_type", {})]) for t in types] \
                + [("Average", [r["average"]["auc"] for r in runs])]:
            row[(name, "mean")] = 100 * float(np.mean(values))
            row[(name, "sd")] = 100 * float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame()


def seed_spread_display(spread: pd.DataFrame) -> pd.DataFrame:
    """seed_spread as text for a table: "mean ± sd" per column, one row per recipe (by its label)."""
    from .recipes import RECIPES

    if spread.empty:
        return spread
    names = [c for c, part in spread.columns if part == "mean"]
    out = pd.DataFrame({name: [f"{m:.1f} ± {s:.1f}" for m, s in zip(spread[(name, "mean")], spread[(name, "sd")])]
                        for name in names})
    out.index = [RECIPES[r].config.label if r in RECIPES else r for r in spread[("recipe", "")]]
    out.insert(0, "seeds", spread[("seeds", "")].to_numpy())
    return out
