"""The DCASE 2021-2023 Task 2 metrics: sections, source and target domains, harmonic means.

Per machine type and section (the official evaluator's definitions):
    AUC (source)   the section's SOURCE-domain normals against ALL its anomalies (both domains)
    AUC (target)   the section's TARGET-domain normals against ALL its anomalies (both domains)
    pAUC           all the section's clips, both domains, FPR <= 0.1 (McClish-standardised, as
                   metrics.pauc)
    precision, recall, F1 (per domain)   the decisions (1 = anomalous) on the clips of that domain:
                   P = tp / max(tp + fp, eps), R = tp / max(tp + fn, eps), F1 = 2PR / max(P + R, eps)

Summaries:
    per machine type   the arithmetic and the harmonic mean over its sections of each metric
    official score     the harmonic mean over every (type, section) of AUC (source), AUC (target)
                       and pAUC together, each clamped at float eps first (an AUC of 0 does not
                       divide by zero), with the arithmetic mean of the same values beside it
    harmonic mean (source) / (target)   the harmonic mean of the source / target AUCs alone

A section whose domain has no normal clips, or that has no anomalies, has no AUC there: it is
listed in `undefined` with the reason and left out of every mean (the official evaluator would
stop).  Unlabelled clips (evaluation data) carry label NaN: they are scored but never counted.

Input: a DataFrame with columns machine_type, section, domain ("source" or "target"), label
(0 normal, 1 anomaly, NaN unlabelled), a score column (higher = more anomalous) and, for the
decision metrics, a decision column (0/1).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .metrics import auc, machine_type_order, pauc

DOMAINS = ("source", "target")
EPS = sys.float_info.epsilon
REQUIRED_COLUMNS = ("machine_type", "section", "domain", "label")
SECTION_METRICS = ("auc_source", "auc_target", "pauc", "precision_source", "precision_target",
                   "recall_source", "recall_target", "f1_source", "f1_target")


@dataclass
class DomainShiftResults:
    sections: pd.DataFrame  # one row per (machine_type, section): SECTION_METRICS and clip counts
    machine_types: pd.DataFrame  # one row per (machine_type, mean): mean "arithmetic" or "harmonic"
    official_score: float | None  # harmonic mean of every defined AUC (source), AUC (target), pAUC
    arithmetic_mean: float | None  # arithmetic mean of the same values
    hmean_source: float | None  # harmonic mean of the source AUCs
    hmean_target: float | None  # harmonic mean of the target AUCs
    undefined: list[str] = field(default_factory=list)  # "<type> section <s> <metric>: <why>"


def harmonic_mean(values) -> float | None:
    """n / sum(1 / max(v, eps)) over the values (None when there are none)."""
    values = [max(float(v), EPS) for v in values]
    return len(values) / sum(1.0 / v for v in values) if values else None


def decision_metrics(label, decision) -> dict:
    """Precision, recall and F1 of 0/1 decisions against 0/1 labels (1 = anomaly), with the
    evaluator's eps guards: a system that flags nothing gets precision 0, not a division error."""
    label, decision = np.asarray(label, dtype=int), np.asarray(decision, dtype=int)
    tp = int(((decision == 1) & (label == 1)).sum())
    fp = int(((decision == 1) & (label == 0)).sum())
    fn = int(((decision == 0) & (label == 1)).sum())
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, EPS)}


