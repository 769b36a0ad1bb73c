"""Lessons 4-5: mixup and the noisy label (ArcMix, Noisy-ArcMix), and where ID classifiers fail."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plots
from ..plots.intervals import difference_forest, interval_bars
from .base import Answer, Context, Lesson, Link, RunButton, interval_pct
from .basics import test_clips

# --- 4. mixup, ArcMix and Noisy-ArcMix ------------------------------------------------------------

NOISY, ARCMIX, ARCFACE = "tastgram-noisy-arcmix", "tastgram-arcmix", "tastgram-arcface"
MIXUP_PAIRS = ((NOISY, ARCMIX), (NOISY, ARCFACE), (ARCMIX, ARCFACE))


def mixup_comparisons(context: Context) -> dict:
    """(run_a, run_b) -> asdcore.significance.PairedComparison (DeLong, paired on the shared test clips)."""
    from ..significance import paired_comparison

    return context.cached("mixup_comparisons", lambda: {
        (a, b): paired_comparison(context.run(a), context.run(b)) for a, b in MIXUP_PAIRS})


def forest_rows(context: Context) -> pd.DataFrame:
    """One row per pair and machine type (then the average): name, difference, ci_low, ci_high."""
    rows = []
    for (a, b), c in mixup_comparisons(context).items():
        pair = f"{context.run(a).label.split('(')[-1].rstrip(')')} − {context.run(b).label.split('(')[-1].rstrip(')')}"
        rows.append({"name": f"{pair}: average", **{k: c.average[k] for k in ("difference", "ci_low", "ci_high")}})
    return pd.DataFrame(rows)


def mixup_figures(context: Context) -> list:
    return [plots.target_logit_curves(lam=0.3, title="What each loss does with a mixed clip (λ = 0.3 on y_a)"),
            difference_forest(forest_rows(context),
                              title="Paired AUC differences on the same test clips (DeLong, 95 % CI)")]


def seed_sd(context: Context, recipes) -> dict:
    """recipe -> (n seeds, mean, sd of the average AUC in %) from checkpoints/seeds.json, where a recipe has seeds."""
    from ..significance import seed_spread

    spread = seed_spread(recipes, context.bundled / "seeds.json")
    if spread.empty:
        return {}
    return {r: (int(n), float(m), float(s)) for r, n, m, s in zip(
        spread[("recipe", "")], spread[("seeds", "")], spread[("Average", "mean")], spread[("Average", "sd")])}


def angle_pairs(context: Context, comparisons) -> dict:
    """"a - b" -> the paired test of the two runs' pooled angle AUC (asdcore.significance.paired_angle_auc)."""
    from ..significance import paired_angle_auc

    out = {}
    for a, b in comparisons:
        run_a, run_b = context.run(a), context.run(b)
        test = paired_angle_auc(run_a, run_a.clips(), run_b, run_b.clips())
        if test is not None:
            out[f"{a} - {b}"] = {k: float(v) for k, v in test.items()} | {
                "within_noise": test["ci_low"] <= 0 <= test["ci_high"]}
    return out


def mixup_answer(context: Context) -> Answer:
    comparisons = mixup_comparisons(context)
    values = {"pairs": {f"{a} - {b}": {**{k: float(c.average[k]) for k in ("auc_a", "auc_b", "difference",
                                                                          "ci_low", "ci_high", "p_value")},
                                       "within_noise": c.within_noise()}
                        for (a, b), c in comparisons.items()},
              "seeds": seed_sd(context, (NOISY, ARCMIX, ARCFACE)),
              "names": {f"{a} - {b}": f"{context.run(a).label} − {context.run(b).label}" for a, b in comparisons},
              # the same pairs on the Angles page's angle AUC: Fig. 1 can differ where detection does not
              "angle_pairs": angle_pairs(context, comparisons)}
    lines = []
    for (a, b), c in comparisons.items():
        v = c.average
        lines.append(f"- {context.run(a).label} {100 * v['auc_a']:.2f} against {context.run(b).label} "
                     f"{100 * v['auc_b']:.2f}: **{100 * v['difference']:+.2f}** points, 95 % CI "
                     f"[{100 * v['ci_low']:+.2f}, {100 * v['ci_high']:+.2f}], p = {v['p_value']:.2f}"
                     + (" (within the noise)" if c.within_noise() else " (a real difference on these clips)"))
    text = "Average AUC, paired on the same test clips:\n" + "\n".join(lines)
    if values["seeds"]:
        text += ("\n\nRetrained with other seeds (same data and settings), the average AUC varies by "
                 + "; ".join(f"{context.run(r).label} ± {sd:.2f} sd over {n} seeds"
                             for r, (n, _, sd) in values["seeds"].items()) + ".")
    return Answer(text, values)


