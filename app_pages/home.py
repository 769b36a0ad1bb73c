"""Home: what the app is, how to use it, the data set in use (counts and clips to hear) and the
runs available."""
import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from asdcore import plots
from asdcore.data import scan_dataset
from asdcore.data.toy.metadata import read_fault_metadata
from asdcore.data.toy.presets import PRESETS
from asdcore.melspec import LogMelConfig
from asdcore.paths import default_data_root
from asdcore.runs import list_runs, run_summary
from app_pages.shared.clip_view import play
from app_pages.shared.data_folders import folders_stamp
from app_pages.shared.logmel import file_logmel
from app_pages.shared.url_state import query_int, url_choice_key, url_value_key

LOGMEL = LogMelConfig.stgram()  # the example clips' log-mel: STgram-MFN's settings

PAGE_GUIDE = [
    ("Lessons", "a guided path in eight lessons, from the task to your own recordings; each answers one "
                "question from the bundled runs, with its uncertainty."),
    ("Train", "start a training run (a recipe from the papers, a preset, your hyper-parameters) and "
              "watch it live: progress, loss and accuracy curves, the log; cancel or resume it."),
    ("Compare", "AUC / pAUC / mAUC of your runs per machine type, laid out like Table 1 of the "
                "Noisy-ArcMix paper, beside the papers' published numbers; export CSV or LaTeX."),
    ("Angles", "Fig. 1 of the Noisy-ArcMix paper: how far (by angle) normal and anomalous clips lie "
               "from their machine's class centre, for several runs side by side."),
    ("Attention", "where in time TASTgram-MFN's temporal attention looks, over the clip's spectrogram "
                  "and the fault's true span."),
    ("Embeddings", "UMAP / PCA maps of the test embeddings: which machine IDs cluster, where anomalies land."),
    ("False alarms", "debug an alarm: the normal clips scored as anomalous, why (angles, confused machine "
                     "IDs, nearest training clips), with their audio."),
    ("Score a clip", "score a recording the run has never heard (upload WAVs or give a folder): its score against "
                     "the threshold, the diagnosis, the nearest training normals, and what is new in it (its log-mel "
                     "minus theirs)."),
    ("Margin lab", "learn what a margin does: the CE, ArcFace, ArcMix and Noisy-ArcMix equations, "
                   "their decision boundaries, and a toy embedding trained live with each loss; AdaCos's "
                   "adaptive scale and what sub-clusters do to a class's region."),
]


@st.cache_data(show_spinner="Scanning the data set ...")
def dataset_summary(root: str, stamp: float):
    """Counts per machine type / ID / split / label, and the labelled test clips (type, ID,
    label, path) to listen to; cached until the folder changes."""
    ds = scan_dataset(root, check_audio=False)
    test = pd.DataFrame([(r.machine_type, r.machine_id, r.label, r.relpath) for r in ds.records
                         if r.split == "test" and r.label is not None],
                        columns=["machine_type", "machine_id", "label", "path"]).sort_values("path")
    return ds.summary_table(), len(ds.records), ds.layouts, [str(p) for p in ds.problems], test


@st.cache_data(show_spinner=False)
def fault_notes(root: str, stamp: float) -> dict:
    """path -> (fault kind, onset s, offset s, severity) from the toy factory's metadata.csv."""
    meta = read_fault_metadata(root)
    if meta is None:
        return {}
    meta = meta[meta["fault_kind"].notna()]
    return {row.path: (row.fault_kind, row.fault_onset_s, row.fault_offset_s, row.severity)
            for row in meta.itertuples()}


@st.cache_data(show_spinner=False)
def toy_manifest(root: str, stamp: float) -> dict | None:
    """The toy factory's toy_manifest.json of the data set, or None (not a toy set)."""
    path = Path(root) / "toy_manifest.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


