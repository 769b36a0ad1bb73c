"""Anomaly-score back-ends: numpy in, numpy out, higher score = more anomalous.

A trained model gives, per clip, an embedding, the cosines to the class centres and the
margin head's logits.  A back-end turns these into one anomaly score per clip:

    softmax   -log softmax(logits)[y]        the papers' score (Noisy-ArcMix, OS-SCL, STgram)
    cosine    1 - cos(theta_y)               cosine distance to the clip's own class centre
    gmm       -max_k log N(x; mu_k, Sigma_k) a Gaussian mixture per class (sub-cluster AdaCos)
    knn       mean cosine distance to the k nearest training normals of the clip's class
    lof       local outlier factor among the training normals of the clip's class
    mean_cosine  1 - cos(x, mean of the class's training embeddings)   (JLESS, DCASE 2022)

y is the clip's own machine-ID class (class_index).  softmax and cosine read only the head's
output; gmm, knn and lof are *class-conditional*: they are fitted, per class, on the L2-normalised
embeddings of that class's training normals.

Every back-end also scores the training normals themselves, the reference set for decision
thresholds (the 90th percentile of training-normal scores, DCASE 2021-2023):
  * knn and lof score them leave-one-out (a training clip is never its own neighbour);
  * gmm scores them cross-fitted: each of GMM_FOLDS folds by a mixture fitted on the other folds
    (a mixture scoring its own clips is wildly optimistic in 128 dimensions, and thresholds taken
    from such scores would flag most test normals; tests/test_scoring.py shows the gap);
  * softmax and cosine read the network, which was trained on these very clips: their training
    scores are optimistic (lower than a fresh normal's would be).  The validation normals (role
    "val" in train_clips.parquet) were not trained on: asdcore.alarms takes thresholds from them.

Each back-end is a small `Backend` class: `fit(train)` on the training normals (which also
sets `train_scores`, the reference scores above), then `score(clips)` for any clips; they sit in
the BACKEND_REGISTRY (`create_backend(name)`), which tests/test_scoring.py walks.
`score_all(test, train)` runs every back-end whose inputs are present and skips the others
(no logits -> no softmax); nothing is faked.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

GMM_FOLDS = 10  # cross-fitting of the training normals' gmm scores (each fit leaves a tenth out)
GMM_REG_COVAR = 1e-3  # sub-cluster AdaCos: makes a full covariance from few clips in 128-d invertible
LOF_MAX_NEIGHBORS = 20  # sklearn's default n_neighbors


@dataclass
class EmbeddingSet:
    """The model's output for one set of clips (the test clips, or the training normals).

    embedding   (N, D) embeddings (L2-normalised here before use), or None
    class_index (N,)   each clip's own machine-ID class
    cosine      (N, C) cos(theta) to each class centre, or (N, C, S) to each sub-centre; optional
    logits      (N, C) the margin head's scaled logits (margin at the label, as the reference code
                scores), or (N, C, S) per sub-cluster; optional
    subcentres  (C, S, D) or (C, D) class (sub-)centres, to initialise the GMM means; optional
    candidates  (N, C) bool: for a clip without a class (class_index -1), the classes it may be
                (its section's attribute classes, asdcore.data.classes); it then scores as the most
                normal of them (`score_with_candidates`); optional
    """

    embedding: np.ndarray | None
    class_index: np.ndarray
    cosine: np.ndarray | None = None
    logits: np.ndarray | None = None
    subcentres: np.ndarray | None = None
    candidates: np.ndarray | None = None

    def __post_init__(self):
        self.class_index = np.asarray(self.class_index, dtype=np.int64).reshape(-1)
        n = len(self.class_index)
        for name in ("embedding", "cosine", "logits"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            if value.ndim < 2 or value.shape[0] != n:
                raise ValueError(f"{name} must have one row per clip ({n}), got shape {value.shape}")
            setattr(self, name, value)
        if self.subcentres is not None:
            self.subcentres = np.asarray(self.subcentres, dtype=np.float64)
            if self.subcentres.ndim == 2:  # (C, D): one centre per class
                self.subcentres = self.subcentres[:, None, :]

    def __len__(self) -> int:
        return len(self.class_index)

    def as_class(self, rows: np.ndarray, c: int) -> EmbeddingSet:
        """Clips `rows` of this set, each taken to be of class c."""
        def pick(x):
            return None if x is None else x[rows]

        return EmbeddingSet(pick(self.embedding), np.full(len(rows), c), pick(self.cosine), pick(self.logits),
                            self.subcentres)


@dataclass
class BackendScores:
    """One back-end's scores: test (N_test,) and training normals (N_train,); NaN = no score.
    A back-end that decides on another score than it ranks by (subcluster) gives those too:
    test_decision and train_decision (asdcore.alarms.decision_column)."""

    test: np.ndarray
    train: np.ndarray
    test_decision: np.ndarray | None = None
    train_decision: np.ndarray | None = None


# --- small helpers ---------------------------------------------------------------------------
def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax, stable: subtract the max first so exp never overflows."""
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _logsumexp(z: np.ndarray, axis: int) -> np.ndarray:
    top = z.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _own_class(matrix: np.ndarray, class_index: np.ndarray) -> np.ndarray:
    """matrix[i, y_i] per row; NaN where y_i is not a column of the matrix."""
    out = np.full(len(class_index), np.nan)
    valid = (class_index >= 0) & (class_index < matrix.shape[1])
    rows = np.flatnonzero(valid)
    out[rows] = matrix[rows, class_index[rows]]
    return out


# --- back-ends on the head's output ----------------------------------------------------------
def softmax_score(logits: np.ndarray, class_index: np.ndarray) -> np.ndarray:
    """-log softmax(logits)[i, y_i]: the cross-entropy of the clip's own machine ID.

    With (N, C, S) sub-cluster logits the softmax runs over all C*S sub-clusters and a class's
    probability is the sum over its sub-clusters (sub-cluster AdaCos):
    log p(c) = logsumexp_s log_softmax(z)[c, s].
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 3:
        n, c, s = logits.shape
        log_p = _logsumexp(log_softmax(logits.reshape(n, c * s)).reshape(n, c, s), axis=2)
    else:
        log_p = log_softmax(logits)
    return -_own_class(log_p, np.asarray(class_index))


def cosine_score(cosine: np.ndarray, class_index: np.ndarray) -> np.ndarray:
    """1 - cos(theta_{i, y_i}): cosine distance to the clip's own class centre.

    With (N, C, S) sub-centre cosines the nearest sub-centre counts (max over S), like the head.
    """
    cosine = np.asarray(cosine, dtype=np.float64)
    if cosine.ndim == 3:
        cosine = cosine.max(axis=2)
    return 1.0 - _own_class(cosine, np.asarray(class_index))


# --- the back-ends: fit on the training normals, score any clips --------------------------------
class Backend(abc.ABC):
    """One anomaly score.  `needs`: the EmbeddingSet field it reads.  After `fit(train)`,
    `train_scores` holds the training normals' own scores (NaN where there is none)."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line for the app
    needs: ClassVar[str]
    class_conditional: ClassVar[bool] = False  # fitted per class on training normals' embeddings
    train_scores: np.ndarray

    @abc.abstractmethod
    def fit(self, train: EmbeddingSet) -> Backend:
        """Learn from the training normals; returns self."""

    @abc.abstractmethod
    def score(self, clips: EmbeddingSet) -> np.ndarray:
        """(N,) anomaly scores, higher = more anomalous; NaN = no score."""

    def missing_input(self, clips: EmbeddingSet, train: EmbeddingSet) -> str | None:
        """Why this back-end cannot score `clips` after fitting on `train`, or None when it can."""
        if getattr(clips, self.needs) is None:
            return f"{self.name}: the test clips have no {self.needs}"
        if self.class_conditional and train.embedding is None:
            return f"{self.name}: the training normals have no embedding"
        return None


class HeadBackend(Backend):
    """A score read off the network's head: nothing to fit.  The training normals' scores are
    those of the head on them (NaN when the training set carries no such output)."""

    @staticmethod
    @abc.abstractmethod
    def head_score(matrix: np.ndarray, class_index: np.ndarray) -> np.ndarray: ...

    def fit(self, train: EmbeddingSet) -> HeadBackend:
        self.train_scores = (np.full(len(train), np.nan) if getattr(train, self.needs) is None
                             else self.score(train))
        return self

    def score(self, clips: EmbeddingSet) -> np.ndarray:
        return self.head_score(getattr(clips, self.needs), clips.class_index)


class Softmax(HeadBackend):
    name, needs = "softmax", "logits"
    description = "-log softmax of the margin head's logits at the clip's own machine ID (the papers' score)"
    head_score = staticmethod(softmax_score)


class Cosine(HeadBackend):
    name, needs = "cosine", "cosine"
    description = "1 - cos(angle) between the embedding and its own class centre (cosine distance)"
    head_score = staticmethod(cosine_score)


class ClassConditional(Backend):
    """Fitted per class on the L2-normalised embeddings of that class's training normals.  Clips
    of a class with no training normals (or too few for the model) get NaN."""

    needs = "embedding"
    class_conditional = True

    @abc.abstractmethod
    def fit_class(self, c: int, train_x: np.ndarray):
        """The class's model (None when it cannot be fitted)."""

    @abc.abstractmethod
    def held_out_scores(self, c: int, train_x: np.ndarray, model) -> np.ndarray:
        """The class's training normals scored without scoring a clip by a model of itself."""

    @abc.abstractmethod
    def score_class(self, model, x: np.ndarray) -> np.ndarray:
        """Scores of clips x (normalised) of the class."""

    def fit(self, train: EmbeddingSet) -> ClassConditional:
        train_x = l2_normalise(train.embedding)
        self.models, self.train_scores = {}, np.full(len(train_x), np.nan)
        for c in np.unique(train.class_index):
            in_c = train.class_index == c
            self.models[int(c)] = model = self.fit_class(int(c), train_x[in_c])
            self.train_scores[in_c] = self.held_out_scores(int(c), train_x[in_c], model)
        return self

    def score(self, clips: EmbeddingSet) -> np.ndarray:
        x, out = l2_normalise(clips.embedding), np.full(len(clips), np.nan)
        for c, model in self.models.items():
            in_c = clips.class_index == c
            if in_c.any():
                out[in_c] = self.score_class(model, x[in_c])
        return out


def _initial_means(centres: np.ndarray, train_x: np.ndarray, n_components: int) -> np.ndarray:
    """The normalised sub-centres to start the GMM from; when the class has fewer clips than
    sub-centres, keep the n_components sub-centres nearest to the most clips."""
    centres = l2_normalise(centres)
    if n_components == len(centres):
        return centres
    nearest = np.argmax(train_x @ centres.T, axis=1)
    popularity = np.bincount(nearest, minlength=len(centres))
    keep = np.argsort(-popularity, kind="stable")[:n_components]
    return centres[np.sort(keep)]


def component_log_likelihood(gmm, x: np.ndarray) -> np.ndarray:
    """(N, K) log N(x; mu_k, Sigma_k) of a fitted full-covariance GaussianMixture, without the
    log mixture weights.  With the precision's Cholesky factor L_k (Sigma_k^-1 = L_k L_k^T):
    log N = -D/2 log(2 pi) + sum log diag(L_k) - 1/2 ||(x - mu_k) L_k||^2."""
    d = x.shape[1]
    out = np.empty((len(x), len(gmm.means_)))
    for k, (mu, chol) in enumerate(zip(gmm.means_, gmm.precisions_cholesky_)):
        y = (x - mu) @ chol
        out[:, k] = -0.5 * (d * np.log(2 * np.pi) + (y ** 2).sum(axis=1)) + np.log(np.diag(chol)).sum()
    return out


class GMM(ClassConditional):
    """Sub-cluster AdaCos back-end: per class, a GaussianMixture (full covariance, reg_covar
    1e-3) on the normalised embeddings of the class's training normals, one component per
    sub-centre (1 without sub-centres), means initialised from the normalised sub-centres.

    score = -max_k log N(x; mu_k, Sigma_k), the best component's log-density.  As in the
    sub-cluster AdaCos code, the log mixture weight is NOT added: a clip near a rarely used
    sub-cluster is as normal as one near a busy one.  A class with fewer clips than sub-centres
    gets as many components as clips; a class with a single clip gets NaN.  Training normals
    are scored cross-fitted: clip i of a class by the mixture fitted on the class's other folds
    (fold = rank in the class mod GMM_FOLDS, at least 2 clips to fit), so no clip scores itself.
    """

    name = "gmm"
    description = ("-max component log-likelihood of a Gaussian mixture fitted per class on training "
                   "normals (sub-cluster AdaCos back-end)")

    def __init__(self, subcentres: np.ndarray | None = None, reg_covar: float = GMM_REG_COVAR, seed: int = 0):
        self.subcentres = None if subcentres is None else EmbeddingSet(None, [], subcentres=subcentres).subcentres
        self.reg_covar, self.seed = reg_covar, seed

    def fit_class(self, c, train_x):
        """The class's mixture on train_x, or None with fewer than 2 clips (sklearn's minimum)."""
        if len(train_x) < 2:
            return None
        # sklearn loads when a back-end is fitted, not with this module: the app's pages import it
        # (alarms, back-end descriptions) and must not wait for sklearn
        from sklearn.mixture import GaussianMixture

        has_centres = self.subcentres is not None and c < len(self.subcentres)
        n_components = min(self.subcentres.shape[1] if has_centres else 1, len(train_x))
        means_init = _initial_means(self.subcentres[c], train_x, n_components) if has_centres else None
        return GaussianMixture(n_components=n_components, covariance_type="full", reg_covar=self.reg_covar,
                               means_init=means_init, random_state=self.seed).fit(train_x)

    def score_class(self, gmm, x):
        return np.full(len(x), np.nan) if gmm is None else -component_log_likelihood(gmm, x).max(axis=1)

    def held_out_scores(self, c, train_x, model):
        scores = np.full(len(train_x), np.nan)
        fold = np.arange(len(train_x)) % GMM_FOLDS
        for f in np.unique(fold):
            scores[fold == f] = self.score_class(self.fit_class(c, train_x[fold != f]), train_x[fold == f])
        return scores

    # One BLAS thread: EM on D x D (128 x 128) covariances is many tiny Choleskys, which threaded
    # BLAS makes slower, not faster (measured 40x slower on a busy 2-core machine).
    def fit(self, train):
        with threadpool_limits(limits=1, user_api="blas"):
            return super().fit(train)

    def score(self, clips):
        with threadpool_limits(limits=1, user_api="blas"):
            return super().score(clips)


def _mean_of_k_smallest(distances: np.ndarray, k: int) -> np.ndarray:
    """Mean over each row's k smallest entries (k >= 1); NaN rows where k < 1."""
    if k < 1:
        return np.full(len(distances), np.nan)
    return np.partition(distances, k - 1, axis=1)[:, :k].mean(axis=1)


def _cosine_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # clip at 0: rounding can make 1 - <x, x> slightly negative for identical unit vectors
    return np.clip(1.0 - x @ y.T, 0.0, 2.0)


class KNN(ClassConditional):
    """Cosine distance 1 - <x, x_j> (normalised embeddings) to the nearest training normal of the
    clip's class, averaged over the k nearest (k = 1: the nearest; fewer when the class has
    fewer clips).  Training normals are scored leave-one-out: the nearest OTHER training clip,
    so a duplicated clip scores 0 only because of its twin; a class with one clip gives NaN."""

    name = "knn"
    description = "cosine distance to the nearest training normal(s) of the clip's own class"

    def __init__(self, k: int = 1):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def fit_class(self, c, train_x):
        return train_x  # the model is the training normals themselves

    def score_class(self, train_x, x):
        return _mean_of_k_smallest(_cosine_distance(x, train_x), min(self.k, len(train_x)))

    def held_out_scores(self, c, train_x, model):
        d = _cosine_distance(train_x, train_x)
        np.fill_diagonal(d, np.inf)  # leave one out: a clip is not its own neighbour
        return _mean_of_k_smallest(d, min(self.k, len(train_x) - 1))


class LOF(ClassConditional):
    """Local outlier factor per class: sklearn LocalOutlierFactor(novelty=True, n_neighbors =
    min(20, n_train - 1)) on the normalised embeddings, Euclidean metric (on unit vectors
    ||a - b||^2 = 2 (1 - cos), so the neighbours are the cosine-nearest ones).

    score = -score_samples (the LOF, ~1 for an inlier); training normals: the fit's own
    -negative_outlier_factor_, which sklearn computes leaving each clip out of its own
    neighbourhood.  A class with fewer than 2 training clips gives NaN.
    """

    name = "lof"
    description = "local outlier factor among the training normals of the clip's own class"

    def __init__(self, n_neighbors: int = LOF_MAX_NEIGHBORS):
        self.n_neighbors = n_neighbors

    def fit_class(self, c, train_x):
        from sklearn.neighbors import LocalOutlierFactor  # see GMM.fit_class

        if len(train_x) < 2:
            return None
        return LocalOutlierFactor(n_neighbors=min(self.n_neighbors, len(train_x) - 1), novelty=True,
                                  metric="euclidean").fit(train_x)

    def score_class(self, lof, x):
        return np.full(len(x), np.nan) if lof is None else -lof.score_samples(x)

    def held_out_scores(self, c, train_x, lof):
        return np.full(len(train_x), np.nan) if lof is None else -lof.negative_outlier_factor_


class MeanCosine(ClassConditional):
    """Cosine distance to the mean training embedding of the clip's class (the JLESS system's
    "cosine distance to the section's mean", with sections as classes):

        score(x) = 1 - <x, mu_c> / |mu_c|,   mu_c = mean of the class's normalised training embeddings

    Training normals are scored leave-one-out: by the mean of the class's OTHER clips,
    mu_c^(-i) = (n mu_c - x_i) / (n - 1); a class with one clip gives NaN for it."""

    name = "mean_cosine"
    description = "cosine distance to the mean training embedding of the clip's own class (JLESS)"

    def fit_class(self, c, train_x):
        return train_x.mean(axis=0)

    def score_class(self, mean, x):
        return 1.0 - x @ (mean / max(np.linalg.norm(mean), 1e-12))

    def held_out_scores(self, c, train_x, mean):
        n = len(train_x)
        if n < 2:
            return np.full(n, np.nan)
        others = (n * mean[None, :] - train_x) / (n - 1)  # each clip's class mean without it
        others = others / np.maximum(np.linalg.norm(others, axis=1, keepdims=True), 1e-12)
        return 1.0 - (train_x * others).sum(axis=1)


# --- the registry -------------------------------------------------------------------------------
# The back-ends computed here, in the order the app lists them.
BACKEND_REGISTRY: dict[str, type[Backend]] = {b.name: b for b in (Softmax, Cosine, GMM, KNN, LOF, MeanCosine)}
BACKENDS = tuple(BACKEND_REGISTRY)

# One line per back-end for the app; "reconstruction" is the autoencoder's own score (its model
# computes it: no back-end here).
BACKEND_DESCRIPTIONS = {**{name: b.description for name, b in BACKEND_REGISTRY.items()},
                        "reconstruction": "mean squared reconstruction error over the clip's frame windows (autoencoder)",
                        # computed by evaluate.py on data with source/target domains (subcluster_scores)
                        "subcluster": "sub-cluster AdaCos system (DCASE 2021, eqs. 2-3): the section's Gaussian "
                                      "mixture plus the best attribute class's (source clips) or the section's "
                                      "target training clips' (target clips)",
                        # the sub-cluster AdaCos ensemble (asdcore.evaluation.ensemble)
                        "ensemble": "sub-cluster AdaCos ensemble: the eqs. 2-3 scores of every member network "
                                    "(1, 2, 4, 8, 16 sub-clusters) at every snapshot, summed (both heads)",
                        "ensemble_sections": "the ensemble's sum without eq. 2's attribute term (sections head only)",
                        "ensemble_choice": "per machine type the better of the two sums, chosen on these test "
                                           "clips as the report chose on its development set: optimistic"}


def create_backend(name: str, **options) -> Backend:
    """A back-end by name with its options (knn: k; gmm: subcentres, reg_covar, seed; lof: n_neighbors)."""
    if name not in BACKEND_REGISTRY:
        raise ValueError(f"unknown back-end {name!r}; known: {BACKENDS} "
                         "(reconstruction is the autoencoder's own score)")
    return BACKEND_REGISTRY[name](**options)


def score_with_candidates(backend: Backend, clips: EmbeddingSet) -> np.ndarray:
    """The fitted back-end's scores; a clip without a class (class_index -1) but with candidate
    classes scores as the most normal of them, min over c of its score as class c (a DCASE 2023
    evaluation clip names its section, not its attribute values)."""
    scores = backend.score(clips)
    if clips.candidates is None:
        return scores
    rows = np.flatnonzero((clips.class_index < 0) & clips.candidates.any(axis=1))
    best = np.full(len(rows), np.nan)
    for c in np.flatnonzero(clips.candidates[rows].any(axis=0)):
        as_c = np.where(clips.candidates[rows, c], backend.score(clips.as_class(rows, int(c))), np.nan)
        best = np.fmin(best, as_c)  # NaN only where every candidate gives NaN
    scores[rows] = best
    return scores


def fit_and_score(backend: Backend, test: EmbeddingSet, train: EmbeddingSet) -> BackendScores:
    """The back-end fitted on the training normals: the test clips' scores and the training normals' own."""
    backend.fit(train)
    return BackendScores(score_with_candidates(backend, test), backend.train_scores)


# --- everything at once -----------------------------------------------------------------------
def score_all(test: EmbeddingSet, train: EmbeddingSet, backends=BACKENDS, k: int = 1,
              lof_neighbors: int = LOF_MAX_NEIGHBORS) -> dict[str, BackendScores]:
    """Scores of every requested back-end whose inputs are present, {name: BackendScores}.

    Skipped (absent from the result), never faked: softmax without test logits, cosine without
    test cosines, gmm/knn/lof without embeddings (see `Backend.missing_input`).  softmax and
    cosine give NaN training scores when only the test set carries logits/cosines.  Test clips
    whose class has no training normals get NaN from gmm, knn and lof; a class index outside
    the head's columns gets NaN from softmax and cosine.  Sub-centres for the GMM come from
    `train`, else `test`.  k: neighbours averaged by knn; lof_neighbors: LOF's n_neighbors (JLESS: 4).
    """
    options = {"knn": {"k": k}, "lof": {"n_neighbors": lof_neighbors},
               "gmm": {"subcentres": train.subcentres if train.subcentres is not None else test.subcentres}}
    chosen = [create_backend(name, **options.get(name, {})) for name in backends]
    return {b.name: fit_and_score(b, test, train) for b in chosen if b.missing_input(test, train) is None}
