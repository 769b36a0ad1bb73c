"""Lessons 1-3: the task, an ID classifier as a detector, and what a margin does."""
from __future__ import annotations

import pandas as pd

from .. import plots
from ..plots.intervals import interval_bars
from .base import Answer, Context, Lesson, Link, RunButton, bounds, interval_pct, pct, wilson_interval

SHORT_FAULT_S = 1.0  # a fault shorter than this covers under half of a 2 s toy clip

# --- 1. the task ----------------------------------------------------------------------------------


def test_clips(context: Context) -> pd.DataFrame:
    """The default data set's labelled test clips: path, machine_type, machine_id, label (0 / 1), and
    the toy factory's fault columns (fault_kind, fault_family, fault_onset_s, fault_offset_s, severity)."""
    def make():
        from ..data import scan_dataset
        from ..data.toy.metadata import read_fault_metadata

        ds = scan_dataset(context.data_root, check_audio=False)
        clips = pd.DataFrame([(r.relpath, r.machine_type, r.machine_id, 1 if r.label == "anomaly" else 0)
                              for r in ds.records if r.split == "test" and r.label is not None],
                             columns=["path", "machine_type", "machine_id", "label"])
        if clips.empty:
            raise FileNotFoundError(f"no labelled test clips under {context.data_root}: run `make data` first")
        meta = read_fault_metadata(context.data_root)
        if meta is not None:
            clips = clips.merge(meta, on="path", how="left")
        return clips
    return context.cached("test_clips", make)


def example_pair(context: Context, machine_type: str = "fan") -> tuple[pd.Series, pd.Series]:
    """A normal test clip and the most severe anomalous one of the same machine ID (first ID of the type)."""
    clips = test_clips(context)
    of_type = clips[clips["machine_type"] == machine_type]
    anomalies = of_type[of_type["label"] == 1]
    anomaly = anomalies.sort_values(["severity", "path"], ascending=[False, True]).iloc[0] \
        if "severity" in anomalies else anomalies.iloc[0]
    normal = of_type[(of_type["label"] == 0) & (of_type["machine_id"] == anomaly["machine_id"])].iloc[0]
    return normal, anomaly


def task_figures(context: Context) -> list:
    from ..data.audio import load_clip
    from ..melspec import LogMelConfig, log_mel_numpy

    cfg = LogMelConfig.stgram()
    figures = []
    for row in example_pair(context):
        logmel = log_mel_numpy(load_clip(context.data_root / row["path"], None, cfg.sample_rate), cfg)
        fault = row.get("fault_kind")
        has_fault = isinstance(fault, str) and fault
        span = (row["fault_onset_s"], row["fault_offset_s"]) if has_fault else None
        what = f"anomalous ({fault})" if has_fault else "normal"
        figures.append(plots.attention_figure(logmel, None, cfg.sample_rate, cfg.hop_length, fault_span=span,
                                              fault_kind=fault if has_fault else None,
                                              title=f"{row['machine_type']} {row['machine_id']}, {what}: {row['path']}"))
    return figures


def task_answer(context: Context) -> Answer:
    clips = test_clips(context)
    anomalies = clips[clips["label"] == 1]
    values = {"n_test": len(clips), "n_anomalous": len(anomalies), "n_normal": int((clips["label"] == 0).sum())}
    text = (f"The default data set has **{values['n_test']}** labelled test clips: {values['n_normal']} normal "
            f"and {values['n_anomalous']} anomalous.")
    if "fault_onset_s" in anomalies and anomalies["fault_onset_s"].notna().any():
        length = (anomalies["fault_offset_s"] - anomalies["fault_onset_s"]).dropna()
        values.update(median_fault_s=float(length.median()), share_short=float((length < SHORT_FAULT_S).mean()))
        text += (f" A fault lasts {values['median_fault_s']:.2f} s at the median; "
                 f"{pct(values['share_short'])} of them are shorter than {SHORT_FAULT_S:g} s.")
    if "fault_family" in anomalies and anomalies["fault_family"].notna().any():
        families = anomalies["fault_family"].value_counts(normalize=True)
        values["share_by_family"] = {k: float(v) for k, v in families.items()}
        values["kinds"] = int(anomalies["fault_kind"].nunique())
        text += (f" They are of {values['kinds']} kinds: "
                 + ", ".join(f"{pct(v)} *{k}*" for k, v in families.items()) + ".")
    return Answer(text, values)


def task_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    text = ("A detector never hears these faults while it learns: it sees the training normals only, and must "
            "call anything unlike them anomalous. ")
    if "share_by_family" in v:
        added = v["share_by_family"].get("added", 0.0)
        text += (f"Most faults ({pct(v['share_by_family'].get('structural', 0.0))}) are *structural*: they change the "
                 "machine's own properties (speed, resonances, timing). The rest "
                 f"({pct(added)}) are *added* sounds over an unchanged machine; lesson 5 shows why they are the "
                 "hard ones. ")
    text += ("These are counts of the data set, not estimates: there is no uncertainty in them, only in what a "
             "model will make of them.")
    return text


