"""The sub-cluster AdaCos system's scores (eqs. 2-4 of Wilkinghoff's DCASE 2021 report), each
recomputed by hand from the fitted mixtures' parameters with scipy's Gaussian density."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from asdcore.evaluation.scoring import l2_normalise
from asdcore.evaluation.subcluster_scores import (TARGET_COMPONENTS, fit_mixtures, fit_tmax, source_scores,
                                                  target_scores, valve_term)


def best_logpdf(gmm, x) -> np.ndarray:
    """max over the mixture's components of log N(x; mu_k, Sigma_k), by scipy."""
    return np.max([multivariate_normal(mu, cov).logpdf(x) for mu, cov in zip(gmm.means_, gmm.covariances_)], axis=0)


@pytest.fixture(scope="module")
def two_sections():
    """Two sections of 4-d embeddings; section 0 has attribute classes 0 and 1, section 1 has 2;
    each section has 5 target-domain training clips near a shifted direction."""
    rng = np.random.default_rng(0)
    directions = l2_normalise(rng.normal(size=(3, 4)))  # one per attribute class
    x, section, attribute, domain = [], [], [], []
    for a, s in ((0, 0), (1, 0), (2, 1)):
        x.append(directions[a] + 0.05 * rng.normal(size=(30, 4)))
        section += [s] * 30
        attribute += [a] * 30
        domain += ["source"] * 30
    for s, a in ((0, 0), (1, 2)):
        x.append(directions[a] + 0.3 + 0.05 * rng.normal(size=(5, 4)))
        section += [s] * 5
        attribute += [a] * 5
        domain += ["target"] * 5
    x = np.concatenate(x)
    section_centres = np.stack([directions[[0, 1]], directions[[2, 2]]])  # (S=2, K=2, D)
    attribute_centres = directions[:, None, :]  # (A=3, K=1, D)
    mixtures = fit_mixtures(x, np.array(section), np.array(attribute), np.array(domain),
                            section_centres, attribute_centres)
    test = l2_normalise(rng.normal(size=(6, 4)))
    return mixtures, test, np.array([0, 0, 0, 1, 1, 1])


def test_the_mixtures_are_per_section_per_attribute_and_per_sections_target_clips(two_sections):
    m, _, _ = two_sections
    assert sorted(m.section) == [0, 1] and sorted(m.attribute) == [0, 1, 2]
    assert m.attributes_of == {0: [0, 1], 1: [2]}
    assert len(m.section[0].means_) == 2  # one component per sub-cluster of the section head
    assert len(m.target[0].means_) == TARGET_COMPONENTS  # 5 target clips: 3 components
    assert m.section[0].reg_covar == 1e-3


def test_source_score_is_eq_2_by_hand(two_sections):
    m, x, section = two_sections
    got = source_scores(m, x, section)
    for i in range(len(x)):
        s = int(section[i])
        by_hand = -best_logpdf(m.section[s], x[i]) - max(best_logpdf(m.attribute[a], x[i]) for a in m.attributes_of[s])
        assert got[i] == pytest.approx(by_hand, rel=1e-9)


def test_target_score_is_eq_3_by_hand(two_sections):
    m, x, section = two_sections
    got = target_scores(m, x, section)
    for i in range(len(x)):
        s = int(section[i])
        assert got[i] == pytest.approx(-best_logpdf(m.section[s], x[i]) - best_logpdf(m.target[s], x[i]), rel=1e-9)


def test_a_section_without_target_training_clips_scores_target_clips_by_the_first_term(two_sections):
    m, x, section = two_sections
    saved = m.target.pop(1)
    try:
        got = target_scores(m, x, section)
        assert got[3:] == pytest.approx(-best_logpdf(m.section[1], x[3:]))
    finally:
        m.target[1] = saved


def test_a_clip_of_a_section_without_training_normals_has_no_score(two_sections):
    m, x, _ = two_sections
    assert np.isnan(source_scores(m, x[:1], np.array([7]))).all()
    assert np.isnan(target_scores(m, x[:1], np.array([7]))).all()


