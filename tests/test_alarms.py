"""asdcore.alarms: per-ID thresholds, false alarms / missed anomalies, neighbours, the diagnosis."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asdcore import alarms

MACHINES = [("fan", "id_00"), ("fan", "id_02"), ("pump", "id_00")]


def make_train(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Training normals whose scores differ per machine ID (so one global threshold would be wrong)."""
    rng = np.random.default_rng(seed)
    rows = [dict(machine_type=t, machine_id=i, label=0, score=rng.normal(10.0 * k, 1.0),
                 angle_to_centre_deg=rng.uniform(5, 20 + 10 * k), path=f"{t}/train/normal_{i}_{j:08d}.wav")
            for k, (t, i) in enumerate(MACHINES) for j in range(n)]
    return pd.DataFrame(rows)


def make_test() -> pd.DataFrame:
    """Two normals and two anomalies per machine ID, at scores chosen around the thresholds."""
    rows = []
    for k, (t, i) in enumerate(MACHINES):
        base = 10.0 * k
        for label, score in ((0, base - 3), (0, base + 3), (1, base + 4), (1, base - 2)):
            rows.append(dict(machine_type=t, machine_id=i, label=label, score=score))
    # a non-default index: decide() must keep the clips' index labels
    return pd.DataFrame(rows, index=np.arange(100, 100 + len(rows)))


def test_thresholds_are_the_percentile_of_each_ids_training_normals():
    train = make_train()
    table = alarms.thresholds_per_id(train, "score", 90.0)
    assert len(table) == len(MACHINES)
    for (t, i) in MACHINES:
        mine = train[(train["machine_type"] == t) & (train["machine_id"] == i)]["score"]
        got = table[(table["machine_type"] == t) & (table["machine_id"] == i)]
        assert got["threshold"].item() == pytest.approx(np.percentile(mine, 90.0))
        assert got["n_train"].item() == len(mine)
    # id_00 of fan and id_00 of pump are different machines with different thresholds
    assert table["threshold"].nunique() == len(MACHINES)
    # a lower percentile gives lower thresholds
    assert (alarms.thresholds_per_id(train, "score", 50.0)["threshold"] < table["threshold"]).all()


def test_an_id_without_training_scores_gets_no_threshold_and_no_decision():
    train = make_train()
    train.loc[train["machine_type"] == "pump", "score"] = np.nan
    decided = alarms.decide(make_test(), alarms.thresholds_per_id(train), "score")
    pump = decided[decided["machine_type"] == "pump"]
    assert pump["threshold"].isna().all() and (pump["outcome"] == alarms.NO_THRESHOLD).all()
    assert pump["called_anomalous"].isna().all()
    with pytest.raises(ValueError):
        alarms.thresholds_per_id(train, "score", 101.0)


def test_false_alarms_and_missed_anomalies_are_the_clips_on_the_wrong_side():
    train, test = make_train(), make_test()
    thresholds = alarms.thresholds_per_id(train, "score", 90.0)
    decided = alarms.decide(test, thresholds, "score")
    assert list(decided.index) == list(test.index)
    # recompute with a plain loop
    expected_fp, expected_fn = set(), set()
    for idx, row in test.iterrows():
        mine = train[(train["machine_type"] == row["machine_type"]) & (train["machine_id"] == row["machine_id"])]
        threshold = np.percentile(mine["score"], 90.0)
        if row["label"] == 0 and row["score"] > threshold:
            expected_fp.add(idx)
        if row["label"] == 1 and row["score"] <= threshold:
            expected_fn.add(idx)
    fp, fn = alarms.false_alarms(decided), alarms.missed_anomalies(decided)
    assert set(fp.index) == expected_fp and set(fn.index) == expected_fn
    assert expected_fp and expected_fn  # the fixture has both kinds
    assert fp["margin"].is_monotonic_decreasing and fn["margin"].is_monotonic_increasing
    counts = alarms.counts_per_id(decided)
    assert counts["false_alarms"].sum() == len(expected_fp)
    assert counts["missed_anomalies"].sum() == len(expected_fn)
    assert counts["normals"].sum() == (test["label"] == 0).sum()


def test_score_rank_counts_from_the_most_anomalous():
    clips = pd.DataFrame({"score": [0.1, 0.9, 0.5, np.nan]}, index=[10, 11, 12, 13])
    assert alarms.score_rank(clips, 11) == (1, pytest.approx(100.0))
    assert alarms.score_rank(clips, 10) == (3, pytest.approx(100.0 / 3))
    assert alarms.score_rank(clips, 13)[0] == 0


