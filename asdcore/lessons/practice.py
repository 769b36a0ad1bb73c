"""Lessons 6-8: domain shift, debugging a false alarm, and your own recordings."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..plots.intervals import interval_bars
from .base import Answer, Context, Lesson, Link, interval_pct

# --- 6. domain shift ------------------------------------------------------------------------------

SHIFT_NOISY, SHIFT_ADACOS, SHIFT_JLESS = "shift-tastgram-noisy-arcmix", "shift-subcluster-adacos", "shift-jless-mfn"
SHIFT_RUNS = (SHIFT_NOISY, SHIFT_ADACOS, SHIFT_JLESS)
SHIFT_BACKENDS = ("softmax", "cosine", "knn", "gmm", "lof")


def domain_aucs(context: Context) -> pd.DataFrame:
    """Per run (its default score) and, for the Noisy-ArcMix run, per scoring back-end: the AUC of each
    domain's anomalies against that domain's normals (DCASE 2020 protocol over the sections, arithmetic
    means), with a stratified bootstrap 95 % interval.  Columns: run_id, what, domain, value, low, high."""
    from ..evaluation.intervals import auc_intervals

    def make():
        rows = []
        sources = [(r, "score", context.run(r).label.replace(" · domain shift", "")) for r in SHIFT_RUNS]
        sources += [(SHIFT_NOISY, f"score_{b}", f"Noisy-ArcMix, {b}") for b in SHIFT_BACKENDS if b != "softmax"]
        for run_id, column, what in sources:
            clips = context.run(run_id).clips()
            if column not in clips:
                continue
            for domain in ("source", "target"):
                interval = auc_intervals(clips[clips["domain"] == domain], score=column, n_boot=500)["average"]
                rows.append({"run_id": run_id, "what": what, "domain": domain, **interval})
        return pd.DataFrame(rows)
    return context.cached("domain_aucs", make)


def shift_figures(context: Context) -> list:
    run = context.run(SHIFT_NOISY)
    return [plots.angle_histograms({run.label: run.clips()}, split_domain=True,
                                   title="Angle to the own section's centre, by domain (target hatched)"),
            interval_bars(domain_aucs(context), "what", "domain",
                          # not the normal / anomaly colours: these bars are domains, each of both labels
                          colors={"source": plots.CATEGORICAL[2], "target": plots.CATEGORICAL[3]},
                          title="AUC per domain (95 % bootstrap interval)", y_title="AUC (%)")]


def shift_answer(context: Context) -> Answer:
    table = domain_aucs(context)
    wide = table.pivot_table(index=["run_id", "what"], columns="domain", values=["value", "low", "high"], sort=False)
    values, lines = {}, []
    for (_, what), row in wide.iterrows():
        v = {d: {"auc": float(row[("value", d)]), "ci": (float(row[("low", d)]), float(row[("high", d)]))}
             for d in ("source", "target")}
        values[what] = v
        lines.append(f"- {what}: source **{100 * v['source']['auc']:.1f}** {interval_pct(*v['source']['ci'])}, "
                     f"target **{100 * v['target']['auc']:.1f}** {interval_pct(*v['target']['ci'])}")
    return Answer("AUC within each domain (anomalies against the normals of the same domain):\n" + "\n".join(lines),
                  values)


def shift_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    label = context.run(SHIFT_NOISY).label.replace(" · domain shift", "")
    own = v[label]
    drop = own["source"]["auc"] - own["target"]["auc"]
    best = max(v, key=lambda k: v[k]["target"]["auc"])
    apart = own["target"]["ci"][1] < own["source"]["ci"][0]
    text = (f"The target domain costs the softmax classifier {100 * drop:.1f} AUC points"
            + (" (the intervals do not overlap). " if apart else " (the intervals overlap: not certain here). ")
            + "With 4 target training clips per 120 source ones, target normals land far from a centre that was "
              "learnt from the source, so they look anomalous. ")
    if best != label:
        b = v[best]["target"]
        beyond = b["ci"][0] > own["target"]["ci"][1]
        text += (f"The best target AUC here, {100 * b['auc']:.1f}, is that of {best}"
                 + (", beyond the softmax's interval: " if beyond else ", within the softmax's interval: ")
                 + "scores that compare a clip with its nearest training clips (kNN, LOF) or with a mixture of "
                   "several Gaussians per section (GMM, sub-cluster AdaCos), which can give the few target clips a "
                   "component of their own, do not need one class centre to fit both domains.")
    return text


SHIFT = Lesson(
    number=6, slug="domain-shift", title="Domain shift: source and target",
    goal="See why a model trained mostly on one recording condition (source) raises alarms in another (target), "
         "and which scoring back-ends and systems hold up.",
    look="Top: Fig. 1 split by domain; target clips hatched. Do target normals sit as far from the centre as "
         "source anomalies? Its panel's AUCs are of the angle to the centre, the figure's own measure. Below: each "
         "domain's AUC of each run's anomaly score (what the answer gives, and Compare), for the three bundled "
         "shift systems and for the Noisy-ArcMix run scored by each back-end: the two measures differ.",
    question="How much AUC does the target domain cost, and which back-end or system loses least?",
    figures=shift_figures, answer=shift_answer, conclude=shift_conclusion,
    try_it=[Link("Source and target AUCs and the official score on Compare", "compare", {"data": "data/toy-domain"}),
            Link("The target domain's false alarms", "false-alarms", {"run": SHIFT_NOISY, "domain": "target"}),
            Link("The embedding map coloured by domain", "embeddings", {"run": SHIFT_NOISY, "color": "domain"})],
    runs=SHIFT_RUNS,
)

# --- 7. debugging a false alarm -------------------------------------------------------------------

ALARM_RUN = "tastgram-noisy-arcmix"


def top_false_alarm(context: Context) -> dict:
    """The normal test clip furthest above its machine ID's threshold (the 90th percentile of the ID's
    held-out normals, as the False alarms page decides by default), with its diagnosis and its nearest
    training normals."""
    from .. import alarms

    def make():
        run = context.run(ALARM_RUN)
        test, train = run.clips(), run.train_clips()
        reference = alarms.threshold_reference(train)
        decided = alarms.decide(test, alarms.thresholds_per_id(reference, "score"), "score")
        false = alarms.false_alarms(decided)
        index = false.index[0]
        row = false.loc[index]
        names = alarms.class_names(test, train)
        limits = alarms.per_id_percentile(reference, "angle_to_centre_deg").set_index(["machine_type", "machine_id"])
        limit = limits["value"].get((row["machine_type"], row["machine_id"]))
        position = test.index.get_loc(index)
        nearest = alarms.nearest_training_clips(run.embeddings()[position], run.train_embeddings(), train,
                                                row["machine_type"])
        rank, _ = alarms.score_rank(test, index)
        return {"index": int(index), "row": row, "n_false_alarms": len(false),
                "n_normals": int((decided["label"] == 0).sum()), "diagnosis": alarms.diagnose(row, limit, names),
                "angle_limit": float(limit) if limit is not None else float("nan"), "nearest": nearest,
                "rank": rank}
    return context.cached("top_false_alarm", make)


def alarm_figures(context: Context) -> list:
    case = top_false_alarm(context)
    row = case["row"]
    clips = context.run(ALARM_RUN).clips()
    of_id = clips[(clips["machine_type"] == row["machine_type"]) & (clips["machine_id"] == row["machine_id"])]
    # -log p piles up near 0 for the clips the model is sure of, and the threshold sits inside that pile:
    # on log10 of the score the clips just above the threshold get bins of their own
    logged = of_id.assign(log10_score=np.log10(of_id["score"].clip(lower=1e-6)))
    return [plots.score_histogram(logged, threshold=float(np.log10(max(row["threshold"], 1e-6))),
                                  score_column="log10_score",
                                  title=f"{row['machine_type']} {row['machine_id']}: log10 of the score and of the ID's "
                                        f"threshold; clip #{case['index']} is at {np.log10(row['score']):.2f}")]


def alarm_answer(context: Context) -> Answer:
    case = top_false_alarm(context)
    row, nearest = case["row"], case["nearest"]
    same = int(((nearest["machine_id"] == row["machine_id"]) & (nearest["machine_type"] == row["machine_type"])).sum())
    values = {"index": case["index"], "score": float(row["score"]), "threshold": float(row["threshold"]),
              "angle_to_centre_deg": float(row["angle_to_centre_deg"]),
              "angle_to_nearest_other_deg": float(row["angle_to_nearest_other_deg"]),
              "angle_limit_deg": case["angle_limit"], "diagnosis": case["diagnosis"],
              "predicted_class": int(row["predicted_class"]), "class_index": int(row["class_index"]),
              "nearest_same_id": same, "nearest_similarity": float(nearest["similarity"].iloc[0]),
              "n_false_alarms": case["n_false_alarms"], "n_normals": case["n_normals"], "rank": case["rank"]}
    text = (f"Of {values['n_normals']} normal test clips, {values['n_false_alarms']} score above their ID's threshold. "
            f"The furthest above is clip **#{values['index']}** ({row['machine_type']} {row['machine_id']}, "
            f"`{row['path']}`): score {values['score']:.2f} against a threshold of {values['threshold']:.2f} (on the "
            f"figure's log10 axis: {np.log10(max(values['score'], 1e-6)):.2f} against the dashed line at "
            f"{np.log10(max(values['threshold'], 1e-6)):.2f}), "
            f"rank {values['rank']} of all test clips. Its embedding lies {values['angle_to_centre_deg']:.0f}° from its "
            f"own centre (its ID's held-out normals lie within {values['angle_limit_deg']:.0f}° at the 90th "
            f"percentile) and {values['angle_to_nearest_other_deg']:.0f}° from the nearest other centre. "
            f"Diagnosis: *{values['diagnosis']}*. Of its 5 nearest training normals, {same} are of its own ID "
            f"(the nearest at cosine similarity {values['nearest_similarity']:.2f}).")
    return Answer(text, values)


def alarm_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    confused = v["predicted_class"] != v["class_index"]
    rate = v["n_false_alarms"] / v["n_normals"]
    text = (f"A threshold at the 90th percentile of normal scores expects about 10 % false alarms; here "
            f"{100 * rate:.1f} % of the normal test clips alarm. ")
    if confused:
        text += ("This one is an ID confusion: the network took the clip for another machine, so its own ID's "
                 "probability is low. Listen to it beside its nearest training normals: if it sounds like its own "
                 "machine, the classes of the two IDs overlap, and the alarm is the model's fault, not the machine's.")
    elif v["nearest_same_id"] >= 3:
        text += ("The network knows which machine it is, and its nearest training normals are of its own ID: the "
                 "clip is an unusual normal, at the edge of its class. Such alarms fall with more training data of "
                 "that condition, or a higher threshold for this ID.")
    else:
        text += ("Its nearest training normals are mostly of other IDs: the clip sounds unlike its machine's "
                 "training data. Check the recording before the machine.")
    return text + " One clip is one case: the False alarms page lists them all."


def alarm_links(context: Context) -> list:
    return [Link("Open this clip on False alarms: hear it and its nearest normals", "false-alarms",
                 {"run": ALARM_RUN, "clip": top_false_alarm(context)["index"]}),
            Link("Find it on the embedding map", "embeddings",
                 {"run": ALARM_RUN, "clip": top_false_alarm(context)["index"]})]


ALARM = Lesson(
    number=7, slug="debugging-a-false-alarm", title="Debugging a false alarm, step by step",
    goal="Take one false alarm of a bundled run and find out why it fired: its score, its angles, which machine "
         "the network took it for, and which training clips it resembles.",
    look="The score histogram of the clip's own machine ID, on log10 of the score (-log p crowds near 0): blue its "
         "normal test clips, orange its anomalies, the dashed line its threshold (90th percentile of the ID's "
         "held-out normals). The false alarms are the blue bars right of the line; our clip is the rightmost "
         "normal, at the log10 value the title gives (an orange bar may hide its blue one: the bars overlap).",
    question="Why did the furthest false alarm of TASTgram-MFN (Noisy-ArcMix) fire?",
    figures=alarm_figures, answer=alarm_answer, conclude=alarm_conclusion,
    try_it_live=alarm_links,  # the clip is found when the lesson renders
    runs=(ALARM_RUN,),
)

# --- 8. your own recordings -----------------------------------------------------------------------


def data_summary(context: Context) -> dict:
    from ..data import scan_dataset

    def make():
        ds = scan_dataset(context.user_data_root, check_audio=False)
        table = ds.summary_table()
        if table.empty:
            raise FileNotFoundError(f"no clips under {context.user_data_root}: `python -m asdcore data check "
                                    f"{context.user_data_root}` says why")
        return {"layouts": ds.layouts, "n_clips": len(ds.records), "n_ids": len(table),
                "n_types": int(table["machine_type"].nunique()), "table": table,
                "train_per_id": int(table["train normal"].median()) if "train normal" in table else 0}
    return context.cached("data_summary", make)


def own_figures(context: Context) -> list:
    summary = data_summary(context)
    table = summary["table"].copy()
    table["ID"] = table["machine_type"] + "/" + table["machine_id"]
    long = table.melt(id_vars=["ID"], value_vars=[c for c in ("train normal", "test normal", "test anomaly")
                                                  if c in table], var_name="split", value_name="value")
    long = long.assign(low=long["value"], high=long["value"])  # counts: no interval
    return [interval_bars(long, "ID", "split", title=f"Clips per machine ID in {context.user_data_root.name}",
                          y_title="clips", percent=False)]


def own_answer(context: Context) -> Answer:
    s = data_summary(context)
    values = {k: s[k] for k in ("layouts", "n_clips", "n_ids", "n_types", "train_per_id")}
    text = (f"`python -m asdcore data check {context.user_data_root}` finds the **{', '.join(s['layouts'])}** layout: "
            f"{s['n_clips']} clips, {s['n_ids']} machine IDs of {s['n_types']} machine types, "
            f"{s['train_per_id']} training normals per ID at the median. An ID classifier needs at least two IDs (or "
            "sections) to tell apart; with one machine only, the autoencoder recipe `dcase-ae` is the one that works.")
    return Answer(text, values)


def own_conclusion(context: Context, answer: Answer) -> str:
    return ("Put your recordings in one of the layouts the check reads (DCASE 2020: `<type>/train/normal_id_XX_*.wav`; "
            "DCASE 2021-2025: `<type>/train/section_XX_source_train_normal_*.wav`; or raw MIMII folders), run the "
            "check, then train `tastgram-noisy-arcmix` with the quick preset for 2 s clips, or the domain-shift "
            "systems when your recordings come from several conditions. The check only reads file names and "
            "headers: listen to a few clips before trusting any AUC.")


OWN = Lesson(
    number=8, slug="your-own-recordings", title="Your own recordings",
    goal="Know what the lab needs from your own recordings, how to check them, and which recipe to start from.",
    look="The clips per machine ID of the data set in use: training normals (what the model learns from), test "
         "normals and test anomalies (what the AUC is measured on).",
    question="What does the data check find in the data set in use, and how many training clips does each machine "
             "ID give a classifier?",
    figures=own_figures, answer=own_answer, conclude=own_conclusion,
    try_it=[Link("Train a run on a folder of your own (the Train page checks it first)", "train")],
)
