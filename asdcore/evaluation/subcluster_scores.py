"""The sub-cluster AdaCos system's anomaly scores (Wilkinghoff, DCASE 2021), eqs. 2-4 of its report.

The network has one embedding and two sub-cluster AdaCos heads: one over the sections (x machine
types), one over the attribute classes (attribute values in the file names).  Its scores come from
Gaussian mixtures on the L2-normalised embeddings of the training normals (sklearn, full covariance,
reg_covar 1e-3, as scoring.GMM):

    G_s   per section s, on its training normals; one component per sub-cluster of the section head,
          means initialised at the head's (normalised) sub-cluster centres
    G_a   per attribute class a, likewise with the attribute head's sub-cluster centres
    T_s   per section, on its TARGET-domain training normals, at most 3 components (as many as clips)

With log P(x | G, k) = log N(x; mu_k, Sigma_k), the component's density without its mixture weight
(scoring.component_log_likelihood), a clip x of section s scores

    source   Z = -max_k log P(x | G_s, k) - max_{a in A(s)} max_k log P(x | G_a, k)        (eq. 2)
    target   Z = -max_k log P(x | G_s, k) - max_{k <= 3} log P(x | T_s, k)               (eq. 3)

where A(s) are the attribute classes of the section's training normals.  For valves (eq. 4) the
source score adds -max_{a in A(s)} log P_tmax(t | a): one Gaussian per attribute class on t, the
temporal maximum of the clip's log-mel (per mel bin), which catches short events the embedding
averages away.

Decisions (the report's thresholds, per section and domain): source clips on eq. 2, target clips on
the first term of eq. 3 alone, since T_s is fitted on the very target clips a threshold would come
from (`domain_scores(..., decision=True)`).

Higher = more anomalous, as every back-end here.  Clips of a section without training normals get
NaN; a mixture "fitted" on a single clip is one Gaussian at it with covariance reg_covar * I.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from .scoring import GMM_REG_COVAR, BackendScores, _initial_means, component_log_likelihood, l2_normalise

TARGET_COMPONENTS = 3  # eq. 3: the target-domain mixture of a section


@dataclass
class SubclusterMixtures:
    """The fitted mixtures of eqs. 2-3 (and the Gaussians of eq. 4 when given temporal maxima)."""

    section: dict[int, object] = field(default_factory=dict)  # s -> G_s
    attribute: dict[int, object] = field(default_factory=dict)  # a -> G_a
    target: dict[int, object] = field(default_factory=dict)  # s -> T_s
    attributes_of: dict[int, list[int]] = field(default_factory=dict)  # s -> A(s)
    tmax: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # a -> (mean, covariance)


@dataclass
class OneClipGaussian:
    """What a mixture fitted on a single clip would be: one component at the clip with covariance
    reg_covar * I (sklearn needs two clips; a section may keep one target clip after validation)."""

    means_: np.ndarray  # (1, D)
    covariances_: np.ndarray  # (1, D, D)
    precisions_cholesky_: np.ndarray  # (1, D, D)
    reg_covar: float

    @classmethod
    def at(cls, clip: np.ndarray, reg_covar: float) -> OneClipGaussian:
        eye = np.eye(len(clip))
        return cls(clip[None, :].copy(), (reg_covar * eye)[None], (eye / np.sqrt(reg_covar))[None], reg_covar)


def _mixture(x: np.ndarray, n_components: int, centres: np.ndarray | None, reg_covar: float, seed: int):
    """A full-covariance GaussianMixture on x, means initialised at `centres` (the n_components
    most used ones) when given; a OneClipGaussian for one clip, None for none."""
    if len(x) == 0:
        return None
    if len(x) == 1:
        return OneClipGaussian.at(x[0], reg_covar)
    from sklearn.mixture import GaussianMixture  # loaded when a system is scored, not with this module

    n_components = min(n_components, len(x))
    means = _initial_means(centres, x, n_components) if centres is not None else None
    return GaussianMixture(n_components=n_components, covariance_type="full", reg_covar=reg_covar,
                           means_init=means, random_state=seed).fit(x)


def fit_mixtures(embedding: np.ndarray, section: np.ndarray, attribute: np.ndarray, domain: np.ndarray,
                 section_centres: np.ndarray | None = None, attribute_centres: np.ndarray | None = None,
                 reg_covar: float = GMM_REG_COVAR, seed: int = 0) -> SubclusterMixtures:
    """G_s, G_a and T_s from the training normals: their embeddings (N, D), section and attribute
    class indices (N,), domains ("source"/"target"); centres (S, K, D) and (A, K, D) of the heads."""
    x = l2_normalise(embedding)
    section, attribute, domain = np.asarray(section), np.asarray(attribute), np.asarray(domain)
    out = SubclusterMixtures()
    with threadpool_limits(limits=1, user_api="blas"):  # tiny Choleskys: one BLAS thread (scoring.GMM)
        for s in np.unique(section):
            rows = section == s
            centres = section_centres[s] if section_centres is not None else None
            out.section[int(s)] = _mixture(x[rows], len(centres) if centres is not None else 1, centres,
                                           reg_covar, seed)
            out.target[int(s)] = _mixture(x[rows & (domain == "target")], TARGET_COMPONENTS, None, reg_covar, seed)
            out.attributes_of[int(s)] = sorted(int(a) for a in np.unique(attribute[rows]))
        for a in np.unique(attribute):
            rows = attribute == a
            centres = attribute_centres[a] if attribute_centres is not None else None
            out.attribute[int(a)] = _mixture(x[rows], len(centres) if centres is not None else 1, centres,
                                             reg_covar, seed)
    return out


def best_log_density(gmm, x: np.ndarray) -> np.ndarray:
    """max_k log P(x | G, k) per row (NaN for a mixture that could not be fitted)."""
    return np.full(len(x), np.nan) if gmm is None else component_log_likelihood(gmm, x).max(axis=1)


def _per_section(m: SubclusterMixtures, embedding: np.ndarray, section: np.ndarray, score) -> np.ndarray:
    """score(s, x) for each section's clips (normalised embeddings); NaN for clips of a section
    without training normals."""
    x, section = l2_normalise(embedding), np.asarray(section)
    out = np.full(len(x), np.nan)
    for s in np.unique(section):
        rows = section == s
        if int(s) in m.section:
            out[rows] = score(int(s), x[rows])
    return out


def source_scores(m: SubclusterMixtures, embedding: np.ndarray, section: np.ndarray) -> np.ndarray:
    """Eq. 2 for each clip: -max_k log P(x | G_s, k) - max_{a in A(s)} max_k log P(x | G_a, k)."""
    def eq2(s, x):
        best_attribute = np.max([best_log_density(m.attribute[a], x) for a in m.attributes_of[s]], axis=0)
        return -best_log_density(m.section[s], x) - best_attribute

    return _per_section(m, embedding, section, eq2)


def target_scores(m: SubclusterMixtures, embedding: np.ndarray, section: np.ndarray) -> np.ndarray:
    """Eq. 3 for each clip: -max_k log P(x | G_s, k) - max_{k <= 3} log P(x | T_s, k).  A section
    without target training clips has no T_s: its target clips get the first term alone (the
    term the report's target thresholds use)."""
    def eq3(s, x):
        target = m.target.get(s)
        return -best_log_density(m.section[s], x) - (best_log_density(target, x) if target is not None else 0.0)

    return _per_section(m, embedding, section, eq3)


def fit_tmax(tmax: np.ndarray, attribute: np.ndarray, reg_covar: float = GMM_REG_COVAR) -> dict:
    """Eq. 4's Gaussians: per attribute class, the mean and covariance (+ reg_covar on the
    diagonal) of the training normals' temporal maxima of the log-mel (N, n_mels)."""
    tmax, attribute = np.asarray(tmax, dtype=np.float64), np.asarray(attribute)
    out = {}
    for a in np.unique(attribute):
        t = tmax[attribute == a]
        if len(t) < 2:
            continue
        out[int(a)] = (t.mean(axis=0), np.cov(t, rowvar=False) + reg_covar * np.eye(t.shape[1]))
    return out


def gaussian_log_density(t: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """log N(t; mean, covariance) per row, by the Cholesky factor L (covariance = L L^T):
    -D/2 log(2 pi) - sum log diag(L) - 1/2 ||L^-1 (t - mean)||^2."""
    chol = np.linalg.cholesky(covariance)
    y = np.linalg.solve(chol, (np.asarray(t, dtype=np.float64) - mean).T)
    return -0.5 * (len(mean) * np.log(2 * np.pi) + (y ** 2).sum(axis=0)) - np.log(np.diag(chol)).sum()


def valve_term(m: SubclusterMixtures, tmax: np.ndarray, section: np.ndarray) -> np.ndarray:
    """Eq. 4's added term: -max_{a in A(s)} log P_tmax(t | a) for each clip (NaN without Gaussians)."""
    tmax, section = np.asarray(tmax, dtype=np.float64), np.asarray(section)
    out = np.full(len(tmax), np.nan)
    for s in np.unique(section):
        rows = section == s
        found = [gaussian_log_density(tmax[rows], *m.tmax[a]) for a in m.attributes_of.get(int(s), []) if a in m.tmax]
        if found:
            out[rows] = -np.max(found, axis=0)
    return out


def section_term(m: SubclusterMixtures, embedding: np.ndarray, section: np.ndarray) -> np.ndarray:
    """The first term of eqs. 2 and 3 alone: -max_k log P(x | G_s, k) (the target-domain decision score)."""
    return _per_section(m, embedding, section, lambda s, x: -best_log_density(m.section[s], x))


def domain_scores(m: SubclusterMixtures, embedding: np.ndarray, section: np.ndarray, domain: np.ndarray,
                  decision: bool = False, attributes: bool = True) -> np.ndarray:
    """Eq. 2 for source-domain clips, eq. 3 for target-domain clips (its first term alone with
    decision=True, what the report thresholds target clips on), NaN for clips without a domain.
    attributes=False: the source clips without eq. 2's attribute term, the "sections head only"
    scores the report's ensemble chose between per machine type."""
    domain, section = np.asarray(domain), np.asarray(section)
    out = np.full(len(domain), np.nan)
    source = source_scores if attributes else section_term
    for name, score in (("source", source), ("target", section_term if decision else target_scores)):
        rows = domain == name
        if rows.any():
            out[rows] = score(m, embedding[rows], section[rows])
    return out


def held_out_section_terms(embedding: np.ndarray, section: np.ndarray, rows: np.ndarray, fitted: np.ndarray,
                           section_centres: np.ndarray | None = None, reg_covar: float = GMM_REG_COVAR,
                           seed: int = 0) -> np.ndarray:
    """The first term of eq. 3, -max_k log P(x | G_s, k), for each of `rows` (bool) by a section
    mixture fitted on the section's `fitted` clips without that clip (leave one out).

    The target-domain thresholds come from the few target training clips; scored by the G_s they
    helped fit, their log densities are in-sample (in 128 dimensions far higher than a new clip's,
    scoring.GMM's docstring), the threshold lands low and most target test normals cross it."""
    x, section = l2_normalise(embedding), np.asarray(section)
    fitted, rows = np.asarray(fitted, dtype=bool), np.asarray(rows, dtype=bool)
    out = np.full(len(x), np.nan)
    with threadpool_limits(limits=1, user_api="blas"):
        for i in np.flatnonzero(rows):
            s = int(section[i])
            others = fitted & (section == s)
            others[i] = False
            centres = section_centres[s] if section_centres is not None else None
            gmm = _mixture(x[others], len(centres) if centres is not None else 1, centres, reg_covar, seed)
            out[i] = -best_log_density(gmm, x[i:i + 1])[0]
    return out


@dataclass
class TemporalMaxima:
    """Eq. 4's inputs: each clip's temporal maximum of the log-mel (N, n_mels), for the training
    normals and the test clips, and which clips the term applies to (the valve sections)."""

    train: np.ndarray
    test: np.ndarray
    train_applies: np.ndarray  # bool (N_train,)
    test_applies: np.ndarray  # bool (N_test,)


def _with_valve_term(m: SubclusterMixtures, scores: np.ndarray, tmax: np.ndarray, applies: np.ndarray,
                     section: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """Eq. 4: the source clips the term applies to get -max_a log P_tmax(t | a) added."""
    rows = np.asarray(applies, dtype=bool) & (np.asarray(domain) == "source")
    out = scores.copy()
    if rows.any():
        out[rows] += valve_term(m, tmax[rows], np.asarray(section)[rows])
    return out


def system_scores(train_embedding: np.ndarray, train_section: np.ndarray, train_attribute: np.ndarray,
                  train_domain: np.ndarray, fitted: np.ndarray, test_embedding: np.ndarray, test_section: np.ndarray,
                  test_domain: np.ndarray, section_centres: np.ndarray | None = None,
                  attribute_centres: np.ndarray | None = None, seed: int = 0,
                  tmax: TemporalMaxima | None = None, attributes: bool = True) -> BackendScores:
    """The test and training-normal scores of eqs. 2-3 (and their decision scores), the mixtures
    fitted on the training normals where `fitted` is True.  The others (held-out validation normals)
    are scored as unseen clips are: the reference for thresholds; the fitted ones score in-sample,
    lower than new clips, except the target clips' decision scores, which are left-one-out
    (held_out_section_terms: the target thresholds come from these few clips).  With `tmax`, eq. 4's
    term is added to the source clips it applies to, its Gaussians fitted on the fitted training
    normals it applies to.  attributes=False: without eq. 2's attribute term (domain_scores)."""
    fitted = np.asarray(fitted, dtype=bool)
    m = fit_mixtures(train_embedding[fitted], np.asarray(train_section)[fitted], np.asarray(train_attribute)[fitted],
                     np.asarray(train_domain)[fitted], section_centres, attribute_centres, seed=seed)
    test = (test_embedding, test_section, test_domain)
    train = (train_embedding, train_section, train_domain)
    scores = BackendScores(test=domain_scores(m, *test, attributes=attributes),
                           train=domain_scores(m, *train, attributes=attributes),
                           test_decision=domain_scores(m, *test, decision=True, attributes=attributes),
                           train_decision=domain_scores(m, *train, decision=True, attributes=attributes))
    fitted_target = fitted & (np.asarray(train_domain) == "target")
    if fitted_target.any():
        left_out = held_out_section_terms(train_embedding, train_section, fitted_target, fitted, section_centres,
                                          seed=seed)
        scores.train_decision[fitted_target] = left_out[fitted_target]
    if tmax is None or not (np.any(tmax.train_applies) and np.any(tmax.test_applies)):
        return scores
    rows = fitted & np.asarray(tmax.train_applies, dtype=bool)
    m.tmax = fit_tmax(tmax.train[rows], np.asarray(train_attribute)[rows])
    for name, (values, applies, section, domain) in {
            "test": (tmax.test, tmax.test_applies, test_section, test_domain),
            "train": (tmax.train, tmax.train_applies, train_section, train_domain)}.items():
        for field_name in (name, f"{name}_decision"):  # source decisions are the source scores
            setattr(scores, field_name, _with_valve_term(m, getattr(scores, field_name), values, applies,
                                                         section, domain))
    return scores