def test_valve_term_is_eq_4_by_hand(two_sections):
    m, _, _ = two_sections
    rng = np.random.default_rng(1)
    tmax = rng.normal(size=(60, 3)) + np.repeat([[0.0, 0, 0], [2.0, 0, 0]], 30, axis=0)
    m.tmax = fit_tmax(tmax, np.repeat([0, 1], 30))
    test = rng.normal(size=(4, 3))
    got = valve_term(m, test, np.array([0, 0, 1, 1]))
    for i in range(2):  # section 0: attribute classes 0 and 1, one Gaussian each (mean, covariance + 1e-3)
        by_hand = max(multivariate_normal(tmax[a * 30:(a + 1) * 30].mean(0),
                                          np.cov(tmax[a * 30:(a + 1) * 30], rowvar=False) + 1e-3 * np.eye(3)
                                          ).logpdf(test[i]) for a in (0, 1))
        assert got[i] == pytest.approx(-by_hand, rel=1e-9)
    assert np.isnan(got[2:]).all()  # section 1's attribute class has no Gaussian here


def test_system_scores_take_eq_2_for_source_clips_and_eq_3_for_target_clips(two_sections):
    """The mixtures come from the fitted rows only; the held-out rows are scored as new clips."""
    from asdcore.evaluation.subcluster_scores import system_scores

    m, x, section = two_sections
    rng = np.random.default_rng(3)
    train_x = np.concatenate([l2_normalise(rng.normal(size=(4, 4))) + 0.02 * rng.normal(size=(4, 4))
                              for _ in range(10)])
    train_section = np.tile([0, 0, 1, 1], 10)
    train_attribute = np.tile([0, 1, 2, 2], 10)
    train_domain = np.where((np.arange(40) // 4) % 5 == 4, "target", "source")  # rows 16-19 and 36-39
    fitted = np.arange(40) < 36  # the last four are held out
    domain = np.array(["source", "target", None, "source", "target", "target"], dtype=object)
    scores = system_scores(train_x, train_section, train_attribute, train_domain, fitted, x, section, domain)
    test, train = scores.test, scores.train
    refit = fit_mixtures(train_x[fitted], train_section[fitted], train_attribute[fitted], train_domain[fitted])
    assert test[0] == pytest.approx(source_scores(refit, x[:1], section[:1])[0])
    assert test[1] == pytest.approx(target_scores(refit, x[1:2], section[1:2])[0])
    assert np.isnan(test[2])  # no domain in its name: no score
    held_out = ~fitted
    expected = np.where(train_domain[held_out] == "source",
                        source_scores(refit, train_x[held_out], train_section[held_out]),
                        target_scores(refit, train_x[held_out], train_section[held_out]))
    assert train[held_out] == pytest.approx(expected)


def test_a_single_target_clip_gives_one_gaussian_at_it_with_the_regularised_covariance():
    from asdcore.evaluation.subcluster_scores import OneClipGaussian, best_log_density

    clip = l2_normalise(np.array([[1.0, 2.0, 0.5]]))[0]
    m = fit_mixtures(np.stack([clip, -clip, -clip * 0.9]), np.zeros(3, int), np.zeros(3, int),
                     np.array(["target", "source", "source"]))
    assert isinstance(m.target[0], OneClipGaussian)
    x = l2_normalise(np.array([[0.3, -1.0, 2.0]]))
    by_hand = multivariate_normal(clip, 1e-3 * np.eye(3)).logpdf(x[0])
    assert best_log_density(m.target[0], x)[0] == pytest.approx(by_hand, rel=1e-9)


def test_target_clips_are_decided_on_the_first_term_of_eq_3_alone(two_sections):
    """The report's thresholds: target clips on -max_k log P(x | G_s, k) only (T_s is fitted on the
    very target clips a threshold would come from); source clips on eq. 2 as ranked."""
    from asdcore.evaluation.subcluster_scores import domain_scores

    m, x, section = two_sections
    domain = np.array(["source", "target", "target", "source", "target", "target"])
    decided = domain_scores(m, x, section, domain, decision=True)
    for i in range(len(x)):
        first_term = -float(best_logpdf(m.section[section[i]], l2_normalise(x[i:i + 1])))
        expected = source_scores(m, x[i:i + 1], section[i:i + 1])[0] if domain[i] == "source" else first_term
        assert decided[i] == pytest.approx(expected, rel=1e-6)
    ranked = domain_scores(m, x, section, domain)
    assert not np.allclose(ranked[domain == "target"], decided[domain == "target"])  # eq. 3 adds T_s's term


def test_eq_4s_term_is_added_to_the_source_clips_it_applies_to_only(two_sections):
    """The system's valve option: source scores of the chosen clips get -max_a log P_tmax(t | a),
    with one Gaussian per attribute class fitted on the fitted training normals it applies to."""
    from asdcore.evaluation.subcluster_scores import TemporalMaxima, system_scores

    _, x, section = two_sections
    rng = np.random.default_rng(4)
    train_x = np.concatenate([l2_normalise(rng.normal(size=(4, 4))) + 0.02 * rng.normal(size=(4, 4))
                              for _ in range(10)])
    train_section, train_attribute = np.tile([0, 0, 1, 1], 10), np.tile([0, 1, 2, 2], 10)
    train_domain = np.where((np.arange(40) // 4) % 5 == 4, "target", "source")
    fitted = np.ones(40, dtype=bool)
    domain = np.array(["source", "target", "source", "source", "target", "source"])
    train_t, test_t = rng.normal(size=(40, 3)), rng.normal(size=(6, 3))
    applies_train, applies_test = train_section == 0, section == 0  # "valve" is section 0 here
    args = (train_x, train_section, train_attribute, train_domain, fitted, x, section, domain)
    plain = system_scores(*args)
    with_tmax = system_scores(*args, tmax=TemporalMaxima(train_t, test_t, applies_train, applies_test))
    m = fit_mixtures(train_x, train_section, train_attribute, train_domain)
    m.tmax = fit_tmax(train_t[applies_train], train_attribute[applies_train])
    term = valve_term(m, test_t, section)
    for i in range(6):
        added = term[i] if domain[i] == "source" and applies_test[i] else 0.0
        assert with_tmax.test[i] == pytest.approx(plain.test[i] + added, rel=1e-9)
        assert with_tmax.test_decision[i] == pytest.approx(plain.test_decision[i] + added, rel=1e-9)


def test_fitted_target_clips_are_decided_by_a_section_mixture_fitted_without_them():
    """The target thresholds' reference: each fitted target training clip's first term comes from G_s
    refitted on the section's other clips (in-sample densities would set the threshold far too low)."""
    from asdcore.evaluation.subcluster_scores import domain_scores, system_scores

    rng = np.random.default_rng(5)
    train_x = l2_normalise(rng.normal(size=(40, 4)) + np.tile([[2.0, 0, 0, 0], [0, 2.0, 0, 0]], (20, 1)))
    train_section = np.tile([0, 1], 20)
    train_attribute = train_section.copy()
    train_domain = np.where(np.arange(40) >= 34, "target", "source")  # 3 target clips per section
    fitted = np.ones(40, dtype=bool)
    scores = system_scores(train_x, train_section, train_attribute, train_domain, fitted,
                           train_x[:2], train_section[:2], np.array(["source", "target"]))
    for i in np.flatnonzero(train_domain == "target"):
        keep = (train_section == train_section[i]) & (np.arange(40) != i)
        refit = fit_mixtures(train_x[keep], train_section[keep], train_attribute[keep], train_domain[keep])
        by_hand = -float(best_logpdf(refit.section[train_section[i]], train_x[i:i + 1]))
        assert scores.train_decision[i] == pytest.approx(by_hand, rel=1e-6)
    in_sample = domain_scores(fit_mixtures(train_x, train_section, train_attribute, train_domain), train_x,
                              train_section, train_domain, decision=True)
    target = train_domain == "target"
    assert (scores.train_decision[target] > in_sample[target]).all()  # left out: less likely, as a new clip
    source = ~target  # source clips keep their (in-sample) eq. 2 scores
    assert scores.train_decision[source] == pytest.approx(scores.train[source])
