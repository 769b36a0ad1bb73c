"""asdcore.plots: the figures the app and notebooks show, on synthetic run-folder data."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.metrics import roc_auc_score

from asdcore import plots
from asdcore.plots import COLORS

MACHINES = [("fan", "id_00"), ("fan", "id_02"), ("pump", "id_00")]


def make_clips(n_per_machine: int = 40, seed: int = 0, with_angles: bool = True) -> pd.DataFrame:
    """A clips.parquet-shaped frame: normals near their centre (~30 deg), anomalies farther (~60)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, (machine_type, machine_id) in enumerate(MACHINES):
        for j in range(n_per_machine):
            label = int(j % 4 == 0)  # a quarter anomalous
            angle = rng.normal(60.0 if label else 30.0, 8.0)
            rows.append(dict(
                path=f"{machine_type}/test/{'anomaly' if label else 'normal'}_{machine_id}_{j:08d}.wav",
                root_index=0, machine_type=machine_type, machine_id=machine_id, class_index=k, label=label,
                score=angle / 10 + rng.normal(0, 0.5), score_softmax=rng.normal(),
                predicted_class=k, predicted_machine_id=machine_id,
                angle_to_centre_deg=angle if with_angles else np.nan,
                angle_to_nearest_other_deg=angle + 20, nearest_other_machine_id="id_04",
                umap_x=rng.normal(k * 5), umap_y=rng.normal(), pca_x=rng.normal(), pca_y=rng.normal(k),
                fault_kind="bearing" if label else None, fault_onset_s=2.0 if label else np.nan,
                fault_offset_s=4.5 if label else np.nan, severity=0.5 if label else np.nan, role="test"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def clips() -> pd.DataFrame:
    return make_clips()


def _annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


# --- angle_separation -------------------------------------------------------------------------

def test_identical_distributions_do_not_separate():
    angles = [10.0, 20.0, 20.0, 35.0, 80.0]
    sep = plots.angle_separation(angles, angles)
    assert sep["auc"] == pytest.approx(0.5)
    assert sep["overlap"] == pytest.approx(1.0)
    assert sep["median_gap_deg"] == pytest.approx(0.0)
    assert (sep["n_normal"], sep["n_anomaly"]) == (5, 5)


def test_disjoint_distributions_separate_fully():
    sep = plots.angle_separation([10.0, 12.0, 14.0], [50.0, 60.0, 70.0])
    assert sep["auc"] == pytest.approx(1.0)
    assert sep["overlap"] == pytest.approx(0.0)
    assert sep["median_gap_deg"] == pytest.approx(60.0 - 12.0)
    assert plots.angle_separation([50.0, 60.0], [10.0, 12.0])["auc"] == pytest.approx(0.0)


def test_angle_separation_ties_overlap_and_nans():
    # pairs (anomaly > normal): 2>1, 2=2 (half), 3>1, 3>2 -> 3.5 / 4
    sep = plots.angle_separation([1.0, 2.0, np.nan], [2.0, 3.0, None])
    assert sep["auc"] == pytest.approx(0.875)
    assert (sep["n_normal"], sep["n_anomaly"]) == (2, 2)
    # 2-degree bins: normal in [0,2) and [2,4), anomaly in [2,4) and [4,6): they share half
    assert plots.angle_separation([1.0, 3.0], [3.0, 5.0])["overlap"] == pytest.approx(0.5)


def test_angle_separation_auc_matches_sklearn():
    rng = np.random.default_rng(1)
    normal, anomaly = rng.integers(0, 40, 300).astype(float), rng.integers(10, 60, 100).astype(float)
    y = np.r_[np.zeros(300), np.ones(100)]
    expected = roc_auc_score(y, np.r_[normal, anomaly])
    assert plots.angle_separation(normal, anomaly)["auc"] == pytest.approx(expected)


def test_angle_separation_of_nothing_is_nan():
    sep = plots.angle_separation([], [np.nan])
    assert all(math.isnan(sep[k]) for k in ("auc", "median_gap_deg", "overlap"))
    assert (sep["n_normal"], sep["n_anomaly"]) == (0, 0)


# --- angle_histograms -------------------------------------------------------------------------

def test_angle_histograms_one_panel_per_run(clips):
    ae = make_clips(with_angles=False)
    fig = plots.angle_histograms({"ArcFace": clips, "Noisy-ArcMix": clips, "autoencoder": ae})
    assert _annotation_texts(fig)[:3] == ["ArcFace", "Noisy-ArcMix", "autoencoder"]  # panel titles
    by_axis = {}
    for trace in fig.data:
        if isinstance(trace, go.Histogram):
            by_axis.setdefault(trace.xaxis, []).append(trace)
    assert sorted(by_axis) == ["x", "x2"]  # the autoencoder panel has no histogram
    for traces in by_axis.values():
        assert [t.name for t in traces] == ["normal", "anomaly"]
        assert traces[0].marker.color == COLORS["normal"] and traces[1].marker.color == COLORS["anomaly"]
        assert len(traces[0].x) == (clips.label == 0).sum() and len(traces[1].x) == (clips.label == 1).sum()
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert tuple(fig.layout[axis].range) == (0, 120)
    notes = [a for a in fig.layout.annotations if a.text == plots.angles.NO_ANGLES]
    assert len(notes) == 1 and notes[0].xref == "x3 domain"
    sep = plots.angle_separation(clips.loc[clips.label == 0, "angle_to_centre_deg"],
                                 clips.loc[clips.label == 1, "angle_to_centre_deg"])
    assert any(f"AUC {sep['auc']:.3f}" in t for t in _annotation_texts(fig))


def test_angle_histograms_filter_and_wrap(clips):
    fig = plots.angle_histograms({"a": clips}, machine_type="pump")
    assert len(fig.data[0].x) + len(fig.data[1].x) == (clips.machine_type == "pump").sum()
    fig = plots.angle_histograms({"a": clips}, machine_type="fan", machine_id="id_02")
    assert len(fig.data[0].x) + len(fig.data[1].x) == ((clips.machine_type == "fan") & (clips.machine_id == "id_02")).sum()
    wrapped = plots.angle_histograms({str(i): clips for i in range(6)})
    assert len({t.yaxis for t in wrapped.data if isinstance(t, go.Histogram)}) == 6
    assert wrapped.layout.yaxis5.domain[1] < wrapped.layout.yaxis.domain[0]  # the 5th panel is on row 2


# --- embedding_scatter ------------------------------------------------------------------------

def test_embedding_scatter_customdata_maps_back_to_rows(clips):
    # a filtered, shuffled frame: the index labels, not positions, must come back
    subset = clips[clips.machine_type == "fan"].sample(frac=1.0, random_state=0)
    fig = plots.embedding_scatter(subset, color_by="machine_id", train=clips.head(30))
    test_traces = [t for t in fig.data if t.name != plots.TRAIN_TRACE]
    assert sorted(t.name for t in test_traces) == ["fan/id_00", "fan/id_02"]
    assert sum(len(t.x) for t in test_traces) == len(subset)
    for trace in test_traces:
        for j in (0, 3, len(trace.x) - 1):
            row = clips.loc[trace.customdata[j][0]]
            assert (row.umap_x, row.umap_y) == (trace.x[j], trace.y[j])
            assert f"{row.machine_type} {row.machine_id}" in trace.hovertext[j]


def test_embedding_scatter_train_points_grey_and_first(clips):
    fig = plots.embedding_scatter(clips, color_by="label", projection="pca", train=clips.head(30), highlight=7)
    train = fig.data[0]
    assert train.name == plots.TRAIN_TRACE and len(train.x) == 30
    assert train.marker.color == COLORS["train_points"] and train.customdata is None and train.hoverinfo == "skip"
    # visible behind the test clips, which sit on them: larger mid-grey halos, not small near-white dots
    assert int(train.marker.color[1:3], 16) < 0xA0 and train.marker.size > 8 and train.marker.opacity >= 0.3
    assert [t.name for t in fig.data[1:3]] == ["normal", "anomaly"]
    assert fig.data[1].marker.color == COLORS["normal"]
    ring = fig.data[-1]
    assert ring.name == plots.HIGHLIGHT_TRACE and ring.customdata[0][0] == 7
    assert (ring.x[0], ring.y[0]) == (clips.loc[7, "pca_x"], clips.loc[7, "pca_y"])


def test_embedding_scatter_gives_23_machine_ids_23_colours():
    """The toy data's 23 machine IDs on one map: no two IDs share a colour (15 colours used twice
    made two IDs look like one class)."""
    rng = np.random.default_rng(0)
    rows = [dict(machine_type=f"type{t}", machine_id=f"id_{i:02d}", label=int(rng.random() < 0.3),
                 umap_x=rng.normal(), umap_y=rng.normal(), score=rng.random())
            for t in range(6) for i in range(4 if t < 5 else 3) for _ in range(5)]
    clips = pd.DataFrame(rows)
    assert clips.groupby(["machine_type", "machine_id"]).ngroups == 23
    fig = plots.embedding_scatter(clips, color_by="machine_id")
    colours = [t.marker.color for t in fig.data if t.name != plots.TRAIN_TRACE]
    assert len(colours) == 23 and len(set(colours)) == 23
    # a few IDs keep the colour-blind-safe palette
    few = plots.embedding_scatter(clips[clips.machine_type == "type0"], color_by="machine_id")
    assert [t.marker.color for t in few.data] == plots.CATEGORICAL[:4]


def test_embedding_scatter_continuous_colour(clips):
    fig = plots.embedding_scatter(clips, color_by="score")
    assert fig.layout.coloraxis.colorscale is not None
    normal = fig.data[0]
    rows = clips.loc[[c[0] for c in normal.customdata]]
    np.testing.assert_allclose(normal.marker.color, rows.score)
    # no angles (an autoencoder): falls back to the label colours instead of failing
    fig = plots.embedding_scatter(make_clips(with_angles=False), color_by="angle_to_centre_deg")
    assert [t.name for t in fig.data] == ["normal", "anomaly"]
    assert "UMAP" in plots.embedding_scatter(clips.drop(columns=["umap_x", "umap_y"])).layout.annotations[0].text


# --- spectrogram and attention ----------------------------------------------------------------

def test_spectrogram_axes_in_seconds_and_db():
    fig = plots.spectrogram_figure(np.zeros((128, 313)), sample_rate=16000, hop_length=512)
    heat = fig.data[0]
    assert heat.x[1] == pytest.approx(512 / 16000) and len(heat.y) == 128
    assert heat.colorbar.title.text == "dB"
    assert fig.layout.xaxis.title.text == "time (s)"


def test_attention_figure_weights_on_secondary_axis_and_fault_span():
    weights = np.linspace(0.0, 1.0, 313).astype(np.float16)
    fig = plots.attention_figure(np.zeros((128, 313)), weights, fault_span=(2.0, 4.5), fault_kind="bearing")
    line = next(t for t in fig.data if t.name == plots.ATTENTION_TRACE)
    assert line.yaxis == "y2" and tuple(fig.layout.yaxis2.range) == (0, 1.02)
    np.testing.assert_allclose(line.y, weights.astype(np.float32))
    assert line.x[-1] == pytest.approx(312 * 512 / 16000)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(2.0, 4.5)]
    assert "fault: bearing" in _annotation_texts(fig)

    plain = plots.attention_figure(np.zeros((128, 313)), None, fault_span=(1.0, 2.0))
    assert all(t.name != plots.ATTENTION_TRACE for t in plain.data) and len(plain.layout.shapes) == 1


# --- training curves --------------------------------------------------------------------------

def test_training_curves_mark_selected_epoch():
    history = [dict(epoch=e, lr=1e-3, train_loss=1 / e, val_loss=1.5 / e, train_acc=1 - 1 / (e + 1),
                    selected=(e == 3)) for e in range(1, 6)]
    fig = plots.training_curves(history)
    names = [t.name for t in fig.data if t.name != "selected epoch"]
    assert names == ["training loss", "validation loss", "training accuracy"]  # no val_acc: skipped
    stars = [t for t in fig.data if t.name == "selected epoch"]
    assert len(stars) == 3 and all(t.x == (3,) for t in stars)
    assert sorted(t.y[0] for t in stars) == pytest.approx(sorted([1 / 3, 1.5 / 3, 1 - 1 / 4]))
    assert "selected epoch 3" in fig.layout.title.text
    assert plots.training_curves([]).to_json()


# --- scores -----------------------------------------------------------------------------------

def test_score_histogram_counts_errors_at_threshold():
    df = pd.DataFrame(dict(label=[0, 0, 0, 0, 1, 1, 1], score=[0.1, 0.2, 0.6, 0.9, 0.4, 0.7, 0.8]))
    assert plots.threshold_counts(df, 0.5) == dict(false_alarms=2, n_normal=4, missed_anomalies=1, n_anomaly=3)
    fig = plots.score_histogram(df, threshold=0.5)
    assert [t.name for t in fig.data] == ["normal (4): 2 false alarms", "anomaly (3): 1 missed"]
    assert [s.x0 for s in fig.layout.shapes] == [0.5]
    with pytest.raises(ValueError, match="score columns"):
        plots.score_histogram(df, score_column="score_gmm")


def test_roc_one_curve_per_machine_id_and_pauc_region(clips):
    fig = plots.roc_figure(clips)
    curves = [t for t in fig.data if t.name != "chance"]
    assert len(curves) == len(MACHINES)
    fan00 = clips[(clips.machine_type == "fan") & (clips.machine_id == "id_00")]
    auc = roc_auc_score(fan00.label, fan00.score)
    assert curves[0].name.startswith(f"fan/id_00 (AUC {auc:.3f}")
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(0, 0.1)]


