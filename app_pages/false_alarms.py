"""False alarms: at a decision threshold, which clips does the model get wrong, and why?

Thresholds are per machine ID, at a percentile (90 by default, as DCASE 2021-2023) of that ID's
held-out validation normals' scores (asdcore.alarms.threshold_reference).  The page lists the
false alarms (normal clips above their threshold) and the missed anomalies (anomalous clips at
or below), and opens one: the machine ID the model took it for, its angles, audio, spectrogram,
nearest training normals, a one-line diagnosis, and the difference view (its log-mel minus the
mean of its nearest normals', asdcore.plots.difference_figure).
The numbers come from asdcore.alarms; this page only wires them.
"""
import pandas as pd
import streamlit as st

from asdcore import alarms, plots
from asdcore.plots.style import filter_clips, fmt
from asdcore.evaluation.scoring import BACKEND_DESCRIPTIONS
from app_pages.shared.cache import clips, train_clips
from app_pages.shared.clip_picker import clip_label
from app_pages.shared.clip_view import (embedding_of, nearest_neighbours, play_clip, show_clip_facts,
                                        show_clip_spectrogram, show_difference_view, show_neighbours)
from app_pages.shared.logmel import clip_logmel
from app_pages.shared.domain_filter import domain_filters, has_domains, machine_filters
from app_pages.shared.url_state import query_int, select_evaluated_run, url_choice_key, url_value_key

LISTS = {"false-alarms": "False alarms", "missed": "Missed anomalies"}
PERCENTILE_RANGE = (50.0, 99.5)


def url_percentile() -> float:
    """?pct= within the slider's range, else the DCASE 90."""
    try:
        value = float(st.query_params.get("pct", alarms.DEFAULT_PERCENTILE))
    except ValueError:
        value = alarms.DEFAULT_PERCENTILE
    return min(max(value, PERCENTILE_RANGE[0]), PERCENTILE_RANGE[1])


def error_table(listed: pd.DataFrame, score_column: str, angle_limits: pd.DataFrame, names: dict,
                neighbours_of=None) -> pd.DataFrame:
    """The listed clips with the diagnosis and what an engineer looks at first, short headers.
    `neighbours_of(index)` gives a clip's nearest training normals, so that each line's diagnosis is
    the one the opened clip shows."""
    limits = angle_limits.set_index(["machine_type", "machine_id"])["value"]
    table = pd.DataFrame({"clip": listed.index, "type": listed["machine_type"], "ID": listed["machine_id"]},
                         index=listed.index)
    table["diagnosis"] = [alarms.diagnose(row, limits.get((row["machine_type"], row["machine_id"])), names,
                                          neighbours=neighbours_of(index) if neighbours_of else None)
                          for index, row in listed.iterrows()]
    if "predicted_machine_id" in listed.columns:
        table["classified as"] = [alarms.predicted_machine(row, names) for _, row in listed.iterrows()]
    shown = {score_column: "score", "threshold": "threshold", "margin": "score − threshold",
             "angle_to_centre_deg": "angle to own centre",
             "angle_to_nearest_other_deg": "angle to nearest other", "fault_kind": "fault"}
    for column, header in shown.items():
        if column in listed.columns and listed[column].notna().any():  # normals have no fault: no column
            table[header] = listed[column]
    return table


st.title("False alarms and missed anomalies")
st.markdown(
    "A clip is called **anomalous** when its score is above its machine ID's threshold, by default the "
    "90th percentile of the scores of that ID's normal training clips (the DCASE 2021-2023 decision rule; "
    "here its held-out validation normals, which the network never trained on). Open a "
    "false alarm to decide whether it is real: which machine the model took it for, how far it lies from "
    "the class centres, what it sounds like and which training normals it resembles.")

run = select_evaluated_run()
if st.session_state.get("false_alarms_run") not in (None, run.id):
    # another run: its own default back-end, rule and worst clip, not the last run's (a softmax
    # score and clip #382 kept over the sub-cluster AdaCos run showed an arbitrary clip)
    for param in ("backend", "rule", "clip"):
        st.session_state.pop(f"url_{param}", None)
        st.query_params.pop(param, None)
st.session_state["false_alarms_run"] = run.id
test, train = clips(run), train_clips(run)
backends = alarms.score_backends(test, train)
if not backends:
    st.error(f"`{run.id}` has no score_<backend> columns in its clips tables: evaluate it again with "
             f"`python -m asdcore evaluate {run.path} --recompute`.")
    st.stop()

# --- the decision rule, kept in the URL --------------------------------------------------------
c_backend, c_pct, c_rule, c_type, c_id = st.columns([2, 2, 1, 1, 1])
default_backend = run.config.get("eval", {}).get("backend")
backend = c_backend.selectbox(
    "Scoring back-end", backends,
    key=url_choice_key("backend", backends, default_backend if default_backend in backends else backends[0]),
    help="\n\n".join(f"**{b}**: {BACKEND_DESCRIPTIONS.get(b, '')}" for b in backends))
