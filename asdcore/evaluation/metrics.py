"""AUC, pAUC and mAUC of anomaly scores, under the two protocols the papers use.

    dcase   the DCASE 2020 Task 2 evaluator: AUC and pAUC per machine ID, mean over the IDs of a
            machine type; the average is the mean over types.
    pooled  the Noisy-ArcMix / OS-SCL evaluation code: AUC and pAUC over all clips of a machine
            type pooled across its IDs; the average is the mean over types.  Each ID's scores
            then also have to agree in scale with the other IDs', so pooled <= dcase typically.

mAUC is the worst per-ID AUC within a type (the same under both protocols); the average mAUC is
the mean over types of that.

pAUC is sklearn's roc_auc_score(y, s, max_fpr=0.1), McClish-standardised (see PAUC_NOTE), as in
every published table.  Input: a DataFrame with columns machine_type, machine_id, label (0/1) and
a score column (higher = more anomalous).  IDs with only one label, and clips without a score,
are left out with a note in the output: never a crash, never a silent count.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..data.records import DCASE2020_MACHINE_TYPES

PAUC_MAX_FPR = 0.1
PAUC_NOTE = ("pAUC is sklearn's roc_auc_score(y, score, max_fpr=0.1), which applies McClish's "
             "standardisation 0.5*(1 + (A - p^2/2)/(p - p^2/2)) to the raw partial area A under the "
             "ROC curve up to FPR p = 0.1 (a random scorer gets 0.5, a perfect one 1); all published "
             "tables use it.")

PROTOCOLS = ("dcase", "pooled")
PROTOCOL_DESCRIPTIONS = {
    "dcase": "DCASE 2020 evaluator: AUC/pAUC per machine ID, mean over IDs, then mean over machine types",
    "pooled": "Noisy-ArcMix/OS-SCL eval code: AUC/pAUC over all clips of a machine type pooled, "
              "then mean over machine types",
}
REQUIRED_COLUMNS = ("machine_type", "machine_id", "label")


def auc(label, score) -> float:
    """Area under the ROC curve (label 1 = anomaly, higher score = more anomalous)."""
    return float(roc_auc_score(label, score))


def pauc(label, score, max_fpr: float = PAUC_MAX_FPR) -> float:
    """McClish-standardised partial AUC up to FPR max_fpr (see PAUC_NOTE)."""
    return float(roc_auc_score(label, score, max_fpr=max_fpr))


def machine_type_order(machine_types) -> list[str]:
    """DCASE 2020's listing order (fan, pump, slider, valve, ToyCar, ToyConveyor), then the
    other types alphabetically."""
    present = set(machine_types)
    known = [t for t in DCASE2020_MACHINE_TYPES if t in present]
    return known + sorted(present - set(known), key=str)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _usable_clips(df: pd.DataFrame, score: str, notes: list[str]) -> pd.DataFrame:
    """The rows with a finite score and a 0/1 label; what is dropped is counted in `notes`."""
    scores = pd.to_numeric(df[score], errors="coerce")
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad_score = ~np.isfinite(scores.to_numpy(dtype=float))
    bad_label = ~labels.isin([0, 1]).to_numpy()
    for mask, why in ((bad_score, f"no finite {score!r}"), (bad_label & ~bad_score, "no 0/1 label")):
        if mask.any():
            counts = df[mask].groupby(["machine_type", "machine_id"], sort=False).size()
            for (machine_type, machine_id), n in counts.items():
                notes.append(f"{machine_type} {machine_id}: {n} clip(s) with {why} left out")
    keep = ~(bad_score | bad_label)
    out = df.loc[keep, ["machine_type", "machine_id"]].copy()
    out["label"], out["score"] = labels[keep].astype(int), scores[keep].astype(float)
    return out


def _id_metrics(clips: pd.DataFrame, max_fpr: float) -> dict:
    y, s = clips["label"].to_numpy(), clips["score"].to_numpy()
    return {"auc": auc(y, s), "pauc": pauc(y, s, max_fpr),
            "n_normal": int((y == 0).sum()), "n_anomaly": int((y == 1).sum())}


def _type_metrics(clips: pd.DataFrame, machine_type: str, protocol: str, max_fpr: float,
                  notes: list[str]) -> dict | None:
    """One machine type's entry, or None (with a note) when no ID has both labels."""
    per_id, kept = {}, []
    for machine_id, id_clips in sorted(clips.groupby("machine_id", sort=False), key=lambda kv: str(kv[0])):
        if id_clips["label"].nunique() < 2:
            only = "normal" if id_clips["label"].iloc[0] == 0 else "anomalous"
            notes.append(f"{machine_type} {machine_id}: only {only} clips ({len(id_clips)}); "
                         "ID left out (AUC needs both labels)")
            continue
        per_id[str(machine_id)] = _id_metrics(id_clips, max_fpr)
        kept.append(id_clips)
    if not per_id:
        notes.append(f"{machine_type}: no machine ID with both labels; type left out")
        return None
    if protocol == "dcase":  # DCASE 2020 evaluator: mean over the type's IDs
        type_auc = _mean(m["auc"] for m in per_id.values())
        type_pauc = _mean(m["pauc"] for m in per_id.values())
    else:  # pooled: one ROC over all kept clips of the type
        pooled = _id_metrics(pd.concat(kept), max_fpr)
        type_auc, type_pauc = pooled["auc"], pooled["pauc"]
    return {
        "auc": type_auc,
        "pauc": type_pauc,
        "mauc": min(m["auc"] for m in per_id.values()),  # the worst ID
        "n_ids": len(per_id),
        "n_normal": sum(m["n_normal"] for m in per_id.values()),
        "n_anomaly": sum(m["n_anomaly"] for m in per_id.values()),
        "per_id": per_id,
    }