# --- margin lab -------------------------------------------------------------------------------

@pytest.mark.parametrize("m", [0.7, 1.2])
def test_target_logit_arcface_follows_its_equation(m):
    s = 30.0
    fig = plots.target_logit_curves(s=s, m=m, lam=0.7)
    arcface = next(t for t in fig.data if t.name.startswith("ArcFace"))
    theta = np.asarray(arcface.x)
    for angle in (0.0, 30.0, 90.0, 120.0, 150.0, 175.0):
        i = int(np.argmin(np.abs(theta - angle)))
        t = math.radians(theta[i])
        if t < math.pi - m:
            expected = s * math.cos(t + m)
        else:  # the linear fallback past pi - m
            expected = s * (math.cos(t) - m * math.sin(math.pi - m))
        # abs 1e-4: losses.py floors sin(theta) at 1e-6 (a finite gradient at theta = 0)
        assert arcface.y[i] == pytest.approx(expected, abs=1e-4), angle
    ce = next(t for t in fig.data if t.name.startswith("CE"))
    assert ce.y[0] == pytest.approx(s)


def test_mixed_sample_lesson_noisy_arcmix_keeps_the_margin_on_y_a():
    """Noisy-ArcMix's minimum sits at y_a's margin boundary whatever lam; ArcMix follows the larger weight."""
    m = 0.7
    boundary_a, boundary_b = 45 - math.degrees(m) / 2, 45 + math.degrees(m) / 2
    for lam in (0.3, 0.7):
        phi, losses = plots.mixed_sample_losses(30.0, m, lam)
        best = {k: phi[np.argmin(v)] for k, v in losses.items()}
        assert best["noisy_arcmix"] == pytest.approx(boundary_a, abs=2.0)
        assert best["arcmix"] == pytest.approx(boundary_a if lam > 0.5 else boundary_b, abs=2.0)
        assert best["cross_entropy"] == pytest.approx(45.0, abs=3.0)


