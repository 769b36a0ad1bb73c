"""What the pages share: run and clip selection kept in the URL, cached reads of run folders,
audio at its true level, and empty states that say what to do next.  Streamlit only; no maths."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from asdcore.runs import Run, list_runs


# --- cached reads (keyed by the file's modification time, so a re-evaluated run is re-read) ----

def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _clips(run_path: str, stamp: float) -> pd.DataFrame:
    return Run(run_path).clips()


@st.cache_data(show_spinner=False, max_entries=64)
def _train_clips(run_path: str, stamp: float) -> pd.DataFrame:
    return Run(run_path).train_clips()


@st.cache_data(show_spinner=False, max_entries=32)
def _array(run_path: str, name: str, stamp: float):
    return Run(run_path).array(name)


def clips(run: Run) -> pd.DataFrame:
    return _clips(str(run.path), _mtime(run.path / "eval" / "clips.parquet"))


def train_clips(run: Run) -> pd.DataFrame:
    return _train_clips(str(run.path), _mtime(run.path / "eval" / "train_clips.parquet"))


def array(run: Run, name: str):
    """An eval/ array (embeddings.npy, train_embeddings.npy, attention.npy, centres.npy) or None."""
    return _array(str(run.path), name, _mtime(run.path / "eval" / name))


def folders_stamp(roots) -> float:
    """The newest modification time of the roots, their machine-type folders and the split
    folders inside them: it changes when a clip is added, removed or renamed anywhere."""
    stamp = 0.0
    for root in map(Path, roots):
        for folder in [root, *(p for p in root.glob("*") if p.is_dir()), *(p for p in root.glob("*/*") if p.is_dir())]:
            stamp = max(stamp, folder.stat().st_mtime)
    return stamp


@functools.lru_cache(maxsize=16)
def _data_check(roots: tuple[str, ...], stamp: float) -> dict:
    from asdcore.data import scan_dataset
    from asdcore.data.check import check_report

    try:
        ds = scan_dataset(list(roots))
    except (FileNotFoundError, NotADirectoryError) as exc:
        return {"error": str(exc)}
    return {"error": None, "clips": len(ds.records), "classes": len(ds.classes),
            "machine_types": ds.machine_types,
            "train_normals": len(ds.select(split="train", label="normal")),
            "labelled_test": sum(1 for r in ds.records if r.split == "test" and r.label is not None),
            "problems": [str(p) for p in ds.problems], "report": check_report(ds)}


_data_check_lock = threading.Lock()


def data_check(roots) -> dict:
    """What the data-set folders hold (asdcore.data.scan_dataset and its check report), or
    {"error": why}.  Kept per server process until a folder changes, in a plain memo rather than
    st.cache_data so the warm-up thread (app_pages/warm_up.py) can fill it before the Train page
    asks; one check at a time, so a page asking during the warm-up's check waits for its result.
    Reads every clip's header: ~0.2 s for the default toy set."""
    stamp = folders_stamp(Path(r) for r in roots if Path(r).is_dir())
    with _data_check_lock:
        return _data_check(tuple(str(r) for r in roots), stamp)


def evaluated_runs() -> list[Run]:
    """Runs with evaluation artefacts: the user's (newest first), then the bundled ones."""
    return [r for r in list_runs() if r.has_eval]


def run_title(run: Run) -> str:
    tag = " · bundled" if run.bundled else ""
    return f"{run.label} — {run.id}{tag}"


# --- selection kept in the URL ---------------------------------------------------------------

def select_run(label: str = "Run", key: str = "run", runs: list[Run] | None = None,
               default_recipe: str = "tastgram-noisy-arcmix") -> Run | None:
    """A run picker whose choice lives in the query parameter `key`."""
    runs = evaluated_runs() if runs is None else runs
    if not runs:
        return None
    ids = [r.id for r in runs]
    wanted = st.query_params.get(key)
    if wanted not in ids:
        preferred = [r.id for r in runs if r.recipe == default_recipe]
        wanted = preferred[0] if preferred else ids[0]
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox(label, ids, index=ids.index(wanted), format_func=lambda i: run_title(by_id[i]),
                          key=f"select_{key}")
    st.query_params[key] = chosen
    return by_id[chosen]