def threshold_at_percentile(normal_scores, percentile: float = 90.0) -> float:
    """The decision threshold DCASE 2021-2023 systems use: the given percentile of the training
    normals' scores (a clip scoring above it is called anomalous)."""
    scores = np.asarray(normal_scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    if not len(scores):
        raise ValueError("no finite training-normal scores to take a threshold from")
    return float(np.percentile(scores, percentile))


def domain_shift_metrics(clips: pd.DataFrame, score: str = "score", decision: str | None = None,
                         max_fpr: float = 0.1) -> DomainShiftResults:
    """Every metric of the module docstring for these clips."""
    missing = [c for c in (*REQUIRED_COLUMNS, score) if c not in clips]
    if missing:
        raise ValueError(f"the clips table lacks column(s) {', '.join(missing)}")
    bad = sorted(set(clips["domain"].dropna()) - set(DOMAINS))
    if bad:
        raise ValueError(f"domain must be 'source' or 'target', found {', '.join(map(str, bad))}")
    labelled = clips[clips["label"].notna() & clips[score].notna()]
    rows, undefined = [], []
    for machine_type in machine_type_order(labelled["machine_type"].unique()):
        by_type = labelled[labelled["machine_type"] == machine_type]
        for section in sorted(by_type["section"].unique()):
            s = by_type[by_type["section"] == section]
            where = f"{machine_type} section {section}"
            row = {"machine_type": machine_type, "section": section}
            anomalies = s[s["label"] == 1]
            for domain in DOMAINS:
                normals = s[(s["label"] == 0) & (s["domain"] == domain)]
                row[f"normals_{domain}"] = len(normals)
                row[f"anomalies_{domain}"] = int((anomalies["domain"] == domain).sum())
                # AUC (domain): this domain's normals against all the section's anomalies
                if len(normals) and len(anomalies):
                    both = pd.concat([normals, anomalies])
                    row[f"auc_{domain}"] = auc(both["label"].astype(int), both[score])
                else:
                    row[f"auc_{domain}"] = np.nan
                    undefined.append(f"{where} AUC ({domain}): "
                                     + ("no anomalies" if not len(anomalies) else f"no {domain} normals"))
                if decision is not None:
                    in_domain = s[s["domain"] == domain]
                    scores = decision_metrics(in_domain["label"], in_domain[decision]) if len(in_domain) else {}
                    for name in ("precision", "recall", "f1"):
                        row[f"{name}_{domain}"] = scores.get(name, np.nan)
            if s["label"].nunique() == 2:
                row["pauc"] = pauc(s["label"].astype(int), s[score], max_fpr)
            else:
                row["pauc"] = np.nan
                undefined.append(f"{where} pAUC: " + ("no anomalies" if not len(anomalies) else "no normals"))
            rows.append(row)
    sections = pd.DataFrame(rows)
    metrics = [m for m in SECTION_METRICS if m in sections]
    summary = []
    for machine_type, by_type in sections.groupby("machine_type", sort=False):
        for mean, fn in (("arithmetic", _arithmetic), ("harmonic", harmonic_mean)):
            summary.append({"machine_type": machine_type, "mean": mean,
                            **{m: fn(by_type[m].dropna()) for m in metrics}})
    defined = (lambda column: sections[column].dropna().tolist()) if len(sections) else (lambda column: [])
    everything = defined("auc_source") + defined("auc_target") + defined("pauc")
    return DomainShiftResults(
        sections=sections, machine_types=pd.DataFrame(summary), official_score=harmonic_mean(everything),
        arithmetic_mean=_arithmetic(everything), hmean_source=harmonic_mean(defined("auc_source")),
        hmean_target=harmonic_mean(defined("auc_target")), undefined=undefined)


def _arithmetic(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def section_decisions(test: pd.DataFrame, train: pd.DataFrame, score: str, percentile: float = 90.0) -> pd.Series:
    """0/1 decisions for the test clips: above the given percentile of the training normals'
    scores of the same machine type and section (NaN where that section has no scored normals)."""
    out = pd.Series(np.nan, index=test.index)
    normals = train[train[score].notna()]
    for (machine_type, section), group in normals.groupby(["machine_type", "section"]):
        threshold = threshold_at_percentile(group[score], percentile)
        rows = (test["machine_type"] == machine_type) & (test["section"] == section)
        out[rows] = (test.loc[rows, score] > threshold).astype(float)
    return out


def domain_shift_summary(test: pd.DataFrame, train: pd.DataFrame, score_columns: dict[str, str]) -> dict | None:
    """metrics.json's "domain_shift" block for clips that carry a domain (else None): per
    back-end the official score, the means and the per-section rows, with decisions at the
    90th percentile of each section's training-normal scores."""
    if "domain" not in test or test["domain"].isna().all():
        return None
    by_backend = {}
    for backend, column in score_columns.items():
        if column not in test:
            continue
        clips = test.assign(decision=section_decisions(test, train, column))
        result = domain_shift_metrics(clips[clips["domain"].notna()], column,
                                      decision="decision" if clips["decision"].notna().all() else None)
        by_backend[backend] = {
            "official_score": result.official_score, "arithmetic_mean": result.arithmetic_mean,
            "hmean_source": result.hmean_source, "hmean_target": result.hmean_target,
            "sections": _records(result.sections), "machine_types": _records(result.machine_types),
            "undefined": result.undefined,
        }
    return {"threshold": "90th percentile of the section's training-normal scores", "by_backend": by_backend}


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain JSON values (NaN -> None)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in row.items()} for row in frame.to_dict("records")]
