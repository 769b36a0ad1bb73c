"""One clip shown: its audio at its true level, its log-mel with the TAgram attention and the
fault's true span, its facts (score, angles, predicted machine ID) and its nearest training
normals.  Shared by the Attention, Embeddings and False alarms pages (and `play` by Home)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import streamlit as st

from asdcore import plots
from asdcore.data.audio import AudioError
from asdcore.data.dataset import audio_error_reason
from asdcore.alarms import class_names, is_confused, nearest_other_machine, nearest_training_clips, predicted_machine
from asdcore.plots.style import fmt
from asdcore.runs import Run
from app_pages.shared.cache import array, train_clips
from app_pages.shared.empty_states import missing_audio
from app_pages.shared.logmel import clip_logmel


def play(path: Path, channel: int = 0) -> bool:
    """The WAV file's own bytes: played at its true level, not peak-normalised.  Of a
    multi-channel recording (MIMII has 8), only `channel`, the one the model heard.  Returns
    whether the file could be read (a missing or damaged file is named, with why)."""
    if not path.exists():
        st.caption(f"audio not found at `{path}` (`make data` makes the default data set, "
                   "`make data-shift` the domain-shift one)")
        return False
    try:
        info = sf.info(str(path))
        data, sr = (None, info.samplerate) if info.channels == 1 else sf.read(str(path), always_2d=True)
    except Exception as exc:  # changed since the run read it: damaged, truncated, not audio
        st.warning(f"`{path}` cannot be read as audio ({audio_error_reason(exc)}): was it changed after the run? "
                   f"`python -m asdcore data check {path.parent}` says more.")
        return False
    if info.channels == 1:
        st.audio(path.read_bytes(), format="audio/wav")
        return True
    if not 0 <= channel < info.channels:
        st.caption(f"`{path}` has {info.channels} channels, no channel {channel}")
        return False
    buffer = io.BytesIO()
    sf.write(buffer, data[:, channel], sr, format="WAV", subtype="PCM_16")
    st.audio(buffer.getvalue(), format="audio/wav")
    st.caption(f"channel {channel} of {info.channels} (the run's `data.channel`)")
    return True



def play_clip(run: Run, row) -> None:
    """A clip of a run's data set, from the channel the run trained on."""
    try:
        path = run.clip_path(row)
    except ValueError as exc:  # a path that leaves the data root: not read
        st.error(str(exc))
        return
    play(path, int(run.config.get("data", {}).get("channel", 0)))


def fault_span(row) -> tuple[tuple[float, float] | None, str | None]:
    """((onset_s, offset_s) or None, fault kind or None) from the toy factory's columns."""
    onset, offset = row.get("fault_onset_s"), row.get("fault_offset_s")
    kind = row.get("fault_kind")
    kind = kind if isinstance(kind, str) and kind else None
    if onset is None or offset is None or pd.isna(onset) or pd.isna(offset):
        return None, kind
    return (float(onset), float(offset)), kind


def show_clip_spectrogram(run: Run, clips: pd.DataFrame, index) -> bool:
    """The clip's log-mel, its TAgram attention weights when the model has them, and the fault's
    true span.  Returns whether the attention was drawn."""
    row = clips.loc[index]
    with st.spinner("Computing the log-mel spectrogram ..."):
        try:
            logmel = clip_logmel(run, row)
        except AudioError as exc:  # the file changed after the run read it
            st.warning(f"No spectrogram: {exc}")
            return False
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
    row = clips.loc[index]
    c_score, c_own, c_other, c_pred = st.columns(4)
    backend = score_column[len("score_"):] if score_column.startswith("score_") else "default back-end"
    c_score.metric(f"Anomaly score ({backend})", fmt(row.get(score_column), ".4g"))

    def degrees(value) -> str:
        text = fmt(value, ".1f")
        return text + "°" if text != "—" else text

    c_own.metric("Angle to own centre", degrees(row.get("angle_to_centre_deg")),
                 help="degrees between the embedding and its own machine ID's class centre")
    other = nearest_other_machine(row)  # "valve id_00": IDs repeat across machine types
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
    neighbours = nearest_neighbours(run, clips, index, k)
    if neighbours is None:
        st.info("This run has no embeddings of its training normals: no neighbours to show.")
        return None
    show_neighbours(run, clips.loc[index], neighbours)
    return neighbours


