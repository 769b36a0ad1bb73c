"""Embeddings: the test clips on the run's precomputed UMAP / PCA map; click a point to open it.

The opened clip (kept in the URL as ?clip=<row of clips.parquet>) shows its audio, log-mel (with
the TAgram attention when the model has it), score, angles, its nearest training normals and the
difference view (its log-mel minus the mean of those normals', asdcore.plots.difference_figure).
"""
import streamlit as st

from asdcore import plots
from asdcore.plots.angles import domain_separation
from asdcore.plots.style import filter_clips
from app_pages.shared.cache import clips, train_clips
from app_pages.shared.clip_picker import clip_label
from app_pages.shared.clip_view import (embedding_of, play_clip, show_clip_facts, show_clip_spectrogram,
                                        show_difference_view, show_nearest_training_clips)
from app_pages.shared.logmel import clip_logmel
from app_pages.shared.domain_filter import domain_filters, has_domains, machine_filters
from app_pages.shared.url_state import query_int, select_evaluated_run, url_choice_key

COLOR_CHOICES = {"machine_id": "machine ID", "label": "label", "score": "anomaly score",
                 "angle_to_centre_deg": "angle to own centre"}
DOMAIN_COLOR_CHOICES = {"domain": "domain", "attributes": "attributes"}  # DCASE 2021-2023 data only
PROJECTIONS = {"umap": "UMAP", "pca": "PCA"}

st.title("Embeddings")
st.markdown(
    "Each point is a test clip's embedding, projected to 2-D (fitted on training and test embeddings "
    "together, when the run was evaluated); training normals in grey. A margin loss should give each "
    "machine ID a tight cluster, with anomalies (◆) drifting out of it. **Click a point to open that clip.**")

run = select_evaluated_run()
test, train = clips(run), train_clips(run)
domain_data = has_domains([test])
colors = COLOR_CHOICES | (DOMAIN_COLOR_CHOICES if domain_data else {})

c_proj, c_color = st.columns([1, 3])
projection = c_proj.radio("Projection", list(PROJECTIONS), format_func=PROJECTIONS.get, horizontal=True,
                          key=url_choice_key("projection", list(PROJECTIONS), "umap"))
color_by = c_color.radio("Colour by", list(colors), format_func=colors.get, horizontal=True,
                         key=url_choice_key("color", list(colors), "machine_id"))
c_type, c_id, c_domain, c_attr = st.columns(4)
st.query_params.update(projection=projection, color=color_by)
type_filter, id_filter = machine_filters([test], c_type, c_id)
domain, attributes = domain_filters([test], c_domain, c_attr, scope=filter_clips(test, type_filter, id_filter))
no_angles = "angle_to_centre_deg" not in test.columns or test["angle_to_centre_deg"].isna().all()
if color_by == "angle_to_centre_deg" and no_angles:
    st.caption("This model has no class centres (an autoencoder): no angles, so the points are coloured by label.")

shown = filter_clips(test, type_filter, id_filter, domain, attributes)
shown_train = filter_clips(train, type_filter, id_filter, domain, attributes)
if color_by == "domain" and not no_angles:
    medians = {d: sep["median_normal_deg"] for d, sep in domain_separation(shown).items() if sep["n_normal"]}
    if len(medians) == 2:
        st.caption(f"The domain shift: target-domain normals lie a median {medians['target']:.1f}° from their class "
                   f"centre, source-domain normals {medians['source']:.1f}° (test clips shown). The class centre is "
                   "learnt mostly from source clips; the few target training normals are marked ×.")

clip = query_int("clip")
clip = clip if clip in test.index else None
fig = plots.embedding_scatter(shown, color_by=color_by, projection=projection, train=shown_train,
                              highlight=clip)
event = st.plotly_chart(fig, key="embedding_map", on_select="rerun", selection_mode="points",
                        config={"displaylogo": False})

# A click selects one point; its customdata[0] is the clips row (training normals carry none).
# The highlight ring moves with the clip, which redraws the chart and clears the selection.
picked = [p["customdata"][0] for p in event.selection.points if p.get("customdata")] if event else []
if picked and int(picked[0]) in test.index and int(picked[0]) != clip:
    st.query_params["clip"] = str(int(picked[0]))
    st.rerun()

if clip is None:
    st.info("Click a coloured point on the map to open that clip.")
    st.stop()

row = test.loc[clip]
st.subheader(f"Clip {clip_label(test, clip)}")
default_score = f"score_{run.config.get('eval', {}).get('backend')}"
show_clip_facts(run, test, clip, default_score if default_score in test.columns else "score")
play_clip(run, row)
audio_ok = show_clip_spectrogram(run, test, clip)  # False: missing or damaged audio, already named
st.subheader("Nearest training normals")
neighbours = show_nearest_training_clips(run, test, clip, k=5)
if audio_ok:
    show_difference_view(run, row, clip_logmel(run, row), neighbours, embedding_of(run, clip))