def show_toy_factory(manifest: dict) -> None:
    """Which toy preset this is, what each preset teaches, and its faults."""
    name = manifest.get("preset")
    st.markdown(f"This is the **toy factory**'s `{name}` preset (seed {manifest.get('seed')}): synthetic "
                "machines in the DCASE 2020 layout. "
                + (f"It is {PRESETS[name].what}." if name in PRESETS else ""))
    st.markdown(
        "**Why ID classifiers work here, and where they do not.** The machine IDs of a type are units that "
        "differ in a few stable properties (running speed, resonances, cycle timing), a few per cent apart "
        "(ToyConveyor's about 1 %: the type they confuse). Most faults are *structural*: they change those "
        "same properties (a voltage change moves every tone, a clogged intake moves the duct's resonances, "
        "a sticking valve shifts its timing), so a network that learnt to tell the IDs apart puts the faulty "
        "clip away from its ID's centre. *Added* faults (bearing ticks, crackle, a leak's hiss) leave those "
        "properties alone: the blind spot of ID classifiers, which the `hard` preset is made of.")
    presets = pd.DataFrame([{"preset": p.name, "clip": f"{p.clip_seconds:g} s",
                             "clips per ID (train / test normal / test anomalous)":
                                 f"{p.train_per_id} / {p.test_normal_per_id} / {p.test_anomaly_per_id}",
                             "what it teaches": p.what} for p in PRESETS.values()])
    st.table(presets, hide_index=True)
    st.caption("Make another with `python -m asdcore data toy --out DIR --preset NAME`; "
               "`python -m asdcore data diagnose DIR --run RUN` says which faults each detector finds.")
    faults = manifest.get("faults")
    if faults:
        with st.expander("Its faults, as a maintenance engineer would hear them"):
            st.table(pd.DataFrame([{"machine type": t, "fault": f["kind"], "family": f["family"], "what": f["what"]}
                                   for t, kinds in faults.items() for f in kinds]), hide_index=True)


def show_guide() -> None:
    st.subheader("How to use it")
    st.markdown(
        "**Start here:** [the Lessons](lessons?lesson=1), a path through the lab in eight short lessons, each "
        "with a question answered from the bundled runs (lessons 1-3 take about 15 minutes). Or go straight "
        "to a page: **Margin lab** to see what a margin does to embeddings, **Angles** for Fig. 1 of the "
        "Noisy-ArcMix paper on the bundled runs, **False alarms** to debug an alarm, **Train** to train a "
        "method yourself, then **Compare** to put it beside the others.")
    st.markdown("\n".join(f"- **{name}**: {what}" for name, what in PAGE_GUIDE))
    shift = "shift-tastgram-noisy-arcmix"
    st.markdown(
        "**Domain shift (DCASE 2021-2023):** the bundled run `shift-tastgram-noisy-arcmix` learnt from the toy "
        "factory's `domain-shift` preset (`make data-shift`), where each section's target domain runs faster, "
        "is recorded further away or in another hall, with 4 training clips per 120 source ones. "
        "[Compare](compare?data=data/toy-domain) gives its source and target AUCs and the official score; "
        f"[Angles](angles?runs={shift}&split=1), [Embeddings](embeddings?run={shift}&color=domain) and "
        f"[False alarms](false-alarms?run={shift}&domain=target) show why target clips score as anomalies. "
        "Two systems built for the shift are bundled beside it: `shift-subcluster-adacos` (Wilkinghoff's DCASE "
        "2021 system: section and attribute heads, Gaussian mixtures per section and domain) and "
        "`shift-jless-mfn` (the JLESS DCASE 2022 system: batches holding both domains, FMix, LOF and "
        "mean-cosine scores).")
    st.caption("The selected run, clip and filters live in the page's address: a reload or a shared link "
               "shows the same view.")


def show_clip(root: Path, row, faults: dict) -> None:
    """One clip: what it is, its audio at its true level, its log-mel as a picture (an image, not
    a plotly figure: this first page then loads no plotly.js), the fault's span marked under it."""
    path = root / row["path"]
    kind = "anomalous" if row["label"] == "anomaly" else "normal"
    fault = faults.get(row["path"])
    st.markdown(f"**{kind}** · {row['machine_type']} {row['machine_id']} · `{row['path']}`"
                + (f"  \nfault: **{fault[0]}**, {fault[1]:.2f}-{fault[2]:.2f} s, severity {fault[3]:.2f}"
                   if fault else ""))
    if not play(path):  # missing or damaged: play says why
        return
    logmel = file_logmel(path, LOGMEL.to_dict())
    seconds = logmel.shape[1] * LOGMEL.hop_length / LOGMEL.sample_rate
    image = plots.spectrogram_image(logmel, (fault[1], fault[2]) if fault else None,
                                    sample_rate=LOGMEL.sample_rate, hop_length=LOGMEL.hop_length)
    st.image(image, width="stretch", output_format="PNG",
             caption=f"log-mel: time 0-{seconds:.1f} s left to right, {LOGMEL.n_mels} mel bands "
                     f"(0-{LOGMEL.sample_rate // 2000} kHz) bottom to top"
                     + ("; the orange bar marks the fault" if fault else "")
                     + ". The Attention page draws it interactively.")


