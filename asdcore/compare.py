"""Results tables across runs, laid out like Table 1 of the Noisy-ArcMix paper.

Rows are methods (your runs, then the papers' published numbers as reference rows); columns are
the machine types, each with AUC and pAUC, then the averages over types: AUC, pAUC and mAUC
(the mean over types of the worst machine ID's AUC).  Numbers are percentages, as in the papers.

    table = results_table(runs, backend="default", protocol="dcase")
    table.values     the numbers (NaN where a run has no result), MultiIndex columns (group, metric)
    table.rows       per row: method, kind ("run" / "published"), run_id, recipe, preset, backend, ...
    table.ranks      1, 2, 3, ... per column among your runs (published rows are never ranked:
                     they were measured on the real DCASE 2020 data, not on the toy data)
    display_frame(table), to_csv(table), to_latex(table)

The back-end is any key of a run's metrics.json "by_backend" (softmax, cosine, gmm, knn, lof,
reconstruction), or "default": each run's own (its recipe's).  The protocol is "dcase" (per
machine ID, then averaged) or "pooled" (per machine type), see asdcore.evaluation.metrics.
No Streamlit here.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .evaluation.metrics import PROTOCOLS, machine_type_order
from .reference_results import PUBLISHED, PUBLISHED_DOMAIN_SHIFT
from .runs import data_of
from .evaluation.scoring import BACKEND_DESCRIPTIONS

AVERAGE = "Average"
TYPE_METRICS = ("AUC", "pAUC")  # under each machine type, as in Table 1
AVERAGE_METRICS = ("AUC", "pAUC", "mAUC")
DEFAULT_BACKEND = "default"  # each run's own back-end
RANK_MARKS = {1: "¹", 2: "²", 3: "³"}
MISSING = "–"  # an en dash: a bare "-" reads as a list bullet in markdown cells
PUBLISHED_LABEL = "published, real DCASE 2020 data: not comparable to toy-data runs"
ROW_COLUMNS = ("method", "kind", "run_id", "recipe", "preset", "backend", "data", "source")


@dataclass
class ResultsTable:
    values: pd.DataFrame  # percent; index = method (unique), columns (group, metric)
    rows: pd.DataFrame  # one row per method: ROW_COLUMNS (index = method)
    ranks: pd.DataFrame  # like values: rank among kind == "run" rows, NaN otherwise
    protocol: str
    backend: str
    notes: list[str] = field(default_factory=list)
    # like values: True where a run lies within the noise of the run ranked next to it (mark_within_noise)
    noise: pd.DataFrame | None = None
    # the average AUC's pairs inside a chain of neighbours within the noise that are not neighbours,
    # tested too: (upper, lower, difference, ci_low, ci_high) in AUC points (mark_within_noise)
    chain_pairs: list = field(default_factory=list)

    @property
    def best(self) -> pd.DataFrame:
        """True where a value is the best of its column among the runs (ties all count)."""
        return self.ranks == 1


# --- numbers out of metrics.json ---------------------------------------------------------------

def backend_result(metrics: dict, backend: str = DEFAULT_BACKEND, protocol: str = "dcase") -> dict | None:
    """{"per_type", "average"} of one back-end under one protocol, or None when the run has none."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not metrics:
        return None
    name = metrics.get("backend") if backend == DEFAULT_BACKEND else backend
    by_backend = metrics.get("by_backend") or {}
    if name in by_backend and protocol in by_backend[name]:
        return by_backend[name][protocol]
    # a metrics.json with only its default back-end's numbers at the top level
    if name == metrics.get("backend") and protocol == metrics.get("protocol", "dcase") and "per_type" in metrics:
        return {"per_type": metrics["per_type"], "average": metrics.get("average", {})}
    return None


def available_backends(metrics_list) -> list[str]:
    """Every back-end any of the runs has, in the order scoring.BACKEND_DESCRIPTIONS lists them."""
    found = {name for m in metrics_list for name in (m or {}).get("by_backend", {})}
    return [b for b in BACKEND_DESCRIPTIONS if b in found] + sorted(found - set(BACKEND_DESCRIPTIONS))


