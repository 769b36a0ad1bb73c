"""Diagnose a data set and the runs trained on it: which faults does each detector find?

    python -m asdcore data diagnose DATA [DATA ...] [--run RUN ...] [--ae RUN]

For every machine type and, on the toy factory (its metadata.csv names each anomaly's fault), every
fault kind, the table holds:

- the AUC of the two simple baselines: a Gaussian on each clip's time-averaged log-mel
  (asdcore.data.baseline) and the DCASE 2020 autoencoder (a finished `dcase-ae` run on the same
  data, found among the runs or given with --ae);
- given runs, the AUC of each of their scoring back-ends;
- for classifier runs, the machine-ID accuracy on the test normals and on the anomalies (an ID
  classifier finds a fault when the fault changes what tells the IDs apart, so the faulty clips are
  classified less well), and the median angle between the embedding and its own class centre for
  both (Fig. 1 of the Noisy-ArcMix paper in two numbers).

AUCs follow the DCASE protocol: per machine ID, the ID's test normals against its anomalies (of that
fault kind, on a fault-kind row), then the mean over the type's IDs.  A fault kind has few clips per
ID (the default toy preset: about 10 of 50 anomalies), so its AUC is known to about +-0.05.

`diagnose_table` returns the table as a DataFrame, for a page or a notebook cell.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import scan_dataset
from .data.toy.metadata import read_fault_metadata
from .evaluation.attention import SHORT_SPAN, frame_settings
from .evaluation.attention import attention_summary as summarise_attention
from .evaluation.metrics import machine_type_order
from .runs import Run, list_runs, resolve_root

ALL_FAULTS = "(all)"


def _auc_per_id_mean(normals: pd.DataFrame, anomalies: pd.DataFrame, column: str) -> float:
    """Mean over machine IDs of the AUC of `column`, the ID's normals against its anomalies."""
    # sklearn (and torch, for the baseline below) load when a diagnosis runs, not with this module:
    # a page or notebook that imports this module for one table must not wait for them
    from sklearn.metrics import roc_auc_score

    aucs = []
    for machine_id, anomalous in anomalies.groupby("machine_id"):
        normal = normals[normals["machine_id"] == machine_id]
        scores = pd.concat([normal[column], anomalous[column]]).to_numpy(dtype=float)
        labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
        keep = np.isfinite(scores)
        if len(normal) and len(anomalous) and len(np.unique(labels[keep])) == 2:
            aucs.append(roc_auc_score(labels[keep], scores[keep]))
    return float(np.mean(aucs)) if aucs else float("nan")