TASK = Lesson(
    number=1, slug="the-task", title="The task: normal and faulty machine sounds",
    goal="Hear and see what a detector is asked to find: faults it has never heard, in machines it knows only "
         "from their normal sound.",
    look="Two clips of the same fan: a normal one and the most severe anomaly of that ID. The dashed box "
         "is the fault's true span, from the toy factory's metadata. Look for what changes inside it: the tones "
         "(horizontal lines) move, or a new sound is laid over them.",
    question="How many test clips are faulty, how long do their faults last, and of which kinds are they?",
    figures=task_figures, answer=task_answer, conclude=task_conclusion,
    try_it=[Link("Listen to normal and anomalous pairs of every machine type on Home", "", {"type": "valve"}),
            Link("See a fault's span under the model's attention", "attention", {"run": "tastgram-noisy-arcmix"})],
)

# --- 2. an ID classifier as a detector ------------------------------------------------------------

DETECTOR_RUN = "tastgram-noisy-arcmix"


def id_accuracy(clips: pd.DataFrame) -> pd.DataFrame:
    """Per machine type and label: the share of test clips whose predicted machine ID is their own, with
    Wilson's 95 % interval (columns machine_type, label, correct, n, value, low, high)."""
    rows = []
    frames = [(t, g) for t, g in clips.groupby("machine_type", sort=False)] + [("all", clips)]
    for machine_type, group in frames:
        for label, name in ((0, "normal"), (1, "anomalous")):
            of_label = group[group["label"] == label]
            correct = int((of_label["predicted_class"] == of_label["class_index"]).sum())
            low, high = wilson_interval(correct, len(of_label))
            rows.append({"machine_type": machine_type, "label": name, "correct": correct, "n": len(of_label),
                         "value": correct / len(of_label) if len(of_label) else float("nan"),
                         "low": low, "high": high})
    return pd.DataFrame(rows)


def detector_figures(context: Context) -> list:
    run = context.run(DETECTOR_RUN)
    table = id_accuracy(run.clips())
    return [interval_bars(table, "machine_type", "label", colors={"normal": plots.COLORS["normal"],
                                                                  "anomalous": plots.COLORS["anomaly"]},
                          title=f"{run.label}: share of test clips given their own machine ID (95 % interval)",
                          y_title="ID accuracy (%)"),
            plots.score_histogram(run.clips(), title=f"{run.label}: anomaly score (-log p of the own ID)")]


def detector_answer(context: Context) -> Answer:
    run = context.run(DETECTOR_RUN)
    table = id_accuracy(run.clips()).set_index(["machine_type", "label"])
    normal, anomalous = table.loc[("all", "normal")], table.loc[("all", "anomalous")]
    auc = run.eval_metrics()["intervals"]["auc"]["average"]
    values = {"normal": float(normal["value"]), "normal_ci": bounds(normal),
              "anomalous": float(anomalous["value"]),
              "anomalous_ci": bounds(anomalous),
              "auc": float(auc["value"]), "auc_ci": bounds(auc)}
    text = (f"{run.label} names the right machine ID for **{pct(values['normal'])}** of the normal test clips "
            f"(95 % interval {interval_pct(*values['normal_ci'])}) and for **{pct(values['anomalous'])}** of the "
            f"anomalous ones {interval_pct(*values['anomalous_ci'])}. Used as a detector (the score is "
            f"-log p of the clip's own ID), it reaches {100 * values['auc']:.1f} average AUC "
            f"{interval_pct(*values['auc_ci'])}.")
    return Answer(text, values)


def detector_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    gap = v["normal"] - v["anomalous"]
    apart = v["normal_ci"][0] > v["anomalous_ci"][1]
    return (f"A fault makes a machine sound *less like itself*: the classifier recognises it {100 * gap:.0f} points "
            "less often. " + ("The two intervals do not overlap, so this is no accident of these test clips. "
                              if apart else "The two intervals overlap: on this data the gap may be noise. ")
            + "The detector never saw a fault; it only learnt to tell normal machines apart, and a clip that "
            "its own ID does not claim scores high. That is why every method in this lab is a classifier of "
            "machine IDs with a loss that makes its classes tight.")