def show_listening(root: Path, test: pd.DataFrame) -> None:
    """One normal and one anomalous test clip of a chosen machine type (type and pair in the URL)."""
    st.subheader("Listen")
    if test.empty:
        st.info("This data set has no labelled test clips to listen to.")
        return
    types = list(dict.fromkeys(test["machine_type"]))
    c_type, c_pair = st.columns([2, 1])
    machine_type = c_type.selectbox("Machine type", types, key=url_choice_key("type", types, types[0]))
    of_type = test[test["machine_type"] == machine_type]
    normals, anomalies = of_type[of_type["label"] == "normal"], of_type[of_type["label"] == "anomaly"]
    pairs = max(len(normals), len(anomalies), 1)
    pair_key = url_value_key("pair", query_int("pair", 1))
    st.session_state[pair_key] = min(max(int(st.session_state[pair_key] or 1), 1), pairs)  # this type's pairs
    pair = c_pair.number_input("Pair", min_value=1, max_value=pairs, key=pair_key,
                               help="another normal / anomalous pair of this machine type")
    st.query_params.update(type=machine_type, pair=str(pair))
    faults = fault_notes(str(root), folders_stamp([root]))
    c_normal, c_anomaly = st.columns(2)
    for column, clips, what in ((c_normal, normals, "normal"), (c_anomaly, anomalies, "anomalous")):
        with column:
            if clips.empty:
                st.info(f"No {what} test clip of {machine_type}.")
            else:
                show_clip(root, clips.iloc[(pair - 1) % len(clips)], faults)


# the columns of asdcore.runs.run_summary this table shows, and their headers
RUN_COLUMNS = {"id": "run", "method": "method", "recipe": "recipe", "preset": "preset", "state": "state",
               "auc_pct": "AUC", "pauc_pct": "pAUC", "bundled": "bundled"}


def runs_table() -> pd.DataFrame:
    """run, method, recipe, preset, state, average AUC / pAUC of every run, as text: "89.9 %" (one decimal,
    as the papers' tables; st.table would print a float column as 89.8700), "–" before evaluation."""
    table = pd.DataFrame(run_summary(list_runs()), columns=list(RUN_COLUMNS))
    for column in ("auc_pct", "pauc_pct"):
        table[column] = [f"{v:.1f} %" if v is not None and pd.notna(v) else "–" for v in table[column]]
    return table.rename(columns=RUN_COLUMNS)


def show_runs() -> None:
    st.subheader("Runs available")
    table = runs_table()
    if table.empty:
        st.info("No runs yet. Start one on the **Train** page (the tiny preset takes under a minute), or run "
                "`python -m asdcore train --recipe tastgram-noisy-arcmix --preset quick`.")
        return
    st.table(table, hide_index=True)
    st.caption("Average AUC / pAUC over the machine types (DCASE protocol, each run's own scoring back-end); "
               "the **Compare** page has the per-type table and the other back-ends.")


st.title("Margin-loss anomalous sound detection lab")
st.markdown(
    "Learn and debug how margin losses (ArcFace, ArcMix, Noisy-ArcMix, OS-SCL, sub-cluster AdaCos) "
    "shape the embeddings of machine sounds, and why a model raises a false alarm. Models learn "
    "only from normal sounds: a network tells machine IDs apart, and a clip far (by angle) from its "
    "own machine's class centre is anomalous.")
show_guide()

root = default_data_root()
st.subheader("Data set in use")
st.caption(f"`{root}`" + (" (set by `ASD_DATA`)" if "ASD_DATA" in os.environ else
                          " (the default; `ASD_DATA` points the app at another data set)"))
test_clips = pd.DataFrame()
if not root.exists():
    st.warning(f"No data set at `{root}` yet. Run `make data` (the toy factory's default data set, "
               "about a minute) or set `ASD_DATA` to a DCASE 2020 folder.")
else:
    table, n_clips, layouts, problems, test_clips = dataset_summary(str(root), folders_stamp([root]))
    if n_clips == 0:
        st.error(f"No usable clips under `{root}`. Check it with `python -m asdcore data check {root}`.")
    else:
        st.markdown(f"**{n_clips} clips**, layout {', '.join(layouts)}, "
                    f"{len(table)} machine IDs across {table['machine_type'].nunique()} machine types.")
        with st.expander("Clips per machine ID"):
            st.table(table, hide_index=True)
    if problems:
        with st.expander(f"{len(problems)} problem file(s)"):
            st.code("\n".join(problems))
    manifest = toy_manifest(str(root), folders_stamp([root]))
    if manifest is not None:
        show_toy_factory(manifest)

if not test_clips.empty:
    show_listening(root, test_clips)
show_runs()