def mixup_conclusion(context: Context, answer: Answer) -> str:
    from ..compare import LOSS_NAMES, PAPER_MARGIN_ORDER

    pairs = answer.values["pairs"]
    noise = [p for p, v in pairs.items() if v["within_noise"]]
    paper = ", ".join(f"{LOSS_NAMES[k]} {v:.2f}" for k, v in PAPER_MARGIN_ORDER.items())
    if len(noise) == len(pairs):
        head = ("On the toy data, after a few CPU epochs, the three losses cannot be told apart: every paired "
                "interval includes 0. ")
    else:
        real = [answer.values["names"][p] for p in pairs if p not in noise]
        head = (f"Of the three pairs, {len(real)} {'differs' if len(real) == 1 else 'differ'} beyond the noise of "
                f"the test clips ({'; '.join(real)}); {'the others do' if len(noise) > 1 else 'the other does'} not. "
                "But the intervals count the test clips only: a difference between two single trainings is also a "
                "difference of seeds. ")
        seeds = answer.values["seeds"]
        for pair in (p for p in pairs if p not in noise):
            a, b = pair.split(" - ")
            if a in seeds and b in seeds:
                # two independent single runs: Var(a - b) = sd_a^2 + sd_b^2 over training seeds
                spread = (seeds[a][2] ** 2 + seeds[b][2] ** 2) ** 0.5
                measured = 100 * abs(pairs[pair]["difference"])
                head += (f"Over training seeds, {answer.values['names'][pair]} varies by about {spread:.2f} points "
                         f"(√(sd_a² + sd_b²)), against the {measured:.2f} measured: "
                         + ("over twice that spread, so more likely a difference of the methods. "
                            if measured > 2 * spread else
                            "not twice that spread, so it may be a difference of seeds, not of the methods. "))
    angles = answer.values.get("angle_pairs", {})
    # a pair whose detection AUCs are within the noise while Fig. 1's angle AUCs are not: say both are true
    split = [p for p in noise if p in angles and not angles[p]["within_noise"]]
    if split:
        head += ("On the Angles page the picture differs: " + "; ".join(
            f"{answer.values['names'][p]} has an angle AUC {angles[p]['difference']:+.3f} "
            f"[{angles[p]['ci_low']:+.3f}, {angles[p]['ci_high']:+.3f}] apart, a real difference" for p in split)
            + ". Both are true: the angle to the own centre is only part of the anomaly score (a softmax score also "
            "weighs the other centres), so a real gap in Fig. 1 need not be a gap in detection. ")
    return (head + "What the noisy label changes is in the top figure: ArcMix puts a mixed clip on the side of "
            "its larger weight, Noisy-ArcMix always on y_a's side, a label noise that the paper found to "
            "regularise. The paper's ranking comes from the real DCASE 2020 data after 300 epochs (TASTgram-MFN, "
            f"average AUC: {paper}); do not read these toy runs as confirming or refuting it.")