def select_runs(label: str = "Runs", key: str = "runs", default=None) -> list[Run]:
    """A multi-run picker whose choice lives in the query parameter `key` (comma-separated ids)."""
    runs = evaluated_runs()
    if not runs:
        return []
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    wanted = [i for i in st.query_params.get(key, "").split(",") if i in by_id]
    if not wanted:
        wanted = [i for i in (default or []) if i in by_id] or ids[:4]
    chosen = st.multiselect(label, ids, default=wanted, format_func=lambda i: run_title(by_id[i]),
                            key=f"select_{key}")
    st.query_params[key] = ",".join(chosen)
    return [by_id[i] for i in chosen]


def query_int(key: str, default: int | None = None) -> int | None:
    try:
        return int(st.query_params[key])
    except (KeyError, ValueError):
        return default


# --- audio and empty states ------------------------------------------------------------------

def play(path: Path) -> None:
    """The WAV file's own bytes: played at its true level, not peak-normalised."""
    if path.exists():
        st.audio(path.read_bytes(), format="audio/wav")
    else:
        st.caption(f"audio not found at `{path}` (run `make data` to make the default data set)")


def no_runs_yet() -> None:
    st.info("No evaluated runs yet. Start one on the **Train** page, or run "
            "`python -m asdcore train --recipe tastgram-noisy-arcmix --preset quick`; the bundled runs "
            "under `checkpoints/` appear here once `make checkpoints` has made them.")


# --- one clip: picker, log-mel, attention, facts, nearest training normals -------------------
# (shared by the Attention, Embeddings and False alarms pages)

def query_choice(key: str, options: list, default):
    """The query parameter `key` when it is one of `options`, else `default`."""
    value = st.query_params.get(key)
    return value if value in options else default


def no_evaluated_runs() -> None:
    """The empty state of the analysis pages: what to do, and why existing runs are not listed."""
    no_runs_yet()
    for run in list_runs():
        if not run.has_eval:
            why = run.status.get("error") or run.status.get("message") or "not evaluated"
            st.caption(f"`{run.id}` is not listed: {run.state} ({why}). "
                       + ("Evaluate it with `python -m asdcore evaluate " + str(run.path) + "`."
                          if run.state == "finished" else "See the **Train** page."))


def select_evaluated_run() -> Run:
    """The analysis pages' run picker (select_run); with no evaluated run, their empty state and
    the end of the page."""
    run = select_run()
    if run is None:
        no_evaluated_runs()
        st.stop()
    return run


def clip_label(clips: pd.DataFrame, index, score_column: str = "score") -> str:
    """One line for a clip in a picker: #row, machine, label, fault, score."""
    from asdcore.plots.style import fmt, label_name

    row = clips.loc[index]
    fault = row.get("fault_kind")
    fault = f" · {fault}" if isinstance(fault, str) and fault else ""
    return (f"#{index} {row['machine_type']} {row['machine_id']} · {label_name(row['label'])}{fault} · "
            f"score {fmt(row.get(score_column), '.3g')} · {Path(row['path']).name}")


