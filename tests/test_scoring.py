"""Anomaly-score back-ends: each score recomputed by hand or checked by the behaviour a user relies
on (near the training cluster = low, far away = high, training clips never their own neighbour)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from asdcore.evaluation.scoring import (BACKEND_DESCRIPTIONS, BACKEND_REGISTRY, BACKENDS, GMM, KNN, Backend,
                                        EmbeddingSet, cosine_score, create_backend, fit_and_score, l2_normalise,
                                        score_all, softmax_score)


def gmm_scores(test_emb, test_cls, train_emb, train_cls, subcentres=None):
    """The GMM back-end fitted on (train_emb, train_cls), scoring (test_emb, test_cls)."""
    return fit_and_score(GMM(subcentres), EmbeddingSet(test_emb, test_cls), EmbeddingSet(train_emb, train_cls))


def knn_scores(test_emb, test_cls, train_emb, train_cls, k=1):
    return fit_and_score(KNN(k), EmbeddingSet(test_emb, test_cls), EmbeddingSet(train_emb, train_cls))


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def clustered_sets(rng, n_classes=2, n_train=30, dim=16, spread=0.05):
    """Training normals tight around one random direction per class; the test set has, per
    class, one clip at the class's centre and one far away (the opposite direction)."""
    centres = np.stack([unit(rng.normal(size=dim)) for _ in range(n_classes)])
    train_emb = np.concatenate([c + spread * rng.normal(size=(n_train, dim)) for c in centres])
    train_cls = np.repeat(np.arange(n_classes), n_train)
    test_emb = np.concatenate([np.stack([c, -c]) for c in centres])
    test_cls = np.repeat(np.arange(n_classes), 2)  # rows: near, far, near, far, ...
    return EmbeddingSet(test_emb, test_cls), EmbeddingSet(train_emb, train_cls), centres


def test_every_backend_has_a_description():
    # reconstruction: the autoencoder's own score; subcluster: computed by evaluate.py on domain data;
    # the ensemble's sums (asdcore.evaluation.ensemble)
    from asdcore.config import ENSEMBLE_BACKENDS

    assert set(BACKENDS) | {"reconstruction", "subcluster", *ENSEMBLE_BACKENDS} == set(BACKEND_DESCRIPTIONS)


@pytest.mark.parametrize("name", BACKENDS)
def test_every_registered_backend_fits_then_scores(name):
    """Walks the registry: each back-end is a Backend, fits on training normals (setting their own
    scores) and scores new clips, near a class centre lower than far from it."""
    test, train, centres = clustered_sets(np.random.default_rng(7))

    def with_head(clips):  # the head's output for these clips: cosines to the centres, s = 30
        cos = l2_normalise(clips.embedding) @ centres.T
        return EmbeddingSet(clips.embedding, clips.class_index, cosine=cos, logits=30 * cos)

    backend = create_backend(name)
    assert isinstance(backend, Backend) and backend.description == BACKEND_DESCRIPTIONS[name]
    assert backend.fit(with_head(train)) is backend
    assert backend.train_scores.shape == (len(train),) and np.all(np.isfinite(backend.train_scores))
    scores = backend.score(with_head(test))
    assert scores.shape == (len(test),) and np.all(scores[0::2] < scores[1::2])
    assert set(BACKEND_REGISTRY) == set(BACKENDS)


def test_softmax_score_is_minus_log_softmax_of_own_class_by_hand():
    logits = np.array([[2.0, 0.0, -1.0],
                       [0.5, 0.5, 3.0]])
    y = np.array([0, 1])
    expected = [-(2.0 - math.log(math.exp(2.0) + math.exp(0.0) + math.exp(-1.0))),
                -(0.5 - math.log(2 * math.exp(0.5) + math.exp(3.0)))]
    np.testing.assert_allclose(softmax_score(logits, y), expected, rtol=1e-12)