MIXUP = Lesson(
    number=4, slug="mixup-arcmix-noisy-arcmix", title="Mixup, ArcMix and Noisy-ArcMix",
    goal="Understand what mixing two clips and their labels does to a margin loss, and learn to ask whether "
         "a difference between two methods is real before believing it.",
    look="Top, right panel: a mixed clip (30 % of y_a, 70 % of y_b) and the loss each method gives it as its "
         "embedding moves from y_a's centre to y_b's; each star is where that loss wants it. Below: each dot is the "
         "difference in average AUC between two runs on the same test clips, with its 95 % interval; grey means "
         "the interval includes 0.",
    question="Is Noisy-ArcMix better than ArcMix and ArcFace on the toy data?",
    figures=mixup_figures, answer=mixup_answer, conclude=mixup_conclusion,
    try_it=[Link("The three runs side by side on Compare (≈ marks differences within the noise)", "compare",
                 {"runs": f"{NOISY},{ARCMIX},{ARCFACE}"}),
            Link("Fig. 1 for the three losses", "angles", {"runs": f"{NOISY},{ARCMIX},{ARCFACE}"}),
            RunButton("Train Noisy-ArcMix with a new seed (3) and see where it lands", NOISY, "quick", {"seed": 3},
                      minutes="about 6 minutes on 2 cores")],
    runs=(NOISY, ARCMIX, ARCFACE),
)

# --- 5. where classifiers fail --------------------------------------------------------------------

AUTOENCODER = "dcase-ae"
FAILURE_RUNS = (NOISY, AUTOENCODER)


def family_aucs(context: Context) -> pd.DataFrame:
    """AUC (DCASE protocol: per machine ID, mean per type, mean over types) of each run's default score on
    each fault family's anomalies against all normals, with its stratified bootstrap 95 % interval.
    Columns: run, family, n_anomalies, value, low, high."""
    from ..evaluation.intervals import auc_intervals

    def make():
        meta = test_clips(context)[["path", "fault_family"]]
        rows = []
        for run_id in FAILURE_RUNS:
            run = context.run(run_id)
            clips = run.clips().drop(columns=["fault_family"], errors="ignore").merge(meta, on="path", how="left")
            normals = clips[clips["label"] == 0]
            for family in sorted(clips["fault_family"].dropna().unique()):
                anomalies = clips[(clips["label"] == 1) & (clips["fault_family"] == family)]
                # only the machine types that have this family's faults
                subset = pd.concat([normals[normals["machine_type"].isin(anomalies["machine_type"])], anomalies])
                interval = auc_intervals(subset, n_boot=500)["average"]
                rows.append({"run": run.label, "run_id": run_id, "family": family, "n_anomalies": len(anomalies),
                             "value": interval["value"], "low": interval["low"], "high": interval["high"]})
        return pd.DataFrame(rows)
    return context.cached("family_aucs", make)


def short_added_fault(context: Context) -> pd.Series | None:
    """The anomalous test clip of the classifier run with the shortest 'added' fault (its index in clips)."""
    clips = context.run(NOISY).clips()
    # the family from the data set's metadata, by path (a map keeps the clips' index: row i of attention.npy)
    clips = clips.assign(fault_family=clips["path"].map(test_clips(context).set_index("path")["fault_family"]))
    added = clips[(clips["label"] == 1) & (clips["fault_family"] == "added")]
    if added.empty:
        return None
    length = added["fault_offset_s"] - added["fault_onset_s"]
    return added.loc[length.sort_values(kind="stable").index[0]]


def failure_figures(context: Context) -> list:
    figures = [interval_bars(family_aucs(context), "family", "run", title="AUC per fault family (95 % bootstrap "
                             "interval)", y_title="AUC (%)")]
    row = short_added_fault(context)
    weights = context.run(NOISY).attention()
    if row is not None and weights is not None:
        from ..data.audio import load_clip
        from ..melspec import LogMelConfig, log_mel_numpy

        run = context.run(NOISY)
        features = {k: v for k, v in run.config["features"].items() if k != "variant"}
        cfg = LogMelConfig.from_dict(features)
        wave = load_clip(run.clip_path(row), run.config["data"]["clip_seconds"], cfg.sample_rate,
                         run.config["data"].get("pad_mode", "constant"))
        position = run.clips().index.get_loc(row.name)
        figures.append(plots.attention_figure(
            log_mel_numpy(wave, cfg), weights[position], cfg.sample_rate, cfg.hop_length,
            fault_span=(row["fault_onset_s"], row["fault_offset_s"]), fault_kind=row["fault_kind"],
            title=f"{row['machine_type']} {row['machine_id']}: the shortest added fault, with TASTgram's attention "
                  f"(score {row['score']:.1f})"))
    return figures