DETECTOR = Lesson(
    number=2, slug="id-classifier-as-detector", title="An ID classifier as a detector",
    goal="See why a network trained only to tell machine IDs apart finds faults: a faulty clip looks like "
         "'not my machine'.",
    look="Left bars: normal clips; right bars: anomalous ones; the error bars are Wilson 95 % intervals. Below, "
         "the anomaly score of every test clip: blue normal, orange anomalous.",
    question="How often does the classifier name the right machine ID for normal test clips, and for faulty ones?",
    figures=detector_figures, answer=detector_answer, conclude=detector_conclusion,
    try_it=[Link("See where anomalies land among the machine IDs (Embeddings)", "embeddings",
                 {"run": DETECTOR_RUN, "color": "label"}),
            Link("The confused machine IDs of each false alarm", "false-alarms", {"run": DETECTOR_RUN})],
    runs=(DETECTOR_RUN,),
)

# --- 3. what a margin does ------------------------------------------------------------------------

MARGIN_RUNS = ("tastgram-ce", "tastgram-arcface")


def margin_figures(context: Context) -> list:
    runs = [context.run(r) for r in MARGIN_RUNS]
    return [plots.angle_histograms({r.label: r.clips() for r in runs},
                                   title="Fig. 1 of the Noisy-ArcMix paper: angle to the own class centre")]


def margin_answer(context: Context) -> Answer:
    from ..significance import paired_comparison

    ce, arcface = (context.run(r) for r in MARGIN_RUNS)
    values = {}
    for key, run in (("ce", ce), ("arcface", arcface)):
        clips = run.clips()
        angles = run.eval_metrics()["intervals"]["angles"]
        values[key] = {"median_normal_deg": float(clips.loc[clips["label"] == 0, "angle_to_centre_deg"].median()),
                       "angle_auc": float(angles["auc"]["value"]),
                       "angle_auc_ci": bounds(angles["auc"]),
                       "gap_deg": float(angles["median_gap_deg"]["value"]),
                       "gap_ci": bounds(angles["median_gap_deg"])}
    paired = paired_comparison(arcface, ce).average
    values["score_difference"] = {k: float(paired[k]) for k in ("difference", "ci_low", "ci_high", "p_value")}
    c, a, d = values["ce"], values["arcface"], values["score_difference"]
    text = (f"Normal clips lie at a median **{c['median_normal_deg']:.1f}°** from their centre with CE and "
            f"**{a['median_normal_deg']:.1f}°** with ArcFace. The angle itself, as a score, separates anomalies with "
            f"angle AUC {c['angle_auc']:.3f} [{c['angle_auc_ci'][0]:.3f}, {c['angle_auc_ci'][1]:.3f}] (CE) against "
            f"{a['angle_auc']:.3f} [{a['angle_auc_ci'][0]:.3f}, {a['angle_auc_ci'][1]:.3f}] (ArcFace), as in the "
            "panels; the median anomaly lies "
            f"{c['gap_deg']:.1f}° beyond the median normal with CE, {a['gap_deg']:.1f}° with ArcFace. "
            f"Paired on the same test clips (DeLong), ArcFace's anomaly score beats CE's by "
            f"{100 * d['difference']:+.2f} AUC points, 95 % CI [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}].")
    return Answer(text, values)


def margin_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    d = v["score_difference"]
    tighter = v["arcface"]["median_normal_deg"] < v["ce"]["median_normal_deg"]
    real = d["ci_low"] > 0 or d["ci_high"] < 0
    return (("The margin pulls normal clips into a tighter cone around their centre, " if tighter else
             "Here the margin did not make the normal cone tighter, ")
            + ("and the detector's AUC gain is beyond the noise of the test clips (the paired 95 % interval "
               "excludes 0). " if real else "but the AUC difference lies within the noise of the test clips "
                                            "(its 95 % interval includes 0). ")
            + "Both runs are single trainings on the toy data: the intervals count the test clips, not the spread "
              "over training seeds (lesson 4 adds it).")


MARGIN = Lesson(
    number=3, slug="what-a-margin-does", title="What a margin does",
    goal="See how ArcFace's additive angular margin tightens normal clips around their class centre, and "
         "whether that separates anomalies by angle.",
    look="First play with the Margin lab (a toy embedding trained live with each loss), then read these two "
         "panels: each is the histogram of the angle between a test clip's embedding and its own class centre, "
         "normal in blue, anomalous in orange. Compare where the blue mass sits and how much the colours overlap.",
    question="Does ArcFace put normal clips closer to their centre than plain softmax (CE), and does it "
             "separate anomalies better?",
    figures=margin_figures, answer=margin_answer, conclude=margin_conclusion,
    try_it=[Link("Train a toy embedding with each loss, live (Margin lab)", "margin-lab"),
            Link("The same two runs on Angles, per machine type", "angles", {"runs": ",".join(MARGIN_RUNS)}),
            RunButton("Train ArcFace with a smaller margin (m = 0.2) and compare it", "tastgram-arcface", "quick",
                      {"m": 0.2}, minutes="about 6 minutes on 2 cores")],
    runs=MARGIN_RUNS,
)