def fault_auc_table(clips: pd.DataFrame, score_columns: dict[str, str]) -> pd.DataFrame:
    """AUC per machine type and fault kind (DCASE protocol) for each named score column.

    clips: one row per labelled test clip with machine_type, machine_id, label (0/1), fault_kind
    (empty or NaN for normals and where unknown) and the score columns.  Rows: for each type, "(all)"
    then each fault kind present; columns: machine_type, fault_kind, fault_family, n_anomalies and
    one column per name in score_columns.
    """
    rows = []
    kinds = clips["fault_kind"].where(clips["fault_kind"].notna() & (clips["fault_kind"] != ""), None) \
        if "fault_kind" in clips else pd.Series([None] * len(clips), index=clips.index)
    families = clips["fault_family"] if "fault_family" in clips else pd.Series([None] * len(clips), index=clips.index)
    for machine_type in machine_type_order(clips["machine_type"].unique()):
        of_type = clips["machine_type"] == machine_type
        normals = clips[of_type & (clips["label"] == 0)]
        anomalies = clips[of_type & (clips["label"] == 1)]
        groups = [(ALL_FAULTS, None, anomalies)]
        type_kinds = kinds[anomalies.index].dropna()
        for kind in sorted(type_kinds.unique()):
            subset = anomalies[type_kinds.reindex(anomalies.index) == kind]
            family = families[subset.index].dropna()
            groups.append((kind, family.iloc[0] if len(family) else None, subset))
        for kind, family, subset in groups:
            row = {"machine_type": machine_type, "fault_kind": kind, "fault_family": family or "",
                   "n_anomalies": len(subset)}
            for name, column in score_columns.items():
                row[name] = _auc_per_id_mean(normals, subset, column) if column in clips else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def classifier_table(clips: pd.DataFrame) -> pd.DataFrame | None:
    """Per machine type and fault kind: machine-ID accuracy and the median angle to the own class
    centre, normals against anomalies, from a classifier run's clips.parquet (None otherwise)."""
    if "predicted_class" not in clips or "angle_to_centre_deg" not in clips:
        return None
    correct = (clips["predicted_class"] == clips["class_index"]).astype(float)
    clips = clips.assign(id_correct=correct)
    rows = []
    kinds = clips["fault_kind"].fillna("") if "fault_kind" in clips else pd.Series("", index=clips.index)
    for machine_type in machine_type_order(clips["machine_type"].unique()):
        of_type = clips[clips["machine_type"] == machine_type]
        normals = of_type[of_type["label"] == 0]
        anomalies = of_type[of_type["label"] == 1]
        groups = [(ALL_FAULTS, anomalies)] + [(k, anomalies[kinds[anomalies.index] == k])
                                              for k in sorted(set(kinds[anomalies.index]) - {""})]
        for kind, subset in groups:
            rows.append({"machine_type": machine_type, "fault_kind": kind,
                         "id_acc_normal": normals["id_correct"].mean(), "id_acc_anomaly": subset["id_correct"].mean(),
                         "angle_normal_deg": normals["angle_to_centre_deg"].median(),
                         "angle_anomaly_deg": subset["angle_to_centre_deg"].median()})
    return pd.DataFrame(rows)


def attention_summary(run: Run, short_span: float = SHORT_SPAN) -> dict | None:
    """TAgram's temporal attention on a run's test clips (asdcore.evaluation.attention: saturation,
    the mean weight inside short fault spans against outside them), None without attention.npy.

    The summary eval/metrics.json stores ("attention") when it was made with this `short_span`;
    else (a run evaluated before the summary was stored, another span) computed from
    eval/attention.npy and clips.parquet."""
    stored = run.eval_metrics().get("attention")
    if stored is not None and stored.get("short_span", SHORT_SPAN) == short_span:
        return stored
    weights = run.attention()
    if weights is None:
        return None
    return summarise_attention(weights, run.clips(), *frame_settings(run.config), short_span=short_span)


def _absolute_paths(run: Run, clips: pd.DataFrame) -> pd.Series:
    roots = run.data_roots()
    return pd.Series([str((roots[int(i)] / p).resolve()) for i, p in zip(clips["root_index"], clips["path"])],
                     index=clips.index)


def same_data(run: Run, roots: list[Path]) -> bool:
    """Whether the run was trained on exactly these data roots."""
    try:
        return sorted(str(p.resolve()) for p in run.data_roots()) == sorted(str(Path(r).resolve()) for r in roots)
    except (KeyError, TypeError):
        return False


def find_autoencoder_run(roots: list[Path]) -> Run | None:
    """The newest finished and evaluated `dcase-ae` run on exactly these data roots (yours first,
    then the bundled ones), or None."""
    for run in list_runs():
        if run.recipe == "dcase-ae" and run.has_eval and same_data(run, roots):
            return run
    return None


def gaussian_clips(roots: list[Path], clip_seconds: float | None) -> pd.DataFrame:
    """The Gaussian baseline's score for every labelled test clip, with its fault from metadata.csv."""
    from .data.baseline import gaussian_baseline_scores  # torch: see _auc_per_id_mean

    ds = scan_dataset([str(r) for r in roots], check_audio=False)
    by_relpath = {(r.root, r.relpath): r for r in ds.records}
    scores = gaussian_baseline_scores(ds, clip_seconds)
    absolute = {r.relpath: str(Path(r.path).resolve()) for r in by_relpath.values()}
    scores["abs_path"] = scores["path"].map(absolute)
    frames = []
    for root in roots:
        meta = read_fault_metadata(root)
        if meta is not None:
            meta = meta.assign(abs_path=[str((Path(root) / p).resolve()) for p in meta["path"]])
            frames.append(meta)
    if frames:
        meta = pd.concat(frames)
        columns = [c for c in ("fault_kind", "fault_family") if c in meta]
        scores = scores.merge(meta[["abs_path", *columns]], on="abs_path", how="left")
    return scores