def nearest_neighbours(run: Run, clips: pd.DataFrame, index, k: int = 5) -> pd.DataFrame | None:
    """The k training normals of the clip's machine type most similar (cosine) to its embedding,
    without drawing anything (the diagnosis reads them before the page shows them); None when the
    run stored no embeddings of its training normals."""
    embeddings, train_embeddings = array(run, "embeddings.npy"), array(run, "train_embeddings.npy")
    train = train_clips(run)
    if embeddings is None or train_embeddings is None or len(train) != len(train_embeddings):
        return None
    return nearest_training_clips(embeddings[int(index)], train_embeddings, train, clips.loc[index, "machine_type"], k)


def embedding_of(run: Run, index):
    """A test clip's embedding (row `index` of clips.parquet), None when the run stored none."""
    embeddings = array(run, "embeddings.npy")
    return None if embeddings is None else embeddings[int(index)]


def own_id_references(run: Run, row, neighbours: pd.DataFrame, embedding=None) -> pd.DataFrame:
    """The normals the difference view compares the clip with: its nearest ones, or, where some of
    those are of another ID, as many of its own ID's nearest (said in a caption)."""
    other = neighbours["machine_id"].astype(str) != str(row["machine_id"])
    train_embeddings = array(run, "train_embeddings.npy")
    if embedding is None or not other.any() or train_embeddings is None:
        return neighbours
    own = nearest_training_clips(embedding, train_embeddings, train_clips(run), row["machine_type"], len(neighbours),
                                 machine_id=row["machine_id"])
    if own.empty:
        return neighbours
    st.caption(f"{int(other.sum())} of its {len(neighbours)} nearest training normals are of another machine ID: "
               f"the view compares it with the {len(own)} nearest normals of its own ID, {row['machine_type']} "
               f"{row['machine_id']}, so that it shows what is new in the clip rather than how two machines differ.")
    return own


def show_neighbours(run: Run, row, neighbours: pd.DataFrame) -> None:
    """The nearest training normals of a clip (`row`), each with its ID, similarity and audio."""
    st.caption(f"The {len(neighbours)} training normals of {row['machine_type']} closest to this clip "
               "(cosine similarity of the embeddings). Neighbours of another machine ID hint at an ID confusion.")
    for _, neighbour in neighbours.iterrows():
        same = "same ID" if neighbour["machine_id"] == row["machine_id"] else "**other ID**"
        c_text, c_audio = st.columns([2, 3])
        c_text.markdown(f"{neighbour['machine_id']} ({same}) · similarity **{neighbour['similarity']:.4f}**  \n"
                        f"`{neighbour['path']}`")
        with c_audio:
            play_clip(run, neighbour)


def show_difference_view(run: Run, row, logmel, neighbours: pd.DataFrame | None, embedding=None) -> None:
    """What is new in a clip: its log-mel minus the mean log-mel of its nearest training normals (dB),
    the fault's span marked where the data set knows it.  When some of those neighbours are of another
    machine ID (an ID confusion) and the clip's `embedding` is given, the nearest normals of its own ID
    instead: against the other machine's normals the view would mostly show how the two machines differ."""
    if neighbours is None or logmel is None:
        return
    st.subheader("What is new in this clip")
    neighbours = own_id_references(run, row, neighbours, embedding)
    features, (span, kind) = run.config.get("features", {}), fault_span(row)
    references = [clip_logmel(run, n) for _, n in neighbours.iterrows()]
    st.plotly_chart(plots.difference_figure(logmel, references, sample_rate=features.get("sample_rate", 16000),
                                            hop_length=features.get("hop_length", 512), fault_span=span,
                                            fault_kind=kind), config={"displaylogo": False})
    st.caption(plots.DIFFERENCE_NOTE)
    if any(r is None for r in references):
        st.caption("Some neighbours' audio is missing (`make data` makes the bundled runs' data set): the mean is "
                   "over the others.")
