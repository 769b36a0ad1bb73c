"""Score a clip: a recording the run has never seen (a field recording, the clip behind a false alarm),
judged as the run's evaluation judged its own test clips, and shown as False alarms shows a test clip:
score against threshold, decision, diagnosis, angles, audio, log-mel with the attention, nearest
training normals, and the difference view (what is new in the clip against those normals).

Clips come as uploads (written to a temporary folder by asdcore.clip_scoring.score_uploads, scored,
deleted: never added to a data set) or as a file / folder path on this machine (?path=).  The numbers
come from asdcore.clip_scoring; this page only wires them.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from asdcore import alarms, plots, shared_mode
from asdcore.clip_scoring import (DEFAULT_NEIGHBOURS, RunScorer, ScoringError, decision_text, ensemble_problem,
                                  run_machines, score_uploads)
from asdcore.runtime import CheckpointError
from asdcore.plots.style import fmt
from asdcore.runs import Run
from app_pages.shared.cache import modified, train_clips
from app_pages.shared.clip_view import play, show_clip_facts, show_difference_view, show_neighbours
from app_pages.shared.url_state import query_int, select_evaluated_run, url_choice_key, url_value_key

SOURCES = {"path": "A file or folder on this machine", "upload": "Upload WAV files"}
FROM_PATH = "(from its name and folder)"


@st.cache_resource(show_spinner=False, max_entries=2)
def _scorer(run_path: str, stamp: tuple) -> RunScorer:
    """The run's model, default back-end and thresholds, loaded once per version of its files."""
    return RunScorer.load(Run(run_path))


def scorer_of(run: Run) -> RunScorer:
    stamp = tuple(modified(run.path / name) for name in ("model.pt", "eval/metrics.json", "eval/train_clips.parquet"))
    with st.spinner(f"Loading {run.id}: its selected weights, back-end and thresholds ..."):
        return _scorer(str(run.path), stamp)


def scored_once(key: tuple, score):
    """score() run once per key (the run, the files and their versions, type and ID) and kept in this
    session, so that opening another clip re-scores nothing; a progress bar while it runs."""
    kept = st.session_state.get("score_result")
    if kept is not None and kept[0] == key:
        return kept[1]
    bar = st.progress(0.0, text="Scoring ...")

    def on_clip(done: int, total: int, path) -> None:
        bar.progress(done / max(total, 1), text=f"Scored {done} of {total} files")

    try:
        result = score(on_clip)
    except (ScoringError, CheckpointError) as exc:  # the run cannot score at all: the message says why
        st.error(str(exc))
        st.stop()
    bar.empty()
    st.session_state["score_result"] = (key, result)
    return result


def clip_table(scored: pd.DataFrame, score_column: str) -> pd.DataFrame:
    """The scored clips, one row each, short headers."""
    table = pd.DataFrame({"clip": scored["name"], "machine": scored["machine_type"] + " " + scored["machine_id"],
                          "score": scored[score_column], "threshold": scored["threshold"],
                          "decision": [decision_text(row) for _, row in scored.iterrows()],
                          "outcome": scored["outcome"], "diagnosis": scored["diagnosis"]}, index=scored.index)
    for column, header in (("predicted", "classified as"), ("angle_to_centre_deg", "angle to own centre"),
                           ("angle_to_nearest_other_deg", "angle to nearest other")):
        if column in scored.columns and scored[column].notna().any():
            table[header] = scored[column]
    return table


st.title("Score a clip")
st.markdown(
    "A recording the run has never seen, judged as its evaluation judged its own test clips: the run's "
    "front end, selected weights and default back-end, and its threshold per machine ID (the 90th percentile "
    "of that ID's held-out normal scores). Upload WAV files or give a file or folder; each clip's machine "
    "type and ID come from its folder and name as the DCASE layouts write them "
    "(`fan/test/normal_id_00_00000000.wav`), or from the boxes below. Nothing is added to a data set.")

run = select_evaluated_run()
problem = ensemble_problem(run)  # an ensemble scores with every member snapshot's weights, when they are here
if problem:
    st.info(f"**{run.method}** cannot score new clips: {problem}. Pick another run above.")
    st.stop()
machines = run_machines(train_clips(run))  # the run's model loads only once there are clips to score

c_source, c_type, c_id = st.columns([2, 1, 1])
source = c_source.radio("Clips", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                        key=url_choice_key("source", list(SOURCES), "path"))
type_options = [FROM_PATH, *machines]
machine_type = c_type.selectbox("Machine type", type_options, key=url_choice_key("type", type_options, FROM_PATH),
                                help="of every clip; an upload has no folder to say it")
id_options = [FROM_PATH, *machines.get(machine_type, [])]
machine_id = c_id.selectbox("Machine ID / section", id_options, key=url_choice_key("id", id_options, FROM_PATH),
                            help="of every clip; by default each clip's name says it (id_00, section_00)")
st.query_params.update(source=source, type=machine_type, id=machine_id)
chosen_type = None if machine_type == FROM_PATH else machine_type
chosen_id = None if machine_id == FROM_PATH else machine_id
k = DEFAULT_NEIGHBOURS

