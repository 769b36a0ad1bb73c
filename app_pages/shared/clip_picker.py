"""Choosing one clip of a run: machine type, machine ID and label filters and a clip box, the
clip kept in the URL (?clip=<row of clips.parquet>).  The Attention and Embeddings pages and
False alarms use it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from asdcore.plots.style import fmt, label_name
from app_pages.shared.url_state import query_int


def fault_span_text(row) -> str:
    """"1.20-1.85 s (0.65 s)" for a clip whose fault span the toy factory recorded, else ""."""
    onset, offset = row.get("fault_onset_s"), row.get("fault_offset_s")
    if onset is None or offset is None or pd.isna(onset) or pd.isna(offset):
        return ""
    return f"{onset:.2f}-{offset:.2f} s ({offset - onset:.2f} s)"


def clip_label(clips: pd.DataFrame, index, score_column: str = "score") -> str:
    """One line for a clip in a picker: #row, machine, label, fault kind and span, score."""
    row = clips.loc[index]
    fault = row.get("fault_kind")
    span = fault_span_text(row)
    fault = f" · {fault}" + (f" {span}" if span else "") if isinstance(fault, str) and fault else ""
    return (f"#{index} {row['machine_type']} {row['machine_id']} · {label_name(row['label'])}{fault} · "
            f"score {fmt(row.get(score_column), '.3g')} · {Path(row['path']).name}")


def pick_clip(clips: pd.DataFrame, prefer, prefix: str, score_column: str = "score") -> int:
    """Machine type / ID / label filters and a clip box; the clip lives in the query parameter `clip`.

    `prefer(subset) -> index label` picks the clip shown when the URL names none (or one the
    filters exclude).  Returns the index label of the chosen row of `clips`."""
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
