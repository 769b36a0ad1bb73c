"""DeLong's test: the variance of an AUC, and of the difference of two AUCs on the same clips.

DeLong, DeLong and Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach".  With m anomalous clips
X_1..X_m and n normal clips Y_1..Y_n, scored by scorer r (higher = more anomalous):

    psi(x, y) = 1 if x > y, 1/2 if x == y, 0 if x < y
    AUC_r     = 1/(m n) sum_i sum_j psi(X_i^r, Y_j^r)                       (Mann-Whitney)
    V10_r(i)  = 1/n sum_j psi(X_i^r, Y_j^r)       structural component of anomaly i
    V01_r(j)  = 1/m sum_i psi(X_i^r, Y_j^r)       structural component of normal j
    S10, S01  the sample covariance matrices (over i, over j) of the components of the scorers
    Var(AUC_a - AUC_b) = (S10_aa + S10_bb - 2 S10_ab) / m + (S01_aa + S01_bb - 2 S01_ab) / n

and z = (AUC_a - AUC_b) / sqrt(Var) is approximately standard normal under "no difference".  The
components come from midranks (Sun and Xu 2014, "Fast implementation of DeLong's algorithm"):
V10(i) = (rank of X_i among all clips - rank of X_i among the anomalies) / n, which equals the
definition above, ties included, in O((m + n) log(m + n)).

    paired_auc_test(labels, score_a, score_b)   one pair of scorers on one set of clips
    auc_variance(labels, score)                 one scorer's AUC and its variance
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

Z95 = float(norm.ppf(0.975))  # 1.95996...: a two-sided 95 % interval


def structural_components(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AUC per scorer (k,), V10 (k, m), V01 (k, n)) for k scorers given as rows of `scores` (k, N)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m, n = int(labels.sum()), int((~labels).sum())
    if m == 0 or n == 0:
        raise ValueError(f"DeLong needs both labels: {m} anomalous and {n} normal clips")
    positives, negatives = scores[:, labels], scores[:, ~labels]
    all_ranks = rankdata(scores, axis=1)  # midranks: ties count a half
    rank_pos, rank_neg = all_ranks[:, labels], all_ranks[:, ~labels]
    within_pos, within_neg = rankdata(positives, axis=1), rankdata(negatives, axis=1)
    v10 = (rank_pos - within_pos) / n  # how many normals each anomaly beats (ties a half), over n
    v01 = 1.0 - (rank_neg - within_neg) / m  # how many anomalies beat each normal, over m
    auc = v10.mean(axis=1)
    return auc, v10, v01


@dataclass(frozen=True)
class PairedAUC:
    """Two scorers' AUCs on the same clips and DeLong's test of their difference (a minus b)."""
    auc_a: float
    auc_b: float
    difference: float
    variance: float  # of the difference
    n_anomalous: int
    n_normal: int

    @property
    def standard_error(self) -> float:
        return float(np.sqrt(self.variance))

    @property
    def ci95(self) -> tuple[float, float]:
        half = Z95 * self.standard_error
        return self.difference - half, self.difference + half

    @property
    def p_value(self) -> float:
        """Two-sided; 1 where both scorers rank every clip alike (no variance, no difference)."""
        if self.variance <= 0:
            return 1.0 if self.difference == 0 else 0.0
        return float(2 * norm.sf(abs(self.difference) / self.standard_error))


def paired_auc_test(labels, score_a, score_b) -> PairedAUC:
    """DeLong's paired test of AUC(score_a) - AUC(score_b) on the same clips (labels: 1 anomalous)."""
    auc, v10, v01 = structural_components(labels, np.vstack([score_a, score_b]))
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))  # 2 x 2, over the anomalies (ddof 1)
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)
    return PairedAUC(float(auc[0]), float(auc[1]), float(auc[0] - auc[1]), max(variance, 0.0), m, n)


def auc_variance(labels, score) -> tuple[float, float]:
    """(AUC, DeLong's variance of it) for one scorer."""
    auc, v10, v01 = structural_components(labels, score)
    m, n = v10.shape[1], v01.shape[1]
    variance = (np.var(v10[0], ddof=1) / m if m > 1 else 0.0) + (np.var(v01[0], ddof=1) / n if n > 1 else 0.0)
    return float(auc[0]), float(variance)