def pick_clip(clips: pd.DataFrame, prefer, prefix: str, score_column: str = "score") -> int:
    """Machine type / ID / label filters and a clip box; the clip lives in the query parameter `clip`.

    `prefer(subset) -> index label` picks the clip shown when the URL names none (or one the
    filters exclude).  Returns the index label of the chosen row of `clips`."""
    from asdcore.plots.style import label_name

    keys = {name: f"{prefix}_{name}" for name in ("type", "id", "label", "clip", "in_url")}
    in_url = query_int("clip")
    in_url = in_url if in_url in clips.index else None
    # The widgets follow the URL when it names a clip they did not put there (a shared link, the
    # browser's back button) and on the first visit; otherwise the widgets lead and the URL follows.
    if keys["clip"] not in st.session_state or (in_url is not None and in_url != st.session_state.get(keys["in_url"])):
        wanted = in_url if in_url is not None else int(prefer(clips))
        row = clips.loc[wanted]
        st.session_state[keys["type"]] = str(row["machine_type"])
        st.session_state[keys["id"]] = str(row["machine_id"])
        st.session_state[keys["label"]] = label_name(row["label"])
        st.session_state[keys["clip"]] = wanted
    c_type, c_id, c_label, c_clip = st.columns([1, 1, 1, 3])
    types = sorted(clips["machine_type"].astype(str).unique())
    if st.session_state.get(keys["type"]) not in types:  # another run, other machines
        st.session_state[keys["type"]] = types[0]
    machine_type = c_type.selectbox("Machine type", types, key=keys["type"])
    ids = sorted(clips.loc[clips["machine_type"].astype(str) == machine_type, "machine_id"].astype(str).unique())
    if st.session_state.get(keys["id"]) not in ids:  # the type changed: its first ID
        st.session_state[keys["id"]] = ids[0]
    machine_id = c_id.selectbox("Machine ID", ids, key=keys["id"])
    label = c_label.selectbox("Label", ["anomaly", "normal", "any"], key=keys["label"])
    subset = clips[(clips["machine_type"].astype(str) == machine_type) & (clips["machine_id"].astype(str) == machine_id)]
    if label != "any":
        subset = subset[subset["label"] == (1 if label == "anomaly" else 0)]
    if subset.empty:
        c_clip.selectbox("Clip", ["no clip matches these filters"], disabled=True, key=f"{prefix}_none")
        st.stop()
    if st.session_state.get(keys["clip"]) not in subset.index:
        st.session_state[keys["clip"]] = int(prefer(subset))
    clip = c_clip.selectbox("Clip", subset.index.tolist(), key=keys["clip"],
                            format_func=lambda i: clip_label(clips, i, score_column))
    st.query_params["clip"] = str(clip)
    st.session_state[keys["in_url"]] = int(clip)
    return int(clip)


def fault_span(row) -> tuple[tuple[float, float] | None, str | None]:
    """((onset_s, offset_s) or None, fault kind or None) from the toy factory's columns."""
    onset, offset = row.get("fault_onset_s"), row.get("fault_offset_s")
    kind = row.get("fault_kind")
    kind = kind if isinstance(kind, str) and kind else None
    if onset is None or offset is None or pd.isna(onset) or pd.isna(offset):
        return None, kind
    return (float(onset), float(offset)), kind


@st.cache_data(show_spinner=False, max_entries=64)
def _clip_logmel(path: str, features_json: str, clip_seconds, pad_mode: str, stamp: float) -> np.ndarray:
    import json

    from asdcore.data.audio import load_clip
    from asdcore.melspec import LogMelConfig, log_mel_numpy  # the models' log-mel, without importing torch

    features = {k: v for k, v in json.loads(features_json).items() if k != "variant"}
    cfg = LogMelConfig.from_dict(features)
    # cropped / padded as the model saw it, so the frames line up with attention.npy
    wave = load_clip(path, clip_seconds, cfg.sample_rate, pad_mode)
    return log_mel_numpy(wave, cfg).astype(np.float32)


def file_logmel(path: Path, features: dict, clip_seconds: float | None = None,
                pad_mode: str = "constant") -> np.ndarray:
    """The (n_mels, frames) log-mel of an audio file with these LogMelConfig settings (a dict),
    the file cropped / padded to clip_seconds; cached until the file changes."""
    import json

    return _clip_logmel(str(path), json.dumps(features, sort_keys=True), clip_seconds, pad_mode, _mtime(path))


def clip_logmel(run: Run, row) -> np.ndarray | None:
    """The log-mel of one clip as the run's model saw it (its LogMelConfig, clip length and
    padding); None when its audio file is missing."""
    path = run.clip_path(row)
    if not path.exists():
        return None
    data = run.config.get("data", {})
    return file_logmel(path, run.config.get("features", {}), data.get("clip_seconds"),
                       data.get("pad_mode", "constant"))


def missing_audio(run: Run, row) -> None:
    path = run.clip_path(row)
    st.warning(f"The audio of this clip is not at `{path}`, so there is no spectrogram to draw. "
               "The run was evaluated on a data set that is not on this machine: run `make data` to make "
               "the default toy data set (the bundled runs use it), or make / copy the data set this run "
               f"names in its config.json (`{', '.join(map(str, run.data_roots()))}`).")