@pytest.mark.parametrize("m, centres", [(0.7, (0.0, 90.0)), (0.5, (30.0, 150.0))])
def test_decision_boundaries_at_half_margin_from_bisector(m, centres):
    fig = plots.decision_boundaries(m, s=30.0, centres_deg=centres)
    half = math.degrees(m) / 2
    bisector = sum(centres) / 2
    far = (bisector + 180.0) % 360.0
    expected = {1: sorted([(bisector - half) % 360, (far + half) % 360]),
                2: sorted([(bisector + half) % 360, (far - half) % 360])}
    for k in (1, 2):
        trace = next(t for t in fig.data if t.name == f"ArcFace boundary of class {k}")
        ends = [(x, y) for x, y in zip(trace.x, trace.y) if x is not None and (x, y) != (0.0, 0.0)]
        angles = sorted(math.degrees(math.atan2(y, x)) % 360 for x, y in ends)
        assert angles == pytest.approx(expected[k], abs=1e-3)
    ce = next(t for t in fig.data if t.name.startswith("softmax"))
    assert math.degrees(math.atan2(ce.y[1], ce.x[1])) % 360 == pytest.approx(bisector % 360)


def test_embedding_circle_normalises_and_marks_centres():
    rng = np.random.default_rng(0)
    points, labels = rng.normal(size=(60, 2)) * 3, np.repeat([0, 1, 2], 20)
    fig = plots.embedding_circle(points, labels, centres=rng.normal(size=(3, 2)))
    classes = [t for t in fig.data if t.name and t.name.startswith("class")]
    assert [len(t.x) for t in classes] == [20, 20, 20]
    np.testing.assert_allclose(np.hypot(classes[0].x, classes[0].y), 1.0)
    centres = [t for t in fig.data if t.name and t.name.startswith("centre")]
    assert len(centres) == 3 and np.hypot(centres[0].x[1], centres[0].y[1]) == pytest.approx(1.0)
    sphere = plots.embedding_circle(rng.normal(size=(30, 3)), np.repeat([0, 1], 15), rng.normal(size=(2, 3)))
    assert all(isinstance(t, go.Scatter3d) for t in sphere.data)