def test_softmax_score_is_stable_for_large_logits():
    # s = 30 times a cosine can reach 30; times a mis-set scale it can reach thousands
    scores = softmax_score(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    np.testing.assert_allclose(scores, [0.0, 1000.0], atol=1e-9)


def test_softmax_with_subclusters_sums_probabilities_per_class():
    logits = np.array([[[1.0, 2.0], [0.0, -1.0]]])  # (N=1, C=2, S=2)
    p = np.exp(logits.ravel()) / np.exp(logits.ravel()).sum()
    np.testing.assert_allclose(softmax_score(logits, np.array([0])), [-math.log(p[0] + p[1])], rtol=1e-12)


def test_cosine_score_is_one_minus_own_class_cosine():
    cos = np.array([[0.9, 0.1], [0.2, -0.4], [0.3, 0.8]])
    y = np.array([0, 1, 1])
    np.testing.assert_allclose(cosine_score(cos, y), [0.1, 1.4, 0.2], rtol=1e-12)


def test_knn_training_scores_are_leave_one_out():
    a, b = unit([1, 0, 0]), unit([0, 1, 0])
    train = np.stack([a, a, b])  # a twin pair and a singleton, all one class
    cls = np.zeros(3, dtype=int)
    scores = knn_scores(np.stack([a]), np.zeros(1, dtype=int), train, cls)
    # the twins are 0 apart only because of each other; b's nearest other clip is a (cos 0)
    np.testing.assert_allclose(scores.train, [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(scores.test, [0.0], atol=1e-12)


def test_knn_single_training_clip_has_no_leave_one_out_neighbour():
    scores = knn_scores(np.ones((1, 3)), np.zeros(1, dtype=int), np.ones((1, 3)), np.zeros(1, dtype=int))
    assert np.isnan(scores.train[0]) and scores.test[0] == pytest.approx(0.0, abs=1e-12)


def test_knn_k_averages_the_k_nearest_cosine_distances():
    train = np.stack([unit([1, 0]), unit([1, 1]), unit([0, 1])])
    test = np.stack([unit([1, 0])])
    scores = knn_scores(test, np.zeros(1, dtype=int), train, np.zeros(3, dtype=int), k=2)
    assert scores.test[0] == pytest.approx((0.0 + (1 - math.sqrt(0.5))) / 2)


@pytest.mark.parametrize("backend", ["gmm", "knn", "lof"])
def test_clip_at_training_cluster_scores_lower_than_far_clip(backend):
    test, train, _ = clustered_sets(np.random.default_rng(0))
    scores = score_all(test, train, backends=(backend,))[backend]
    near, far = scores.test[0::2], scores.test[1::2]
    assert np.all(near < far)
    assert np.all(np.isfinite(scores.train))
    assert scores.train.shape == (len(train),)


def test_gmm_works_with_few_clips_in_128_dimensions_and_more_subcentres_than_clips():
    rng = np.random.default_rng(1)
    test, train, centres = clustered_sets(rng, n_classes=2, n_train=8, dim=128)
    subcentres = np.stack([np.stack([c, unit(rng.normal(size=128))] * 6) for c in centres])  # (C, 12, D)
    scores = gmm_scores(test.embedding, test.class_index, train.embedding, train.class_index, subcentres)
    assert np.all(np.isfinite(scores.test)) and np.all(np.isfinite(scores.train))
    assert np.all(scores.test[0::2] < scores.test[1::2])


def test_gmm_score_is_minus_the_component_log_density():
    from scipy.stats import multivariate_normal
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(2)
    train = rng.normal(size=(40, 3))
    test = rng.normal(size=(5, 3))
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    gmm = GaussianMixture(1, covariance_type="full", reg_covar=1e-3).fit(norm(train))
    expected = -multivariate_normal(gmm.means_[0], gmm.covariances_[0]).logpdf(norm(test))
    scores = gmm_scores(test, np.zeros(5, dtype=int), train, np.zeros(40, dtype=int))
    np.testing.assert_allclose(scores.test, expected, rtol=1e-6)


def test_gmm_scores_training_normals_cross_fitted_never_by_their_own_mixture():
    """A training clip's gmm score comes from a mixture that did not see it: a mixture scoring its
    own clips is far too optimistic with few clips in many dimensions, which would put decision
    thresholds (percentiles of training scores) far too low."""
    from asdcore.evaluation.scoring import GMM_FOLDS

    rng = np.random.default_rng(4)
    train, fresh = rng.normal(size=(40, 32)), rng.normal(size=(400, 32))
    cls = np.zeros(40, dtype=int)
    scores = gmm_scores(fresh, np.zeros(400, dtype=int), train, cls)
    # clip i is scored by the mixture fitted on the clips of the other folds (fold = i mod GMM_FOLDS)
    fold = np.arange(40) % GMM_FOLDS
    for f in (0, GMM_FOLDS - 1):
        alone = gmm_scores(train[fold == f], np.zeros(int((fold == f).sum()), dtype=int), train[fold != f],
                           np.zeros(int((fold != f).sum()), dtype=int))
        np.testing.assert_allclose(scores.train[fold == f], alone.test, rtol=1e-9)
    in_sample = gmm_scores(train, cls, train, cls).test  # what scoring its own clips gives
    low = np.percentile(scores.test, 5)  # fresh normals of the same distribution
    assert np.median(in_sample) < low < np.median(scores.train)


def test_missing_inputs_skip_backends():
    test, train, _ = clustered_sets(np.random.default_rng(3))
    assert set(score_all(test, train)) == {"gmm", "knn", "lof", "mean_cosine"}  # no logits, no cosines
    cos_test = np.zeros((len(test), 2))
    test_with_cos = EmbeddingSet(test.embedding, test.class_index, cosine=cos_test)
    assert set(score_all(test_with_cos, train)) == {"cosine", "gmm", "knn", "lof", "mean_cosine"}
    no_emb = EmbeddingSet(None, test.class_index, cosine=cos_test)
    result = score_all(no_emb, train)
    assert set(result) == {"cosine"}
    assert np.all(np.isnan(result["cosine"].train))  # training set carries no cosines: not faked


def test_class_without_training_normals_gives_nan():
    test, train, _ = clustered_sets(np.random.default_rng(4))
    logits = np.zeros((len(test) + 1, 3))
    test = EmbeddingSet(np.vstack([test.embedding, test.embedding[:1]]), np.append(test.class_index, 2),
                   logits=logits)
    result = score_all(test, train)
    for backend in ("gmm", "knn", "lof"):
        assert np.isnan(result[backend].test[-1]), backend
        assert np.all(np.isfinite(result[backend].test[:-1])), backend
    assert np.isfinite(result["softmax"].test[-1])  # the head has a column for class 2


def test_unknown_backend_is_an_error():
    test, train, _ = clustered_sets(np.random.default_rng(5))
    with pytest.raises(ValueError):
        score_all(test, train, backends=("reconstruction",))


def test_class_with_one_training_clip_never_crashes():
    rng = np.random.default_rng(6)
    train = EmbeddingSet(rng.normal(size=(11, 8)), [0] * 10 + [1])
    test = EmbeddingSet(rng.normal(size=(2, 8)), [0, 1])
    result = score_all(test, train)
    assert np.isnan(result["gmm"].test[1]) and np.isnan(result["lof"].test[1])  # no model from one clip
    assert np.isfinite(result["knn"].test[1]) and np.isnan(result["knn"].train[10])  # no other clip


def test_a_clip_without_a_class_scores_as_the_most_normal_of_its_candidate_classes():
    """DCASE 2023 evaluation clips name a section, not its attribute values: a clip without a class
    scores as the minimum over its candidate classes of its score as that class."""
    test, train, centres = clustered_sets(np.random.default_rng(7), n_classes=3)
    logits = np.random.default_rng(8).normal(size=(len(test), 3))
    candidates = np.zeros((len(test), 3), dtype=bool)
    candidates[0, [1, 2]] = True  # clip 0 (at class 0's centre) may only be class 1 or 2
    candidates[2, [0, 1]] = True  # clip 2 (at class 1's centre) may be class 0 or 1
    classless = EmbeddingSet(test.embedding, np.array([-1, 0, -1, 1, 2, 2]), logits=logits, candidates=candidates)
    with_classes = EmbeddingSet(test.embedding, test.class_index, logits=logits)
    for name in ("softmax", "knn", "gmm"):
        got = score_all(classless, train, backends=(name,))[name].test
        as_each = [score_all(EmbeddingSet(test.embedding, np.full(len(test), c), logits=logits), train,
                             backends=(name,))[name].test for c in range(3)]
        assert got[0] == pytest.approx(min(as_each[1][0], as_each[2][0])), name
        assert got[2] == pytest.approx(min(as_each[0][2], as_each[1][2])), name
        # clips with a class are scored as before
        assert got[1] == pytest.approx(score_all(with_classes, train, backends=(name,))[name].test[1]), name
    # knn: the clip at class 1's centre, allowed class 1, scores as near as a clip of class 1 does
    knn = score_all(classless, train, backends=("knn",))["knn"].test
    assert knn[2] == pytest.approx(score_all(with_classes, train, backends=("knn",))["knn"].test[2])


def test_mean_cosine_is_the_cosine_distance_to_the_class_mean_by_hand():
    from asdcore.evaluation.scoring import MeanCosine

    rng = np.random.default_rng(0)
    train_x = rng.normal(size=(5, 3))
    classes = np.array([0, 0, 0, 1, 1])
    test_x = rng.normal(size=(2, 3))
    backend = MeanCosine().fit(EmbeddingSet(train_x, classes))
    unit = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    mean0 = unit[:3].mean(axis=0)
    expected = 1 - (test_x[0] / np.linalg.norm(test_x[0])) @ (mean0 / np.linalg.norm(mean0))
    assert backend.score(EmbeddingSet(test_x, np.array([0, 1])))[0] == pytest.approx(expected)
    # a training normal is scored by the mean of its class's other clips
    others = unit[1:3].mean(axis=0)
    assert backend.train_scores[0] == pytest.approx(1 - unit[0] @ (others / np.linalg.norm(others)))


def _lof_by_hand(train: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Breunig et al.'s local outlier factor of each query point among `train`, Euclidean:
    k-distance, reachability distance max(k-distance(o), d(p, o)), local reachability density
    1 / mean reach-dist over the k neighbours, LOF = mean lrd(neighbours) / lrd(p)."""
    def knn(p, points, exclude=None):
        d = np.linalg.norm(points - p, axis=1)
        if exclude is not None:
            d[exclude] = np.inf
        order = np.argsort(d)[:k]
        return order, d[order]

    k_distance = np.array([knn(train[i], train, exclude=i)[1][-1] for i in range(len(train))])

    def lrd(p, exclude=None):
        order, d = knn(p, train, exclude)
        return 1.0 / np.mean(np.maximum(k_distance[order], d))

    train_lrd = np.array([lrd(train[i], exclude=i) for i in range(len(train))])
    return np.array([train_lrd[knn(q, train)[0]].mean() / lrd(q) for q in query])


def test_lof_with_four_neighbours_is_the_local_outlier_factor_by_hand():
    """The JLESS system's detector: LOF with k = 4 on the (normalised) embeddings of each section."""
    rng = np.random.default_rng(1)
    train_x = rng.normal(size=(12, 3))
    test_x = np.concatenate([rng.normal(size=(3, 3)), [[3.0, 0.0, 0.0]]])
    backend = create_backend("lof", n_neighbors=4).fit(EmbeddingSet(train_x, np.zeros(12, dtype=int)))
    got = backend.score(EmbeddingSet(test_x, np.zeros(4, dtype=int)))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    assert got == pytest.approx(_lof_by_hand(unit(train_x), unit(test_x), 4), rel=1e-6)
