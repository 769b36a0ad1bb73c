"""The margin lab's live toy (asdcore.marginlab): what a student is told they will see must happen."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from asdcore import marginlab, plots
from asdcore.marginlab import LabConfig


@pytest.fixture(scope="module")
def arcface_run():
    return marginlab.run(LabConfig(loss="arcface", steps=300, snapshot_every=50, seed=0))


def test_arcface_pulls_normals_to_their_centres_and_leaves_anomalies_out(arcface_run):
    first, last = arcface_run[0], arcface_run[-1]
    assert last.normal_angles_deg.mean() < 0.5 * first.normal_angles_deg.mean()
    assert last.anomaly_angles_deg.mean() > last.normal_angles_deg.mean() + 10.0
    # the angle works as an anomaly score on the toy: better than chance
    sep = plots.angle_separation(last.normal_angles_deg, last.anomaly_angles_deg, max_deg=180.0)
    assert sep["auc"] > 0.7
    assert last.accuracy > 0.9
    assert last.loss < first.loss


def test_snapshots_every_n_steps_with_unit_embeddings(arcface_run):
    assert [s.step for s in arcface_run] == [0, 50, 100, 150, 200, 250, 300]
    snap = arcface_run[-1]
    n, m = len(snap.labels), len(snap.anomaly_labels)
    assert snap.embeddings.shape == (n, 2) and snap.anomaly_embeddings.shape == (m, 2)
    assert snap.centres.shape == (4, 2)
    for arr in (snap.embeddings, snap.anomaly_embeddings, snap.centres):
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    # the angle is the one between each point and its own class's centre
    own = np.degrees(np.arccos(np.clip((snap.embeddings * snap.centres[snap.labels]).sum(1), -1, 1)))
    np.testing.assert_allclose(snap.normal_angles_deg, own, atol=1e-3)


def test_snapshots_feed_the_lab_figures(arcface_run):
    snap = arcface_run[-1]
    frame = snap.angles_frame()
    assert set(frame["label"]) == {0, 1} and len(frame) == len(snap.labels) + len(snap.anomaly_labels)
    fig = plots.angle_histograms({"ArcFace": frame}, max_deg=180.0)
    assert len(fig.data) == 2
    points, labels, centres, names = snap.circle_inputs()
    fig = plots.embedding_circle(points, labels, centres, names, normalise=False)
    assert names[-1].startswith("anomalous") and len(names) == 5
    assert {t.name for t in fig.data} >= {"class 0", "class 3", names[-1]}


def test_seeded_and_the_same_start_for_every_loss():
    a = marginlab.run(LabConfig(loss="noisy_arcmix", steps=40, snapshot_every=20, seed=3))
    b = marginlab.run(LabConfig(loss="noisy_arcmix", steps=40, snapshot_every=20, seed=3))
    np.testing.assert_array_equal(a[-1].embeddings, b[-1].embeddings)
    c = marginlab.run(LabConfig(loss="ce", steps=40, snapshot_every=20, seed=3))
    # same data and initial weights whatever the loss: the losses are compared from one start
    np.testing.assert_array_equal(a[0].embeddings, c[0].embeddings)
    assert not np.array_equal(a[-1].embeddings, c[-1].embeddings)


def test_every_loss_trains_in_2d_and_3d():
    for dim in (2, 3):
        runs = marginlab.run_all(LabConfig(steps=30, snapshot_every=30, embedding_dim=dim))
        assert list(runs) == list(marginlab.LOSSES)
        for snaps in runs.values():
            assert [s.step for s in snaps] == [0, 30]
            assert snaps[-1].embeddings.shape[1] == dim and np.isfinite(snaps[-1].loss)


def test_leaves_the_callers_torch_state_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    for _ in marginlab.train_steps(LabConfig(steps=10, snapshot_every=5)):
        assert torch.get_num_threads() == threads  # restored while suspended between snapshots
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


@pytest.mark.parametrize("bad, message", [
    (dict(loss="focal"), "loss must be one of"),
    (dict(embedding_dim=4), "embedding_dim must be 2 or 3"),
    (dict(m=4.0), "m must be an angle"),
    (dict(n_classes=1), "n_classes must be >= 2"),
    (dict(batch_size=1), "batch_size must be >= 2"),
])
def test_bad_settings_name_the_value(bad, message):
    with pytest.raises(ValueError, match=message):
        replace(LabConfig(), **bad)