# --- every builder ----------------------------------------------------------------------------

BUILDERS = {
    "angle_histograms": lambda c: plots.angle_histograms({"run": c, "empty": c.iloc[:0]}, density=True),
    "embedding_scatter": lambda c: plots.embedding_scatter(c, color_by="angle_to_centre_deg", train=c, highlight=3),
    "spectrogram": lambda c: plots.spectrogram_figure(np.random.default_rng(0).normal(size=(1, 64, 50))),
    "attention": lambda c: plots.attention_figure(np.zeros((64, 50)), np.full(50, 0.5), fault_span=(0.2, 0.8)),
    "training_curves": lambda c: plots.training_curves([dict(epoch=1, train_loss=1.0, val_acc=None)]),
    "score_histogram": lambda c: plots.score_histogram(c, threshold=4.0, score_column="score_softmax"),
    "roc": lambda c: plots.roc_figure(c, group="machine_type"),
    "target_logit_curves": lambda c: plots.target_logit_curves(30.0, 0.7, 0.3),
    "decision_boundaries": lambda c: plots.decision_boundaries(0.7),
    "embedding_circle": lambda c: plots.embedding_circle(np.ones((4, 2)), [0, 0, 1, 1]),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_builder_returns_a_serialisable_figure(name, clips):
    fig = BUILDERS[name](clips)
    assert isinstance(fig, go.Figure)
    assert fig.to_json()
    assert fig.layout.template.layout.font is not None  # apply_style ran


def test_spectrogram_image_low_bands_at_the_bottom_and_the_fault_marked():
    """The Home page's preview: band 0 at the bottom, px_per_frame columns per frame, a white strip
    under it, in the anomaly colour exactly under the frames the fault covers."""
    from asdcore.plots.images import FAULT_BAR_PX, spectrogram_image

    logmel = np.zeros((4, 10))
    logmel[0] = 10.0  # the loudest band is the lowest
    image = spectrogram_image(logmel, fault_span=(0.16, 0.32), sample_rate=16000, hop_length=1600,
                              px_per_frame=3, px_per_band=2)
    assert image.dtype == np.uint8 and image.shape == (4 * 2 + FAULT_BAR_PX, 10 * 3, 3)
    bright, dark = image[7, 0].astype(int).sum(), image[0, 0].astype(int).sum()
    assert bright > dark  # the bottom rows hold band 0
    bar = image[-1]
    anomaly = [int(COLORS["anomaly"][i:i + 2], 16) for i in (1, 3, 5)]
    # frames are 0.1 s apart and half a hop wide each side: frames 2 and 3 overlap 0.16-0.32 s
    marked = [f for f in range(10) if (bar[3 * f] == anomaly).all()]
    assert marked == [2, 3]
    assert (bar[0] == 255).all() and (spectrogram_image(logmel)[-1] == 255).all()  # white without a fault