percentile = c_pct.slider("Threshold: percentile of each ID's normal scores", *PERCENTILE_RANGE,
                          key=url_value_key("pct", url_percentile()), step=0.5, format="%.1f",
                          help="of its held-out validation normals (never trained on) when the run kept at least "
                               f"{alarms.MIN_HELD_OUT}, else of all its training normals")
run_rule = run.config.get("eval", {}).get("threshold_rule", "percentile")
rules = list(alarms.THRESHOLD_RULES)
rule = c_rule.selectbox("Rule", rules, key=url_choice_key("rule", rules, run_rule),
                        format_func=lambda r: {"percentile": "empirical", "gamma": "gamma fit"}[r],
                        help="empirical: the percentile of the reference normals' scores; gamma fit: the "
                             "percentile of a gamma distribution fitted to them (the DCASE 2021-2022 "
                             "baselines and the JLESS system), smoother with few clips"
                             + (f". This run's recipe uses {run_rule}." if run_rule != "percentile" else ""))
st.query_params.update(backend=backend, pct=f"{percentile:g}", rule=rule)
type_filter, id_filter = machine_filters([test], c_type, c_id)
domain_data = has_domains([test])
if domain_data:  # DCASE 2021-2023 data: which domain, which operating condition
    c_domain, c_attr, _ = st.columns([1, 1, 2])
    scope = filter_clips(test, type_filter, id_filter)
    domain, attributes = domain_filters([test], c_domain, c_attr, scope=scope)
else:
    domain = attributes = None
st.caption(f"**{backend}**: {BACKEND_DESCRIPTIONS.get(backend, '')}")

# the score decisions use: the back-end's own, or its decision score where it has one (subcluster:
# target clips on the first term of eq. 3, as the report thresholds them)
score_column = alarms.decision_column(test, f"score_{backend}")
if score_column != f"score_{backend}":
    st.caption("Decided as the sub-cluster AdaCos report does: source clips on eq. 2, target clips on the first "
               "term of eq. 3 alone (its target mixture is fitted on the few target training clips the "
               "threshold would come from). The AUCs rank by the whole of eq. 3.")
reference = alarms.threshold_reference(train)  # held-out validation normals where an ID has enough
thresholds = alarms.thresholds_per_id(reference, score_column, percentile, rule=rule)
decided = alarms.decide(test, thresholds, score_column)
shown = filter_clips(decided, type_filter, id_filter, domain, attributes)
false_alarms, missed = alarms.false_alarms(shown), alarms.missed_anomalies(shown)

# --- how many, and where -----------------------------------------------------------------------
n_normal, n_anomaly = int((shown["label"] == 0).sum()), int((shown["label"] == 1).sum())
c_fa, c_missed, c_where = st.columns([1, 1, 2])
c_fa.metric("False alarms / normal clips", f"{len(false_alarms)} / {n_normal}",
            delta=f"{len(false_alarms) / max(n_normal, 1):.0%} of the normals", delta_color="off", delta_arrow="off",
            help="normal test clips scoring above their machine ID's threshold")
c_missed.metric("Missed / anomalous clips", f"{len(missed)} / {n_anomaly}",
                delta=f"{len(missed) / max(n_anomaly, 1):.0%} of the anomalies", delta_color="off", delta_arrow="off",
                help="anomalous test clips scoring at or below their machine ID's threshold")
n_ids, n_held_out = alarms.threshold_groups(reference), alarms.held_out_ids(reference)
per = "machine ID and domain" if domain_data else "machine ID"
if n_held_out == n_ids:
    source = (f"its held-out validation normals ({len(reference)} clips in all, never trained on, so scored "
              "as unseen clips are)")
elif n_held_out:
    source = (f"its held-out validation normals for {n_held_out} of {n_ids} groups, all its training normals "
              "for the rest (too few held out)")
else:
    source = "all its training normals (this run held too few out)"
c_where.caption(f"Thresholds at the {percentile:g}th percentile "
                + ("of a gamma distribution fitted to " if rule == "gamma" else "of ")
                + f"each {per}'s reference normals: {source}. "
                "A few normals per ID make a rough percentile: expect more than the nominal "
                f"{100 - percentile:g} % false alarms"
                + ("; clips the network trained on score lower than unseen ones, so thresholds from them run "
                   "low" if n_held_out < n_ids else "")
                + ".")

if domain_data:  # the domain shift, in false alarms: the target normals cross thresholds set mostly by source clips
    scope = filter_clips(decided, type_filter, id_filter, attributes=attributes)
    rates = alarms.false_alarm_rate_by_domain(scope)
    st.caption(f"False-alarm rate by domain at this threshold: source {rates['source']:.0%}, target "
               f"{rates['target']:.0%} of the normals.")

