"""Attention: where in time a TAgram model looks, against where the fault really is.

One clip's log-mel (computed with the run's own LogMelConfig), the TAgram per-frame weights
(attention.npy) along time, the toy factory's true fault span, the audio, and the clip's score
with its rank among the test clips and the verdict at the DCASE threshold.  The figures over all
test clips are those the evaluation stored in eval/metrics.json ("attention"); nothing is computed here.
"""
import numpy as np
import streamlit as st

from asdcore import alarms
from asdcore.evaluation.attention import SHORT_SPAN, frame_settings, inside_outside
from asdcore.plots.style import fmt
from app_pages.shared.cache import array, clips, train_clips
from app_pages.shared.clip_picker import pick_clip
from app_pages.shared.clip_view import play_clip, show_clip_spectrogram
from app_pages.shared.url_state import select_evaluated_run

st.title("Temporal attention")
st.markdown(
    "TASTgram-MFN's **TAgram** branch weighs each time frame of the log-mel (max + mean over the mel bands, "
    "through a sigmoid): a soft energy gate. Does it open where the fault is? The shaded span is where the "
    "toy factory put the fault; the white line is the weight per frame.\n\n"
    "The gate has **no learnt parameters** (its weights come from the clip's own log-mel), so every TASTgram "
    "run draws the same weights for a clip, whatever its loss: what the loss changes is what the network does "
    "with the gated log-mel, which Angles and Compare show.")

run = select_evaluated_run()
test = clips(run)
clip_seconds = float(run.config.get("data", {}).get("clip_seconds", 10.0))
attention = array(run, "attention.npy") if (run.path / "eval" / "attention.npy").exists() else None
hop_length, sample_rate, _ = frame_settings(run.config)


def short_faults(subset):
    """The anomalous clips whose known fault span covers less than SHORT_SPAN (60 %) of the clip:
    there is time outside the fault to compare the weights with (the summary below counts these)."""
    if "fault_onset_s" not in subset.columns:
        return subset.iloc[[]]
    span = subset["fault_offset_s"] - subset["fault_onset_s"]
    return subset[(subset["label"] == 1) & span.notna() & (span < SHORT_SPAN * clip_seconds)]


def clip_inside_outside(index) -> tuple[float, float] | None:
    """The clip's mean attention weight inside its fault span and outside it (None without weights
    or a span with frames on both sides)."""
    row = test.loc[index]
    if attention is None or not np.isfinite(row.get("fault_onset_s", np.nan)):
        return None
    return inside_outside(attention[int(index)], row["fault_onset_s"], row["fault_offset_s"], hop_length, sample_rate)


def prefer_known_fault(subset):
    """An anomalous clip with a short known fault span, the highest-scoring one whose weights are
    higher inside the fault than outside when that is what most short faults show (the summary's
    typical case, not an exception to it); else any clip with a fault span; else any clip."""
    with_fault = subset[(subset["label"] == 1) & subset["fault_onset_s"].notna()] \
        if "fault_onset_s" in subset.columns else subset.iloc[[]]
    short = short_faults(subset)
    summary = run.eval_metrics().get("attention") or {}
    if not short.empty and attention is not None and (summary.get("inside_higher") or 0) >= 0.5:
        typical = [i for i in short.index if (found := clip_inside_outside(i)) and found[0] > found[1]]
        short = short.loc[typical] if typical else short
    pool = short if not short.empty else with_fault if not with_fault.empty else subset
    return pool["score"].idxmax() if pool["score"].notna().any() else pool.index[0]


def _short_only_changed():
    # short faults are all anomalous clips: a "normal" label filter would leave nothing to pick
    if st.session_state.get("attention_short_only"):
        st.session_state["attention_label"] = "anomaly"


n_short = len(short_faults(test))
short_only = st.checkbox(
    f"Short faults only ({n_short} clips whose fault covers less than {100 * SHORT_SPAN:.0f} % of the clip)",
    key="attention_short_only", disabled=n_short == 0, on_change=_short_only_changed,
    help="The clip list shows each fault's span and length; with this on it lists only the short ones, "
         "where the weights inside and outside the fault can be compared.")
