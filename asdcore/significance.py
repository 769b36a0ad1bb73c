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
    roots = [str(p.resolve()) for p in run.data_roots()]
    key = [f"{roots[int(i)]}/{p}" for i, p in zip(clips["root_index"], clips["path"])]
    return pd.DataFrame({"key": key, "machine_type": clips["machine_type"], "machine_id": clips["machine_id"],
                         "label": clips["label"].astype(int), "score": clips[column].astype(float)})


def shared_clips(run_a: Run, run_b: Run, backend: str = DEFAULT_BACKEND) -> pd.DataFrame:
    """The labelled test clips both runs scored (the same file): machine_type, machine_id, label,
    score_a, score_b.  Raises ValueError when they share none (runs on other data)."""
    a, b = _keyed_scores(run_a, backend), _keyed_scores(run_b, backend)
    both = a.merge(b[["key", "score"]], on="key", suffixes=("_a", "_b"))
    both = both[np.isfinite(both["score_a"]) & np.isfinite(both["score_b"])]
    if both.empty:
        raise ValueError(f"{run_a.id} and {run_b.id} share no scored test clip: were they evaluated on the same data?")
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

    def within_noise(self) -> bool:
        """Whether the average difference's 95 % CI includes 0."""
        return self.average["ci_low"] <= 0 <= self.average["ci_high"]


def _interval(difference: float, variance: float) -> dict:
    se = math.sqrt(max(variance, 0.0))
    p = float(2 * norm.sf(abs(difference) / se)) if se > 0 else (1.0 if difference == 0 else 0.0)
    return {"difference": difference, "se": se, "ci_low": difference - Z95 * se, "ci_high": difference + Z95 * se,
            "p_value": p}


def paired_comparison(run_a: Run, run_b: Run, backend: str = DEFAULT_BACKEND) -> PairedComparison:
    clips = shared_clips(run_a, run_b, backend)
    rows = []
    for (machine_type, machine_id), group in clips.groupby(["machine_type", "machine_id"], sort=False):
        if group["label"].nunique() < 2:
            continue  # an ID without anomalies (or normals) has no AUC
        test = paired_auc_test(group["label"], group["score_a"], group["score_b"])
        rows.append({"machine_type": machine_type, "machine_id": machine_id, "auc_a": test.auc_a,
                     "auc_b": test.auc_b, **_interval(test.difference, test.variance),
                     "n_anomalous": test.n_anomalous, "n_normal": test.n_normal})
    if not rows:
        raise ValueError(f"{run_a.id} and {run_b.id}: no machine ID has both normal and anomalous shared clips")
    per_id = pd.DataFrame(rows)
    order = {t: i for i, t in enumerate(machine_type_order(per_id["machine_type"].unique()))}
    per_id = per_id.sort_values(["machine_type", "machine_id"], key=lambda s: s.map(order) if s.name == "machine_type"
                                else s).reset_index(drop=True)
    types = []
    for machine_type, group in per_id.groupby("machine_type", sort=False):
        k = len(group)
        types.append({"machine_type": machine_type, "n_ids": k, "auc_a": group["auc_a"].mean(),
                      "auc_b": group["auc_b"].mean(),
                      # the mean of independent per-ID differences: Var = sum Var_i / k^2
                      **_interval(group["difference"].mean(), float((group["se"] ** 2).sum()) / k ** 2)})
    per_type = pd.DataFrame(types)
    t = len(per_type)
    average = {"auc_a": per_type["auc_a"].mean(), "auc_b": per_type["auc_b"].mean(), "n_types": t,
               **_interval(per_type["difference"].mean(), float((per_type["se"] ** 2).sum()) / t ** 2)}
    return PairedComparison(run_a.id, run_b.id, backend, len(clips), per_id, per_type, average)


def _line(name: str, row, width: int) -> str:
    verdict = "within noise" if row["ci_low"] <= 0 <= row["ci_high"] else "differs (CI excludes 0)"
    return (f"{name:<{width}s} {100 * row['auc_a']:6.2f} {100 * row['auc_b']:6.2f} {100 * row['difference']:+7.2f} "
            f"[{100 * row['ci_low']:+6.2f}, {100 * row['ci_high']:+6.2f}] {row['p_value']:8.2g}  {verdict}")


def format_comparison(comparison: PairedComparison, per_id: bool = False) -> str:
    """The comparison as text: AUCs and differences in %, a - b, DCASE protocol."""
    rows = [(f"{r['machine_type']} {r['machine_id']}", r) for _, r in comparison.per_id.iterrows()] if per_id else []
    rows += [(f"{r['machine_type']} ({r['n_ids']} IDs)", r) for _, r in comparison.per_type.iterrows()]
    rows.append((f"average ({comparison.average['n_types']} types)", comparison.average))
    width = max(len(name) for name, _ in rows)
    head = (f"A = {comparison.run_a}\nB = {comparison.run_b}\n"
            f"back-end: {comparison.backend}; {comparison.n_clips} shared test clips; AUC in %, DCASE protocol; "
            "DeLong's paired test per machine ID, IDs and types as independent\n\n"
            f"{'':<{width}s} {'AUC A':>6s} {'AUC B':>6s} {'A - B':>7s} {'95 % CI':>16s} {'p':>8s}")
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