left, right = st.columns([5, 4])
with left:
    one = thresholds[(thresholds["machine_type"] == type_filter) & (thresholds["machine_id"] == id_filter)]
    if domain is not None and "domain" in one.columns:
        one = one[one["domain"] == domain]
    if id_filter is not None and len(one) == 1:  # one ID (and domain): its own scores against its own threshold
        threshold = float(one["threshold"].iloc[0])
        fig = plots.score_histogram(shown, threshold, score_column,
                                    title=f"{type_filter} {id_filter}: scores and the threshold ({backend})")
    else:  # several thresholds (IDs, domains): the distance to one's own threshold is the common scale
        fig = plots.score_histogram(shown.assign(**{"score − threshold": shown["margin"]}), 0.0,
                                    "score − threshold",
                                    title=f"Score minus its machine ID's threshold ({backend}, "
                                          f"{type_filter or 'all machines'})")
    st.plotly_chart(fig, config={"displaylogo": False})
with right:
    st.markdown("**Per machine type and ID**" + (" **and domain**" if domain_data else ""))
    counts = alarms.counts_per_id(shown, by_domain=domain_data).rename(columns={
        "machine_type": "type", "machine_id": "ID", "false_alarms": "false alarms",
        "missed_anomalies": "missed"})
    st.dataframe(counts, hide_index=True, width="stretch",
                 column_config={"threshold": st.column_config.NumberColumn(format="%.4g")})

# --- the list, and one clip opened -------------------------------------------------------------
st.subheader("The clips it gets wrong")
listed_by = {"false-alarms": false_alarms, "missed": missed}
in_url = query_int("clip")
url_list = next((k for k, t in listed_by.items() if in_url in t.index), "false-alarms")
which = st.radio("Show", list(LISTS), horizontal=True,
                 key=url_choice_key("list", list(LISTS), url_list),
                 format_func=lambda k: f"{LISTS[k]} ({len(listed_by[k])})")
st.query_params["list"] = which
listed = listed_by[which]
if listed.empty:
    st.success(f"No {LISTS[which].lower()} at this threshold.")
    st.stop()
# how far a normal of the ID lies from its centre (both domains: one class, one centre per section)
angle_limits = alarms.per_id_percentile(reference, "angle_to_centre_deg", alarms.DEFAULT_PERCENTILE,
                                        keys=alarms.MACHINE)
names = alarms.class_names(test, train)
options = listed.index.tolist()
# The picker's key names the run, list, back-end and rule: a widget kept across a run switch showed
# the old run's label ("score 40.7") over the new run's clip.  The URL's clip carries over when
# the new list has it.
clip_key = f"false_alarms_clip-{run.id}-{which}-{backend}-{rule}"
table_key = f"false_alarms_table-{run.id}-{which}-{backend}-{rule}"
if st.session_state.get(clip_key) not in options:  # first visit, another list, or the filters left it out
    st.session_state[clip_key] = in_url if in_url in options else options[0]
st.caption("Click a row to open its clip below.")
event = st.dataframe(error_table(listed, score_column, angle_limits, names,
                                 neighbours_of=lambda i: nearest_neighbours(run, test, i)),
                     hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
                     key=table_key,
                     column_config={"diagnosis": st.column_config.TextColumn(width="large")}
                     | {c: st.column_config.NumberColumn(format="%.4g")
                        for c in ("score", "threshold", "score − threshold")}
                     | {c: st.column_config.NumberColumn(format="%.1f°") for c in
                        ("angle to own centre", "angle to nearest other")})
rows = event.selection.rows if event is not None else []
# a newly clicked row opens its clip; the same selection on later reruns must not undo a pick in the box
if rows and st.session_state.get(f"{table_key}-applied") != rows[0] and rows[0] < len(options):
    st.session_state[clip_key] = options[rows[0]]
st.session_state[f"{table_key}-applied"] = rows[0] if rows else None
clip = st.selectbox("Open a clip", options, key=clip_key,
                    format_func=lambda i: clip_label(decided, i, score_column))
st.query_params["clip"] = str(clip)

row = decided.loc[clip]
limit = angle_limits.set_index(["machine_type", "machine_id"])["value"].get((row["machine_type"], row["machine_id"]))
neighbours = nearest_neighbours(run, test, clip)  # the diagnosis reads them: "far from every centre" or not
st.warning(f"**Diagnosis:** {alarms.diagnose(row, limit, names, neighbours=neighbours)}",
           icon=":material/troubleshoot:")
st.caption(f"score {fmt(row[score_column], '.4g')} against the threshold {fmt(row['threshold'], '.4g')} "
           f"of {row['machine_type']} {row['machine_id']}")
show_clip_facts(run, decided, clip, score_column)
play_clip(run, row)
audio_ok = show_clip_spectrogram(run, test, clip)  # False: missing or damaged audio, already named
st.subheader("Nearest training normals")
if neighbours is None:
    st.info("This run has no embeddings of its training normals: no neighbours to show.")
else:
    show_neighbours(run, row, neighbours)
if audio_ok:
    show_difference_view(run, row, clip_logmel(run, row), neighbours, embedding_of(run, clip))