uploads: list[tuple[str, bytes]] = []  # (file name, bytes), in the order of the result's rows
if source == "upload":
    files = st.file_uploader("WAV files", type=["wav", "flac"], accept_multiple_files=True)
    if not files:
        st.info("Upload one or more WAV files, and choose their machine type above.")
        st.stop()
    if chosen_type is None:
        st.info("Choose the machine type of the uploaded clips above (an upload has no folder to say it).")
        st.stop()
    uploads = [(f.name, f.getvalue()) for f in files]
    digest = hashlib.sha1(b"".join(hashlib.sha1(data).digest() for _, data in uploads)).hexdigest()
    key = (str(run.path), modified(run.path / "model.pt"), "upload", digest, tuple(name for name, _ in uploads),
           chosen_type, chosen_id)
    result = scored_once(key, lambda on_clip: score_uploads(scorer_of(run), uploads, chosen_type, chosen_id, k, on_clip))
else:
    typed = st.text_input("File or folder", key=url_value_key("path", st.query_params.get("path", "")),
                          placeholder="data/toy/fan/test/anomaly_id_00_00000000.wav",
                          help="a WAV file, or a folder: its audio files, recursively (read on the machine "
                               "serving the app)").strip()
    st.query_params["path"] = typed
    if not typed:
        st.info("Type the path of a WAV file or of a folder of them, e.g. "
                "`data/toy/fan/test/anomaly_id_00_00000000.wav`.")
        st.stop()
    path = Path(typed).expanduser()
    shared = shared_mode.settings()
    if shared.enabled:  # a shared server reads typed paths only inside its allow-list (uploads still work)
        try:
            shared_mode.check_data_root(shared, path)
        except shared_mode.SharedModeError as exc:
            st.error(f"Not read: {exc}")
            st.stop()
    files_stamp = tuple((str(p), modified(p)) for p in sorted(path.rglob("*")) if p.is_file()) if path.is_dir() \
        else ((str(path), modified(path)),)
    key = (str(run.path), modified(run.path / "model.pt"), "path", files_stamp, chosen_type, chosen_id)
    result = scored_once(key, lambda on_clip: scorer_of(run).score([path], chosen_type, chosen_id, k, on_clip))

# --- every file: scored, or why not ---------------------------------------------------------------
scored = result.scored
score_column = f"score_{result.backend}"
refused = result.refused
if 0 < len(refused) <= 3:
    for _, row in refused.iterrows():
        st.warning(f"Not scored: {row['reason']}", icon=":material/block:")
elif len(refused):
    with st.expander(f"{len(refused)} of {len(result.clips)} files not scored, each with why", icon=":material/block:"):
        st.markdown("\n".join(f"- {row['reason']}" for _, row in refused.iterrows()))
for _, row in result.clips[result.clips["notes"].fillna("") != ""].iterrows():
    st.caption(f"Note on `{row['name']}`: {row['notes']}")
if scored.empty:
    st.stop()
st.caption(f"Back-end **{result.backend}**, thresholds at the {alarms.DEFAULT_PERCENTILE:g}th percentile of each "
           f"machine ID's reference normals, as on the False alarms page at its defaults.")
st.dataframe(clip_table(scored, score_column), hide_index=True, width="stretch",
             column_config={"diagnosis": st.column_config.TextColumn(width="large")}
             | {c: st.column_config.NumberColumn(format="%.4g") for c in ("score", "threshold")}
             | {c: st.column_config.NumberColumn(format="%.1f°") for c in
                ("angle to own centre", "angle to nearest other")})

# --- one clip opened -------------------------------------------------------------------------------
options = scored.index.tolist()
in_url = query_int("clip")
# one widget per set of scored files: with one key for every set, a new folder kept the last set's label
# in the box (the options, row numbers, looked unchanged) while the details below were the new clip's
clip_key = "score_clip_" + hashlib.sha1("\n".join(scored["file"].astype(str)).encode()).hexdigest()[:12]
if st.session_state.get(clip_key) not in options:
    st.session_state[clip_key] = in_url if in_url in options else options[0]
clip = st.selectbox("Open a clip", options, key=clip_key,
                    format_func=lambda i: f"{scored.loc[i, 'name']} · {scored.loc[i, 'machine_type']} "
                                          f"{scored.loc[i, 'machine_id']} · {decision_text(scored.loc[i])}")
st.query_params["clip"] = str(clip)
row, details = scored.loc[clip], result.details[clip]

st.warning(f"**Diagnosis:** {row['diagnosis']}", icon=":material/troubleshoot:")
st.caption(f"score {fmt(row[score_column], '.4g')} against the threshold {fmt(row['threshold'], '.4g')} of "
           f"{row['machine_type']} {row['machine_id']}: **{decision_text(row)}** ({row['outcome']})")
show_clip_facts(run, scored, clip, score_column)
channel = int(run.config.get("data", {}).get("channel", 0))
if source == "upload":
    st.audio(uploads[clip][1])  # row i of the result is upload i
else:
    play(Path(row["file"]), channel)
features = run.config.get("features", {})
rate, hop = features.get("sample_rate", 16000), features.get("hop_length", 512)
st.plotly_chart(plots.attention_figure(details.logmel, details.attention, sample_rate=rate, hop_length=hop),
                config={"displaylogo": False})

st.subheader("Nearest training normals")
neighbours = details.neighbours
show_neighbours(run, row, neighbours)
show_difference_view(run, row, details.logmel, neighbours, details.embedding)