def evaluate(df: pd.DataFrame, score: str = "score", protocol: str = "dcase",
             max_fpr: float = PAUC_MAX_FPR) -> dict:
    """AUC / pAUC / mAUC per machine type and their averages over types, as a plain-JSON dict:

        {"protocol", "per_type": {type: {"auc", "pauc", "mauc", "n_ids", "n_normal", "n_anomaly",
                                         "per_id": {id: {"auc", "pauc", "n_normal", "n_anomaly"}}}},
         "average": {"auc", "pauc", "mauc"}, "notes": [...]}

    Types in DCASE 2020's order, IDs sorted.  Averages are None when no type could be scored.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    missing = [c for c in (*REQUIRED_COLUMNS, score) if c not in df.columns]
    if missing:
        raise KeyError(f"the clips table has no column(s) {missing}")
    notes: list[str] = []
    clips = _usable_clips(df, score, notes)
    per_type = {}
    for machine_type in machine_type_order(df["machine_type"].unique()):
        entry = _type_metrics(clips[clips["machine_type"] == machine_type], machine_type, protocol,
                              max_fpr, notes)
        if entry is not None:
            per_type[str(machine_type)] = entry
    average = {key: _mean(t[key] for t in per_type.values()) for key in ("auc", "pauc", "mauc")}
    return {"protocol": protocol, "per_type": per_type, "average": average, "notes": notes}


def evaluate_all(df: pd.DataFrame, score_columns: dict[str, str], max_fpr: float = PAUC_MAX_FPR) -> dict:
    """Every back-end under both protocols:
    {"pauc_note", "by_backend": {backend: {"dcase": ..., "pooled": ...}}, "notes"}.
    A back-end whose column is missing from df is left out with a note."""
    by_backend, notes = {}, []
    for backend, column in score_columns.items():
        if column not in df.columns:
            notes.append(f"{backend}: no column {column!r}; back-end left out")
            continue
        by_backend[backend] = {p: evaluate(df, column, p, max_fpr) for p in PROTOCOLS}
    return {"pauc_note": PAUC_NOTE, "by_backend": by_backend, "notes": notes}


def metrics_table(result: dict, percent: bool = False) -> pd.DataFrame:
    """One protocol's result (from `evaluate`) as a table: a row per machine type, then
    "Average"; columns AUC, pAUC, mAUC as fractions, or percent like the papers' tables."""
    scale = 100.0 if percent else 1.0
    rows = {**result["per_type"], "Average": result["average"]}
    table = pd.DataFrame(
        {name: [np.nan if m[key] is None else m[key] * scale for key in ("auc", "pauc", "mauc")]
         for name, m in rows.items()},
        index=["AUC", "pAUC", "mAUC"],
    ).T
    table.index.name = "machine_type"
    return table