def diagnose_table(roots: list[str | Path], runs: list[Run] = (), autoencoder: Run | None = None,
                   clip_seconds: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(AUC per type and fault kind for the baselines and every back-end of every run, the
    classifier table of the first classifier run or None).  Score columns are named
    "gaussian", "autoencoder" and "<run id>:<back-end>"."""
    roots = [resolve_root(str(r)) for r in roots]
    clips = gaussian_clips(roots, clip_seconds).rename(columns={"score": "gaussian"})
    columns = {"gaussian": "gaussian"}
    sources = ([("autoencoder", autoencoder, {"reconstruction": "autoencoder"})] if autoencoder is not None else [])
    for run in runs:
        backends = run.eval_metrics().get("by_backend", {})
        sources.append((run.id, run, {b: f"{run.id}:{b}" for b in backends}))
    classifier = None
    for _, run, names in sources:
        run_clips = run.clips()
        run_clips["abs_path"] = _absolute_paths(run, run_clips)
        keep = {f"score_{b}": name for b, name in names.items() if f"score_{b}" in run_clips}
        clips = clips.merge(run_clips[["abs_path", *keep]].rename(columns=keep), on="abs_path", how="left")
        columns.update({name: name for name in keep.values()})
        if classifier is None and run is not autoencoder:
            classifier = classifier_table(run_clips.merge(
                clips[["abs_path", *[c for c in ("fault_kind", "fault_family") if c in clips]]],
                on="abs_path", how="left", suffixes=("_run", "")))
    return fault_auc_table(clips, columns), classifier


def format_attention(run: Run, summary: dict) -> str:
    text = (f"Temporal attention of {run.id}: {100 * summary['saturated']:.1f} % of the weights above 0.99, "
            f"mean {summary['mean']:.2f}, spread along time within a clip {summary['within_clip_std']:.2f}")
    if summary["n_short"]:
        text += (f"; over the {summary['n_short']} anomalous clips with a short fault, mean weight inside the "
                 f"fault's span {summary['inside']:.3f} against {summary['outside']:.3f} outside it "
                 f"(higher inside in {100 * summary['inside_higher']:.0f} % of them)")
    return text


def format_tables(aucs: pd.DataFrame, classifier: pd.DataFrame | None) -> str:
    """The tables as text for the terminal: AUCs in %, accuracies in %, angles in degrees."""
    show = aucs.copy()
    score_columns = [c for c in show.columns if c not in ("machine_type", "fault_kind", "fault_family", "n_anomalies")]
    for c in score_columns:
        show[c] = (100 * show[c]).round(1)
    text = ["AUC (%) per machine type and fault kind, DCASE protocol (per machine ID, then the mean over IDs):",
            show.to_string(index=False, na_rep="-")]
    means = {c: 100 * aucs.loc[aucs["fault_kind"] == ALL_FAULTS, c].mean() for c in score_columns}
    text.append("average over types: " + ", ".join(f"{c} {v:.1f}" for c, v in means.items()))
    if classifier is not None:
        show = classifier.copy()
        for c in ("id_acc_normal", "id_acc_anomaly"):
            show[c] = (100 * show[c]).round(1)
        for c in ("angle_normal_deg", "angle_anomaly_deg"):
            show[c] = show[c].astype(float).round(1)
        text += ["", "Machine-ID accuracy (%) and median angle to the own class centre (degrees), test normals "
                 "against anomalies:", show.to_string(index=False, na_rep="-")]
    return "\n".join(text)