def failure_answer(context: Context) -> Answer:
    table = family_aucs(context)
    values = {f"{r.run_id}:{r.family}": {"auc": float(r.value), "ci": (float(r.low), float(r.high)),
                                         "n_anomalies": int(r.n_anomalies)} for r in table.itertuples()}
    text = "AUC on each fault family's anomalies against the same normals:\n" + "\n".join(
        f"- {r.run}, *{r.family}* faults ({r.n_anomalies} clips): **{100 * r.value:.1f}** "
        f"{interval_pct(r.low, r.high)}" for r in table.itertuples())
    return Answer(text, values)


def _attention_on_shown_clip(context: Context) -> str:
    """The figure's question, answered for its clip: the attention's mean weight inside the fault's
    span against outside it ("" without weights or a span with frames on both sides)."""
    row = short_added_fault(context)
    weights = context.run(NOISY).attention()
    if row is None or weights is None:
        return ""
    run = context.run(NOISY)
    w = np.asarray(weights[run.clips().index.get_loc(row.name)], dtype=float)
    from ..melspec import LogMelConfig

    cfg = LogMelConfig.from_dict({k: v for k, v in run.config["features"].items() if k != "variant"})
    seconds = np.arange(len(w)) * cfg.hop_length / cfg.sample_rate  # frame t starts at t hops
    inside = (seconds >= row["fault_onset_s"]) & (seconds <= row["fault_offset_s"])
    if not inside.any() or inside.all():
        return ""
    w_in, w_out = float(w[inside].mean()), float(w[~inside].mean())
    opens = "it opens on the fault" if w_in > w_out else "it does not open on the fault"
    return (f"On the clip shown, the attention's mean weight is {w_in:.2f} inside the fault and {w_out:.2f} outside: "
            f"{opens} (TAgram has no learnt parameters: it weighs frames by their own loudness). ")


def failure_conclusion(context: Context, answer: Answer) -> str:
    v = answer.values
    s, a = v.get(f"{NOISY}:structural"), v.get(f"{NOISY}:added")
    if not s or not a:
        return "This data set has one fault family only: make the `hard` preset to see the other."
    worse = a["ci"][1] < s["ci"][0]
    text = (f"The ID classifier finds structural faults with {100 * s['auc']:.1f} AUC and added ones with "
            f"{100 * a['auc']:.1f}: " + ("the intervals do not overlap, the gap is real. " if worse else
                                         "the intervals overlap, so on these clips the gap may be noise. "))
    ae_s, ae_a = v.get(f"{AUTOENCODER}:structural"), v.get(f"{AUTOENCODER}:added")
    if ae_s and ae_a:
        better = ae_a["ci"][0] > a["ci"][1]
        text += (f"The autoencoder, which models the sound itself rather than the machine's identity, scores "
                 f"{100 * ae_a['auc']:.1f} on added faults and {100 * ae_s['auc']:.1f} on structural ones"
                 + (", beyond the classifier on added faults. " if better else
                    ": not beyond the classifier's interval on added faults. "))
    text += _attention_on_shown_clip(context)
    return text + ("An added sound leaves the machine's identity intact, so 'not my machine' is the wrong question "
                   "for it; a short one is also diluted over a 2 s clip. The `hard` preset (`python -m asdcore data toy "
                   "--out data/toy-hard --preset hard`) is made of such faults.")


FAILURES = Lesson(
    number=5, slug="where-classifiers-fail", title="Where ID classifiers fail",
    goal="Find the faults an ID classifier is blind to, and see whether a detector that models the sound "
         "itself does better there.",
    look="Top: AUC per fault family for the TASTgram-MFN classifier and the DCASE autoencoder baseline. "
         "Below: the shortest added fault in the test set, its true span boxed, TASTgram's temporal attention "
         "as the white line: does the attention find it?",
    question="Which fault family does the ID classifier detect worst, and does the autoencoder catch those faults?",
    figures=failure_figures, answer=failure_answer, conclude=failure_conclusion,
    try_it=[Link("Short faults under the attention, clip by clip", "attention", {"run": NOISY}),
            Link("Missed anomalies, and why", "false-alarms", {"run": NOISY, "list": "missed"})],
    runs=FAILURE_RUNS,
)