def test_nearest_training_clips_are_sorted_by_cosine_and_of_the_same_machine_type():
    rng = np.random.default_rng(1)
    train = make_train(n=10)
    embeddings = rng.normal(size=(len(train), 16))
    query = embeddings[3] * 5.0 + 0.01 * rng.normal(size=16)  # nearly train row 3 (a fan), scaled
    got = alarms.nearest_training_clips(query, embeddings, train, machine_type="fan", k=5)
    assert len(got) == 5
    assert (got["machine_type"] == "fan").all()
    assert got.index[0] == train.index[3] and got["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-3)
    assert got["similarity"].is_monotonic_decreasing
    # the similarities are the cosines, recomputed
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    q = query / np.linalg.norm(query)
    fans = np.flatnonzero(train["machine_type"] == "fan")
    best = fans[np.argsort(-(unit[fans] @ q))[:5]]
    assert list(got.index) == list(train.index[best])
    np.testing.assert_allclose(got["similarity"], unit[best] @ q, rtol=1e-9)
    # a pump query never returns fans; no such type gives an empty table
    assert (alarms.nearest_training_clips(query, embeddings, train, "pump", 3)["machine_type"] == "pump").all()
    assert alarms.nearest_training_clips(query, embeddings, train, "valve", 3).empty


def _clip(**fields) -> pd.Series:
    base = dict(machine_type="ToyConveyor", machine_id="id_01", class_index=20, predicted_class=20,
                predicted_machine_id="id_01", label=0,
                angle_to_centre_deg=20.0, angle_to_nearest_other_deg=60.0, nearest_other_machine_id="id_02",
                outcome=alarms.FALSE_ALARM, margin=0.5)
    return pd.Series({**base, **fields})


def test_diagnosis_names_an_id_confusion_first():
    hint = alarms.diagnose(_clip(predicted_class=21, predicted_machine_id="id_02", angle_to_centre_deg=80.0,
                                 angle_to_nearest_other_deg=50.0), angle_limit_deg=40.0)
    assert hint.startswith("classified as id_02: ID confusion (it is ToyConveyor id_01)")  # no type known: the ID
    typed = _clip(predicted_class=21, predicted_machine_id="id_02", predicted_machine_type="ToyConveyor")
    assert alarms.diagnose(typed, 40.0).startswith("classified as ToyConveyor id_02: ID confusion")


def test_an_id_of_another_machine_type_is_a_confusion_too():
    """IDs repeat across types: fan id_02 taken for pump id_02 is a confusion, named with its type."""
    train = pd.DataFrame({"class_index": [1, 5], "machine_type": ["fan", "pump"], "machine_id": ["id_02", "id_02"]})
    names = alarms.class_names(train)
    assert names == {1: ("fan", "id_02"), 5: ("pump", "id_02")}
    clip = _clip(machine_type="fan", machine_id="id_02", class_index=1, predicted_class=5, predicted_machine_id="id_02")
    assert alarms.is_confused(clip)
    assert alarms.predicted_machine(clip, names) == "pump id_02"
    assert alarms.diagnose(clip, 40.0, names).startswith("classified as pump id_02: ID confusion (it is fan id_02)")
    assert alarms.predicted_machine(_clip(predicted_class=20), names) == "id_01"  # unknown class: the ID


def test_diagnosis_far_from_every_centre_names_the_other_centre_in_full_and_agrees_with_the_neighbours():
    """Issue 29: a ToyCar clip whose nearest other centre is pump id_04 names "pump id_04", not "id_04"; and
    the wording follows the nearest training normals (issue 26: "unlike any training normal" was said of a
    clip whose five neighbours were of its own ID)."""
    far = _clip(machine_type="ToyCar", machine_id="id_01", angle_to_centre_deg=70.0, angle_to_nearest_other_deg=78.0,
                nearest_other_machine_type="pump", nearest_other_machine_id="id_04")
    hint = alarms.diagnose(far, angle_limit_deg=40.0)
    assert hint.startswith("far from every centre (70° from its own, 78° from pump id_04, normals within 40°)")
    own = pd.DataFrame({"machine_type": ["ToyCar"] * 5, "machine_id": ["id_01"] * 4 + ["id_02"]})
    assert "yet 4 of its 5 nearest training normals are of its own machine" in alarms.diagnose(far, 40.0, None, own)
    others = own.assign(machine_id=["id_02"] * 4 + ["id_01"])
    assert "most of its nearest training normals are of other machines" in alarms.diagnose(far, 40.0, None, others)


def test_diagnosis_of_clips_near_their_own_centre():
    assert "borderline" in alarms.diagnose(_clip(), angle_limit_deg=40.0)
    assert "barely moves" in alarms.diagnose(_clip(label=1, outcome=alarms.MISSED, margin=-1.0), 40.0)
    # without a reference angle nothing is called "far"
    assert not alarms.diagnose(_clip(angle_to_centre_deg=70.0, angle_to_nearest_other_deg=85.0)).startswith("far")


def test_diagnosis_without_class_centres_speaks_of_the_score():
    hint = alarms.diagnose(_clip(predicted_machine_id=None, angle_to_centre_deg=np.nan,
                                 angle_to_nearest_other_deg=np.nan, margin=0.25))
    assert hint.startswith("no class centres") and "0.25 above the threshold" in hint
    # below: the distance and the threshold, never a number that reads as the score itself
    hint = alarms.diagnose(_clip(predicted_machine_id=None, angle_to_centre_deg=np.nan,
                                 angle_to_nearest_other_deg=np.nan, margin=-54.2, threshold=71.24))
    assert "its score lies 54.2 below the threshold of 71.24" in hint


def test_score_backends_lists_the_columns_both_tables_have():
    test = pd.DataFrame(columns=["score", "score_softmax", "score_knn", "label"])
    train = pd.DataFrame(columns=["score", "score_softmax"])
    assert alarms.score_backends(test) == ["softmax", "knn"]
    assert alarms.score_backends(test, train) == ["softmax"]


def test_thresholds_come_from_held_out_normals_where_an_id_has_enough():
    train = make_train(n=40)
    train["role"] = "train"
    fan00 = train.index[(train["machine_type"] == "fan") & (train["machine_id"] == "id_00")]
    fan02 = train.index[(train["machine_type"] == "fan") & (train["machine_id"] == "id_02")]
    train.loc[fan00[:4], "role"] = "val"  # enough held out: only these four count
    train.loc[fan02[:1], "role"] = "val"  # too few: all forty count
    reference = alarms.threshold_reference(train)
    assert set(reference.index) == set(fan00[:4]) | set(fan02) | set(train.index[train["machine_type"] == "pump"])
    assert alarms.held_out_ids(reference) == 1
    table = alarms.thresholds_per_id(reference, "score", 90.0).set_index(["machine_type", "machine_id"])
    assert table.loc[("fan", "id_00"), "threshold"] == pytest.approx(np.percentile(train.loc[fan00[:4], "score"], 90))
    assert table.loc[("fan", "id_00"), "n_train"] == 4 and table.loc[("fan", "id_02"), "n_train"] == 40
    assert len(alarms.threshold_reference(train.drop(columns="role"))) == len(train)  # no roles: every row


def test_held_out_thresholds_bring_a_bundled_runs_false_alarms_towards_the_nominal_rate():
    """The reason for threshold_reference: the network fitted its training clips, so thresholds from
    their scores flag far more than 10 % of the test normals; held-out normals come much closer."""
    from asdcore.paths import bundled_runs_root

    folder = bundled_runs_root() / "tastgram-noisy-arcmix" / "eval"
    test, train = pd.read_parquet(folder / "clips.parquet"), pd.read_parquet(folder / "train_clips.parquet")

    def false_alarm_rate(reference: pd.DataFrame) -> float:
        decided = alarms.decide(test, alarms.thresholds_per_id(reference, "score_softmax"), "score_softmax")
        return len(alarms.false_alarms(decided)) / int((test["label"] == 0).sum())

    assert alarms.held_out_ids(alarms.threshold_reference(train)) == train.groupby(alarms.MACHINE).ngroups
    in_sample, held_out = false_alarm_rate(train), false_alarm_rate(alarms.threshold_reference(train))
    # a 90th percentile from ~12 held-out clips per ID is coarse: within 10 points of the nominal
    # 10 %, and at least 5 points nearer to it than the in-sample thresholds
    assert abs(held_out - 0.10) < 0.10 and held_out < in_sample - 0.05, (held_out, in_sample)


# --- DCASE 2021-2023 data: per section and domain; the gamma rule; decision scores ---------------

def make_domain_train(seed: int = 0) -> pd.DataFrame:
    """One section whose target normals score far higher than its source normals (a domain shift)."""
    rng = np.random.default_rng(seed)
    rows = [dict(machine_type="fan", machine_id="00", domain=d, label=0, role="train",
                 score=rng.normal(mean, 1.0)) for d, mean, n in (("source", 0.0, 100), ("target", 10.0, 10))
            for _ in range(n)]
    return pd.DataFrame(rows)


def test_on_data_with_domains_each_section_and_domain_has_its_own_threshold():
    train = make_domain_train()
    assert alarms.threshold_keys(train) == ["machine_type", "machine_id", "domain"]
    table = alarms.thresholds_per_id(train, "score", 90.0).set_index("domain")
    for domain in ("source", "target"):
        expected = np.percentile(train.loc[train["domain"] == domain, "score"], 90.0)
        assert table.loc[domain, "threshold"] == pytest.approx(expected)
    # target normals at the target scores: judged against the target threshold, not the source one
    test = pd.DataFrame(dict(machine_type="fan", machine_id="00", domain=["source", "target", "target"],
                             label=0, score=[0.5, 10.5, 30.0]))
    decided = alarms.decide(test, alarms.thresholds_per_id(train, "score", 90.0), "score")
    assert decided["outcome"].tolist() == [alarms.PASSED, alarms.PASSED, alarms.FALSE_ALARM]
    # without a domain column: one threshold per ID, as before
    assert alarms.threshold_keys(train.drop(columns="domain")) == ["machine_type", "machine_id"]


def test_a_domain_with_too_few_held_out_normals_takes_all_its_training_normals():
    train = make_domain_train()
    train.loc[train.index[:20], "role"] = "val"  # 20 held-out source clips, no held-out target clip
    reference = alarms.threshold_reference(train)
    assert set(reference.loc[reference["domain"] == "source", "role"]) == {"val"}
    assert (reference["domain"] == "target").sum() == 10  # all of the target's training normals
    assert alarms.held_out_ids(reference) == 1 and alarms.threshold_groups(reference) == 2


def test_gamma_threshold_is_the_percentile_of_a_fitted_gamma_distribution():
    from scipy import stats

    truth = stats.gamma(2.0, loc=0.5, scale=1.5)
    values = truth.rvs(size=5000, random_state=np.random.default_rng(0))
    assert alarms.gamma_percentile(values, 90.0) == pytest.approx(truth.ppf(0.9), rel=0.03)
    # by hand, on a small case: scipy's maximum-likelihood fit, then its 90th percentile
    small = values[:30]
    a, loc, scale = stats.gamma.fit(small)
    assert alarms.gamma_percentile(small, 90.0) == pytest.approx(stats.gamma.ppf(0.9, a, loc=loc, scale=scale))
    # too few distinct values to fit: the empirical percentile
    assert alarms.gamma_percentile(np.array([1.0, 1.0, 2.0]), 50.0) == pytest.approx(1.0)
    table = alarms.thresholds_per_id(make_train(), "score", 90.0, rule="gamma")
    assert table["threshold"].notna().all()
    with pytest.raises(ValueError, match="threshold rule"):
        alarms.thresholds_per_id(make_train(), "score", 90.0, rule="median")


def test_a_backend_that_decides_on_another_score_is_decided_on_it():
    clips = pd.DataFrame(dict(score_subcluster=[1.0], decision_subcluster=[0.5], score_gmm=[2.0], score=[1.0],
                              decision=[0.5]))
    assert alarms.decision_column(clips, "score_subcluster") == "decision_subcluster"
    assert alarms.decision_column(clips, "score") == "decision"
    assert alarms.decision_column(clips, "score_gmm") == "score_gmm"


def test_a_clip_far_from_every_training_normal_is_called_unfamiliar_and_ordinary_ones_are_not():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=16)
    train_embeddings = centre + 0.1 * rng.normal(size=(200, 16))  # one machine type's normals, a tight cloud
    train = pd.DataFrame({"machine_type": ["fan"] * 200})
    floors = alarms.familiarity_floor(train_embeddings, train)
    assert 0.9 < floors["fan"] < 1.0

    def similarity(x):
        return float(alarms.nearest_training_clips(x, train_embeddings, train, "fan", 1)["similarity"].iloc[0])

    ordinary = centre + 0.1 * rng.normal(size=16)
    assert alarms.unfamiliar_note(similarity(ordinary), floors["fan"]) == ""
    elsewhere = rng.normal(size=16)  # another direction altogether
    note = alarms.unfamiliar_note(similarity(elsewhere), floors["fan"])
    assert note.startswith("unlike every training recording of its machine type") and "a strong fault, or" in note
    assert alarms.unfamiliar_note(0.2, None) == ""  # a type without enough normals to say