def show_clip_spectrogram(run: Run, clips: pd.DataFrame, index) -> bool:
    """The clip's log-mel, its TAgram attention weights when the model has them, and the fault's
    true span.  Returns whether the attention was drawn."""
    from asdcore import plots

    row = clips.loc[index]
    with st.spinner("Computing the log-mel spectrogram ..."):
        logmel = clip_logmel(run, row)
    if logmel is None:
        missing_audio(run, row)
        return False
    attention = array(run, "attention.npy")
    # clips as read have a 0..N-1 index: the label is also the row of the eval/ arrays
    weights = attention[int(index)] if attention is not None else None
    if weights is not None and not np.isfinite(weights.astype(np.float32)).all():
        weights = None
    span, kind = fault_span(row)
    features = run.config.get("features", {})
    fig = plots.attention_figure(logmel, weights, sample_rate=features.get("sample_rate", 16000),
                                 hop_length=features.get("hop_length", 512), fault_span=span, fault_kind=kind)
    st.plotly_chart(fig, config={"displaylogo": False})
    return weights is not None


def show_clip_facts(run: Run, clips: pd.DataFrame, index, score_column: str = "score") -> None:
    """Score, angles to its own and the nearest other centre, the predicted machine ID."""
    from asdcore.alarms import class_names, is_confused, predicted_machine
    from asdcore.plots.style import fmt

    row = clips.loc[index]
    c_score, c_own, c_other, c_pred = st.columns(4)
    backend = score_column[len("score_"):] if score_column.startswith("score_") else "default back-end"
    c_score.metric(f"Anomaly score ({backend})", fmt(row.get(score_column), ".4g"))

    def degrees(value) -> str:
        text = fmt(value, ".1f")
        return text + "°" if text != "—" else text

    c_own.metric("Angle to own centre", degrees(row.get("angle_to_centre_deg")),
                 help="degrees between the embedding and its own machine ID's class centre")
    other = row.get("nearest_other_machine_id")
    if other == row["machine_id"]:  # the same ID text: a centre of another machine type
        other = f"{other} of another type"
    c_other.metric("Nearest other centre", degrees(row.get("angle_to_nearest_other_deg"))
                   + (f" ({other})" if isinstance(other, str) else ""),
                   help="the closest centre of another machine ID (same or another machine type)")
    # IDs repeat across machine types: name the predicted class with its type when that differs
    predicted = predicted_machine(row, class_names(clips, train_clips(run)))
    c_pred.metric("Predicted machine ID", predicted or "—",
                  delta=f"not its own {row['machine_id']}" if predicted and is_confused(row) else None,
                  delta_color="inverse", delta_arrow="off", help="the class the cosine head finds closest")
    if not isinstance(predicted, str):
        st.caption("This model has no class centres (an autoencoder): no angles and no predicted machine ID.")


def show_nearest_training_clips(run: Run, clips: pd.DataFrame, index, k: int = 5) -> pd.DataFrame | None:
    """The k training normals of the clip's machine type most similar (cosine) to its embedding,
    with their machine ID, similarity and audio.  Returns them (None without embeddings)."""
    from asdcore.alarms import nearest_training_clips

    row = clips.loc[index]
    embeddings, train_embeddings = array(run, "embeddings.npy"), array(run, "train_embeddings.npy")
    train = train_clips(run)
    if embeddings is None or train_embeddings is None or len(train) != len(train_embeddings):
        st.info("This run has no embeddings of its training normals: no neighbours to show.")
        return None
    neighbours = nearest_training_clips(embeddings[int(index)], train_embeddings, train, row["machine_type"], k)
    st.caption(f"The {len(neighbours)} training normals of {row['machine_type']} closest to this clip "
               "(cosine similarity of the embeddings). Neighbours of another machine ID hint at an ID confusion.")
    for _, neighbour in neighbours.iterrows():
        same = "same ID" if neighbour["machine_id"] == row["machine_id"] else "**other ID**"
        c_text, c_audio = st.columns([2, 3])
        c_text.markdown(f"{neighbour['machine_id']} ({same}) · similarity **{neighbour['similarity']:.4f}**  \n"
                        f"`{neighbour['path']}`")
        with c_audio:
            play(run.clip_path(neighbour))
    return neighbours