index = pick_clip(short_faults(test) if short_only and n_short else test, prefer_known_fault, prefix="attention")
row = test.loc[index]

if (run.path / "eval" / "attention.npy").exists():
    summary = run.eval_metrics().get("attention")  # written by the evaluation (asdcore.evaluation.attention)
    if summary is None:
        st.caption(f"This run was evaluated before the attention summary was stored in eval/metrics.json: "
                   f"`python -m asdcore evaluate {run.path} --recompute` adds it.")
    else:
        text = (f"Over all {summary.get('n_clips', len(test))} test clips, **{100 * summary['saturated']:.0f} %** of "
                f"the weights are above 0.99 (a gate stuck open would show nothing), mean {summary['mean']:.2f}.")
        if summary["n_short"]:
            text += (f" Over the {summary['n_short']} anomalous clips whose fault covers less than "
                     f"{100 * summary.get('short_span', SHORT_SPAN):.0f} % of the clip, the mean weight inside the "
                     f"fault's span is **{summary['inside']:.2f}** against **{summary['outside']:.2f}** outside it "
                     f"(higher inside for {100 * summary['inside_higher']:.0f} % of them).")
        st.caption(text)
    here = clip_inside_outside(index)
    if here is not None:  # this clip against the summary: typical, or one of the exceptions
        higher = here[0] > here[1]
        share = summary.get("inside_higher") if summary else None
        st.caption(f"This clip: mean weight **{here[0]:.2f}** inside its fault's span, **{here[1]:.2f}** outside it: "
                   + ("higher inside" if higher else "**higher outside** the fault")
                   + (f", as for {100 * (share if higher else 1 - share):.0f} % of the short faults." if share is not None
                      else "."))
else:
    st.info(f"**{run.label}** has no temporal attention: only TAgram models (TASTgram-MFN) have it. "
            "The spectrogram and the fault span are shown alone; pick a TASTgram run above to see the weights.")
left, right = st.columns([3, 1])
with left:
    show_clip_spectrogram(run, test, index)
with right:
    st.markdown(f"**{row['machine_type']} {row['machine_id']}**, "
                + ("anomalous" if row["label"] == 1 else "normal")
                + (f" ({row['fault_kind']}, severity {fmt(row.get('severity'), '.2f')})"
                   if isinstance(row.get("fault_kind"), str) else ""))
    play_clip(run, row)
    rank, percentile = alarms.score_rank(test, index, "score")
    st.metric(f"Anomaly score ({run.config.get('eval', {}).get('backend', 'default')})", fmt(row["score"], ".4g"))
    st.metric("Rank among the test clips", f"{rank} of {int(test['score'].notna().sum())}" if rank else "—",
              help="1 = the most anomalous test clip")
    if np.isfinite(percentile):
        st.caption(f"at or above {fmt(percentile, '.0f')} % of the test clips' scores")
    column = alarms.decision_column(test, "score")  # as the False alarms page decides (subcluster: eq. 3's first term)
    thresholds = alarms.thresholds_per_id(alarms.threshold_reference(train_clips(run)), column,
                                          alarms.DEFAULT_PERCENTILE,
                                          rule=run.config.get("eval", {}).get("threshold_rule", "percentile"))
    decided = alarms.decide(test.loc[[index]], thresholds, column).iloc[0]
    if decided["outcome"] == alarms.NO_THRESHOLD:
        st.caption("No training normals of this machine ID were scored: no threshold.")
    else:
        verdict = "anomalous" if decided["called_anomalous"] else "normal"
        correct = decided["outcome"] in (alarms.DETECTED, alarms.PASSED)
        say = st.success if correct else st.error
        say(f"Called **{verdict}** at the threshold {fmt(decided['threshold'], '.4g')} "
            f"(90th percentile of {row['machine_type']} {row['machine_id']}'s held-out validation normals where "
            f"the run kept enough, as on the False alarms page): **{decided['outcome']}**.")