def _percent(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return 100.0 * value if math.isfinite(value) else math.nan


def _result_row(result: dict | None, machine_types: list[str]) -> dict:
    row = {}
    per_type = (result or {}).get("per_type", {})
    for machine_type in machine_types:
        entry = per_type.get(machine_type, {})
        row[(machine_type, "AUC")] = _percent(entry.get("auc"))
        row[(machine_type, "pAUC")] = _percent(entry.get("pauc"))
    average = (result or {}).get("average", {}) or {}
    for metric in AVERAGE_METRICS:
        row[(AVERAGE, metric)] = _percent(average.get(metric.lower()))
    return row


def columns_for(machine_types: list[str]) -> pd.MultiIndex:
    cols = [(t, m) for t in machine_types for m in TYPE_METRICS] + [(AVERAGE, m) for m in AVERAGE_METRICS]
    return pd.MultiIndex.from_tuples(cols, names=["group", "metric"])


# --- the table ---------------------------------------------------------------------------------

@dataclass
class RunEntry:
    """One run's input to the table (what results_table reads from a Run)."""
    method: str
    metrics: dict
    run_id: str = ""
    recipe: str = ""
    preset: str = ""
    data: str = ""


def mixed_data_note(datasets) -> str | None:
    """A warning when runs come from more than one data set (None when they share one)."""
    datasets = {d for d in datasets if d}
    if len(datasets) < 2:
        return None
    return ("these runs were evaluated on different data sets (" + "; ".join(sorted(datasets)) +
            "): compare numbers only between runs on the same data")


def entry_for(run) -> RunEntry:
    """A RunEntry from an asdcore.runs.Run."""
    config = run.config
    return RunEntry(method=run.label, metrics=run.eval_metrics(), run_id=run.id, recipe=run.recipe,
                    preset=str(config.get("preset") or ""), data=data_of(run))


DOMAIN_METRICS = (("auc_source", "AUC source"), ("auc_target", "AUC target"), ("pauc", "pAUC"))
DOMAIN_SCORES = (("official_score", "official score"), ("hmean_source", "h-mean source"),
                 ("hmean_target", "h-mean target"), ("arithmetic_mean", "a-mean"))


def domain_shift_table(runs, backend: str = DEFAULT_BACKEND) -> pd.DataFrame | None:
    """DCASE 2021-2023 runs (metrics.json with a "domain_shift" block), as that challenge reports
    them: the official score (harmonic mean of all the sections' source AUC, target AUC and pAUC),
    the source and target harmonic means and the arithmetic mean, then per machine type the
    harmonic means over its sections of AUC (source), AUC (target) and pAUC; percent, one row per
    run.  None when no run has one."""
    entries = [r if isinstance(r, RunEntry) else entry_for(r) for r in runs]
    rows, names = [], []
    for entry, name in zip(entries, unique_names(entries)):
        block = (entry.metrics or {}).get("domain_shift")
        if not block:
            continue
        chosen = entry.metrics.get("backend") if backend == DEFAULT_BACKEND else backend
        result = block["by_backend"].get(chosen)
        row = {}
        for r in (result or {}).get("machine_types", []):
            if r["mean"] == "harmonic":
                row.update({(r["machine_type"], label): _percent(r.get(key)) for key, label in DOMAIN_METRICS})
        row.update({("Score", label): _percent((result or {}).get(key)) for key, label in DOMAIN_SCORES})
        rows.append(row)
        names.append(name)
    if not rows:
        return None
    types = machine_type_order({t for row in rows for t, _ in row if t != "Score"})
    # the scores first: the official score is what a reader looks for, and a wide table scrolls
    columns = [("Score", label) for _, label in DOMAIN_SCORES] + [(t, label) for t in types for _, label in DOMAIN_METRICS]
    return pd.DataFrame(rows, index=pd.Index(names, name="method"),
                        columns=pd.MultiIndex.from_tuples(columns, names=["group", "metric"]))


PUBLISHED_DOMAIN_SHIFT_LABEL = ("published, real DCASE 2021-2022 development sets (10 s clips, other machines): "
                                "a yardstick, not comparable to toy-data runs")


def published_domain_shift_table() -> pd.DataFrame:
    """The domain-shift systems' published numbers, one row per method: the data set, what each
    cell holds ("AUC / pAUC" or "AUC source / target", the reports differ) and per machine type
    the two numbers as text ("-" where the report gives none)."""
    types = sorted({t for *_, cells in PUBLISHED_DOMAIN_SHIFT for t in cells if t != "all"}, key=str.lower) + ["all"]
    rows = []
    for method, data, holds, cells in PUBLISHED_DOMAIN_SHIFT:
        row = {"method": method, "data set": data, "cells": holds}
        row.update({t: f"{cells[t][0]:.2f} / {cells[t][1]:.2f}" if t in cells else "-" for t in types})
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def results_table(runs, backend: str = DEFAULT_BACKEND, protocol: str = "dcase",
                  reference: bool = True) -> ResultsTable:
    """The table for asdcore.runs.Run objects (or RunEntry objects), plus the published rows."""
    entries = [r if isinstance(r, RunEntry) else entry_for(r) for r in runs]
    return build_table(entries, backend, protocol, reference)


def build_table(entries: list[RunEntry], backend: str = DEFAULT_BACKEND, protocol: str = "dcase",
                reference: bool = True) -> ResultsTable:
    notes: list[str] = []
    results = [backend_result(e.metrics, backend, protocol) for e in entries]
    machine_types = machine_type_order({t for r in results if r for t in r.get("per_type", {})})
    columns = columns_for(machine_types)
    names = unique_names(entries)
    value_rows, meta_rows = [], []
    for name, entry, result in zip(names, entries, results):
        used = (entry.metrics or {}).get("backend") if backend == DEFAULT_BACKEND else backend
        if result is None:
            notes.append(f"{entry.run_id or name}: no results for back-end {used!r} under protocol {protocol!r}"
                         " (shown as -)")
        value_rows.append(_result_row(result, machine_types))
        meta_rows.append(dict(method=name, kind="run", run_id=entry.run_id, recipe=entry.recipe,
                              preset=entry.preset, backend=used or "", data=entry.data, source=""))
    if reference:
        for method, source, auc, pauc, mauc in PUBLISHED:
            row = {col: math.nan for col in columns}
            row.update({(AVERAGE, "AUC"): auc, (AVERAGE, "pAUC"): pauc,
                        (AVERAGE, "mAUC"): math.nan if mauc is None else mauc})
            value_rows.append(row)
            meta_rows.append(dict(method=f"{method} [published]", kind="published", run_id="", recipe="",
                                  preset="", backend="", data="DCASE 2020 development set (real)",
                                  source=source))
    index = pd.Index([m["method"] for m in meta_rows], name="method")
    values = pd.DataFrame(value_rows, index=index, columns=columns, dtype=float)
    rows = pd.DataFrame(meta_rows, columns=list(ROW_COLUMNS)).set_index(index)
    ranks = rank_values(values, rows["kind"] == "run")
    mixed = mixed_data_note(e.data for e in entries)
    if mixed:
        notes.append(mixed)
    return ResultsTable(values, rows, ranks, protocol, backend, notes)


def unique_names(entries: list[RunEntry]) -> list[str]:
    """Each run's label, with its run id where two runs share a label, and a number where even
    that repeats (a run of yours named like a bundled one): rows must be told apart."""
    counts = pd.Series([e.method for e in entries]).value_counts()
    names = [f"{e.method} · {e.run_id}" if counts.get(e.method, 0) > 1 and e.run_id else e.method for e in entries]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def rank_values(values: pd.DataFrame, ranked_rows) -> pd.DataFrame:
    """Per column, 1 for the highest value among `ranked_rows` (ties share the better rank),
    NaN for missing values and for rows outside `ranked_rows`.  Higher is better for every
    column (AUC, pAUC, mAUC)."""
    mask = np.asarray(ranked_rows, dtype=bool)
    ranks = pd.DataFrame(np.nan, index=values.index, columns=values.columns)
    if mask.any():
        ranks.loc[mask] = values.loc[mask].rank(axis=0, method="min", ascending=False).to_numpy()
    return ranks


# --- output ------------------------------------------------------------------------------------

def format_value(value: float, rank: float | None = None, marks: bool = True, missing: str = MISSING,
                 noise: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return missing
    text = f"{value:.2f}"
    if marks and noise:
        text += NOISE_MARK
    elif marks and rank is not None and math.isfinite(rank) and int(rank) in RANK_MARKS:
        text += RANK_MARKS[int(rank)]
    return text


def display_frame(table: ResultsTable) -> pd.DataFrame:
    """The numbers as text: two decimals, ¹ ² ³ after the top three of each column, ≈ after a run
    within the noise of its neighbour (mark_within_noise), - for none."""
    out = pd.DataFrame(index=table.values.index, columns=table.values.columns, dtype=object)
    noise = table.noise if table.noise is not None else pd.DataFrame(False, index=out.index, columns=out.columns)
    for col in table.values.columns:
        out[col] = [format_value(v, r, noise=bool(n)) for v, r, n in
                    zip(table.values[col], table.ranks[col], noise[col])]
    return out


# --- which differences are real ----------------------------------------------------------------

NOISE_MARK = "≈"


def mark_within_noise(table: ResultsTable, comparer) -> ResultsTable:
    """The table with its ranks kept only where the test clips can tell the runs apart.

    In each AUC column (per machine type, and the average), the runs are ordered by value and each
    is tested against the run ranked next to it above and below: DeLong's paired test on the test
    clips both scored (comparer(run_id_a, run_id_b): asdcore.significance.PairwiseComparer).  A run
    whose 95 % CI of the difference with a neighbour includes 0 is within the noise: no rank, no
    bold, marked ≈.  A pair sharing no test clips (other data) is not tested and keeps its ranks.
    pAUC and mAUC have no paired test here: they are not ranked."""
    ranks = table.ranks.copy()
    noise = pd.DataFrame(False, index=table.values.index, columns=table.values.columns)
    run_rows = table.rows[table.rows["kind"] == "run"]
    for col in table.values.columns:
        group, metric = col
        if metric != "AUC":
            ranks[col] = np.nan
            continue
        values = table.values.loc[run_rows.index, col].dropna().sort_values(ascending=False)
        for upper, lower in zip(values.index, values.index[1:]):
            comparison = comparer(run_rows.at[upper, "run_id"], run_rows.at[lower, "run_id"])
            if comparison is None:
                continue
            try:
                within = comparison.within_noise(None if group == AVERAGE else group)
            except KeyError:  # the type had no testable machine ID in common
                continue
            if within:
                noise.loc[[upper, lower], col] = True
        ranks.loc[noise[col], col] = np.nan
    marked = ResultsTable(table.values, table.rows, ranks, table.protocol, table.backend, list(table.notes), noise)
    # A ≈ B ≈ C tests A with B and B with C only, and reads as if A ≈ C: test the other pairs of each chain
    col = (AVERAGE, "AUC")
    if col in table.values.columns:
        for chain in _noise_chains(marked, col):
            for i, upper in enumerate(chain):
                for lower in chain[i + 2:]:
                    comparison = comparer(run_rows.at[upper, "run_id"], run_rows.at[lower, "run_id"])
                    if comparison is not None:
                        a = comparison.average
                        marked.chain_pairs.append((upper, lower, 100 * a["difference"], 100 * a["ci_low"],
                                                   100 * a["ci_high"]))
    return marked


# What the Noisy-ArcMix paper measured of its three margin losses on TASTgram-MFN, real DCASE 2020
# data, 300 epochs (average AUC, %; ../shared/REFERENCE.md: Tables 1 and 2)
PAPER_MARGIN_ORDER = {"noisy_arcmix": 94.65, "arcmix": 92.38, "arcface": 92.88}
LOSS_NAMES = {"noisy_arcmix": "Noisy-ArcMix", "arcmix": "ArcMix", "arcface": "ArcFace"}


def _noise_chains(table: ResultsTable, col) -> list[list[str]]:
    """Runs (row names) of `col` in value order, in chains of neighbours within the noise."""
    run_rows = table.rows.index[table.rows["kind"] == "run"]
    order = table.values.loc[run_rows, col].dropna().sort_values(ascending=False).index
    chains, current = [], []
    for upper, lower in zip(order, order[1:]):
        if table.noise.at[upper, col] and table.noise.at[lower, col]:
            current = current or [upper]
            current.append(lower)
        elif current:
            chains.append(current)
            current = []
    if current:
        chains.append(current)
    return chains


def paper_order_note(table: ResultsTable, losses: dict[str, str]) -> str | None:
    """Where the average AUC cannot tell Noisy-ArcMix from ArcMix or ArcFace (losses: row name -> the
    run's loss name), what the paper measured on the real data, so no one reads the toy's order as
    the method's."""
    col = (AVERAGE, "AUC")
    if table.noise is None or col not in table.values.columns:
        return None
    for chain in _noise_chains(table, col):
        found = {losses.get(name) for name in chain} & set(PAPER_MARGIN_ORDER)
        if "noisy_arcmix" in found and len(found) > 1:
            return ("The Noisy-ArcMix paper measured, on the real DCASE 2020 data after 300 epochs, TASTgram-MFN with "
                    + ", ".join(f"{LOSS_NAMES[name]} {PAPER_MARGIN_ORDER[name]:.2f}" for name in PAPER_MARGIN_ORDER)
                    + " average AUC. These runs (a few CPU epochs on the toy data) do not show that order: their "
                    "differences lie within the noise of the test clips.")
    return None


# Below this validation ID accuracy (held-out training normals of the evaluated epoch) a classifier
# has not learnt its machines yet: its AUC says more about its training budget than about its method
UNDERTRAINED_VAL_ACC = 0.9


def undertrained_note(runs, names: list[str] | None = None) -> str | None:
    """One line naming the chosen classifier runs whose evaluated epoch reached less than
    UNDERTRAINED_VAL_ACC validation ID accuracy, with what their method's paper published on the real
    data (None when every run learnt its classes).  Read from each run's metrics.jsonl."""
    published = {method: auc for method, _, auc, _, _ in PUBLISHED}
    names = names or [r.label for r in runs]
    parts = []
    for name, run in zip(names, runs):
        history = run.metrics_history()
        selected = run.eval_metrics().get("selected_epoch")
        row = next((h for h in history if h.get("epoch") == selected), history[-1] if history else None)
        if not row or row.get("val_acc") is None or row["val_acc"] >= UNDERTRAINED_VAL_ACC:
            continue
        part = f"{name} ({row['val_acc']:.2f} after {len(history)} epochs"
        part += f"; published {published[run.method]:.2f} AUC)" if run.method in published else ")"
        parts.append(part)
    if not parts:
        return None
    return ("Under-trained: " + "; ".join(parts) + f" tell their machine IDs apart on less than "
            f"{UNDERTRAINED_VAL_ACC:.0%} of the validation clips, so their AUC measures the training budget, not "
            "the method. The published AUCs are of the real DCASE 2020 data after 300 epochs.")


def ensemble_members_table(run) -> pd.DataFrame | None:
    """An ensemble run's members one by one beside their sum (asdcore.evaluation.ensemble): average
    AUC / pAUC in % of each member snapshot's own eqs. 2-3 scores ("both heads") and of the ensemble's
    back-ends; None for a run that is not an ensemble.  Whether summing helps is read here."""
    metrics = run.eval_metrics() or {}
    block = metrics.get("ensemble")
    if not block:
        return None
    rows = {f"{m['subclusters']} sub-cluster{'s' if m['subclusters'] > 1 else ''}, epoch {m['epoch']}":
            (m["ensemble"]["auc"], m["ensemble"]["pauc"]) for m in block["members"]}
    for name in ("ensemble", "ensemble_sections", "ensemble_choice"):
        result = backend_result(metrics, name)
        if result:
            rows[f"sum: {name}"] = (result["average"]["auc"], result["average"]["pauc"])
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["AUC", "pAUC"]) * 100
    frame.index.name = "member snapshot"
    return frame.round(2)


def subset_note(runs, names: list[str] | None = None) -> str | None:
    """One line naming the chosen runs scored on fewer test clips than the others of the table (a
    `tiny` run keeps at most 8 per class: 368 of the default toy set's 2300), None when all were
    scored on as many.  Their AUCs come from other, fewer clips, so their rows are not like for like;
    the noise marks pair only the clips both runs scored.  Read from eval/metrics.json's n_test_clips."""
    names = names or [r.label for r in runs]
    counts = {name: r.eval_metrics().get("n_test_clips") for name, r in zip(names, runs)}
    counts = {name: n for name, n in counts.items() if isinstance(n, int)}
    if len(set(counts.values())) < 2:
        return None
    most = max(counts.values())
    fewer = []
    for (name, n), run in zip(counts.items(), runs):
        cap = run.config.get("data", {}).get("max_test_clips_per_class")
        fewer += [f"{name} on {n} of {most}" + (f" (at most {cap} per class: its preset's cap)" if cap else "")] \
            if n < most else []
    return ("Scored on a subset of the test clips: " + "; ".join(fewer) + ". Their AUCs come from fewer, other "
            "clips than the other rows', so compare them with care; the ≈ marks pair only the clips both runs "
            "scored.")


def noise_line(table: ResultsTable) -> str | None:
    """One line: which runs the average AUC cannot tell apart (chains of neighbours within the noise)."""
    if table.noise is None:
        return None
    col = (AVERAGE, "AUC")
    if col not in table.values.columns:
        return None
    chains = _noise_chains(table, col)
    if not chains:
        return "Average AUC: every run differs from the runs ranked next to it beyond the noise of the test clips."
    line = ("Average AUC within the noise of the test clips (≈: DeLong's paired 95 % CI of the difference with the "
            "run ranked next to it includes 0, so no bold and no rank): "
            + "; ".join(" ≈ ".join(chain) for chain in chains) + ".")
    beyond = [p for p in table.chain_pairs if not p[3] <= 0 <= p[4]]
    if beyond:
        line += (" ≈ links neighbours only, and is not transitive: " + "; ".join(
            f"{upper} − {lower} {d:+.2f} [{low:+.2f}, {high:+.2f}] AUC points" for upper, lower, d, low, high in beyond)
            + " " + ("is" if len(beyond) == 1 else "are") + " beyond the noise.")
    elif table.chain_pairs:
        line += " The runs further apart in each chain were tested too: also within the noise."
    return line


def flat_columns(columns: pd.MultiIndex) -> list[str]:
    return [f"{group} {metric}" for group, metric in columns]


def to_csv(table: ResultsTable) -> str:
    """One line per row: the row's description, then every number (percent, 4 decimals, empty
    where there is none), with the protocol and back-end in their own columns."""
    values = table.values.round(4)
    values.columns = flat_columns(table.values.columns)
    meta = table.rows.drop(columns="method").assign(protocol=table.protocol)
    out = pd.concat([meta, values], axis=1).reset_index()
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue()


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text) -> str:
    """Text safe inside a LaTeX table cell (the ten special characters escaped)."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def to_latex(table: ResultsTable, caption: str | None = None, label: str = "tab:results") -> str:
    """A booktabs table like the paper's Table 1: the best value of each column (among the runs)
    in \\textbf, published rows under their own rule, -- where there is no number."""
    groups = list(dict.fromkeys(g for g, _ in table.values.columns))
    spans = [(g, sum(1 for gg, _ in table.values.columns if gg == g)) for g in groups]
    n_cols = 1 + len(table.values.columns)
    lines = ["% needs \\usepackage{booktabs}", "\\begin{table}[t]", "\\centering"]
    if caption is None:
        backend = "each run's own" if table.backend == DEFAULT_BACKEND else table.backend
        caption = (f"AUC / pAUC / mAUC (\\%), protocol {latex_escape(table.protocol)}, back-end "
                   f"{latex_escape(backend)}. Best value of each column among the runs in bold.")
    lines.append(f"\\caption{{{caption}}}")
    lines.append(f"\\label{{{label}}}")
    lines.append("\\begin{tabular}{l" + "".join(" " + "c" * n for _, n in spans) + "}")
    lines.append("\\toprule")
    lines.append(" & ".join(["Method"] + [f"\\multicolumn{{{n}}}{{c}}{{{latex_escape(g)}}}" for g, n in spans])
                 + " \\\\")
    rules, start = [], 2
    for _, n in spans:
        rules.append(f"\\cmidrule(lr){{{start}-{start + n - 1}}}")
        start += n
    lines.append(" ".join(rules))
    lines.append(" & ".join([""] + [latex_escape(m) for _, m in table.values.columns]) + " \\\\")
    lines.append("\\midrule")
    kinds = table.rows["kind"]
    for kind in ("run", "published"):
        names = [name for name in table.values.index if kinds[name] == kind]
        if not names:
            continue
        if kind == "published":
            lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{n_cols}}}{{l}}{{\\emph{{{latex_escape(PUBLISHED_LABEL)}}}}} \\\\")
        for name in names:
            cells = [latex_escape(name)]
            for col in table.values.columns:
                text = format_value(table.values.at[name, col], marks=False, missing="--")
                if table.ranks.at[name, col] == 1:
                    text = f"\\textbf{{{text}}}"
                cells.append(text)
            lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"
