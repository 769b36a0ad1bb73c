"""DeLong's paired test and the run-pair comparison: the figures `python -m asdcore compare` prints
are DeLong's (checked against a direct O(m n) computation from the definition), and their 95 %
intervals cover the true difference about 95 % of the time on simulated scores of known AUC."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from asdcore.evaluation.delong import auc_variance, paired_auc_test
from asdcore.runs import Run
from asdcore.significance import paired_comparison, shared_clips

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "checkpoints"


def direct_delong(labels, a, b) -> tuple[float, float]:
    """(AUC_a - AUC_b, its variance) straight from DeLong et al. (1988): psi over every
    anomaly-normal pair, the structural components V10 and V01, their covariance matrices."""
    labels = np.asarray(labels).astype(bool)

    def components(s):
        x, y = np.asarray(s, float)[labels], np.asarray(s, float)[~labels]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    auc_a, v10_a, v01_a = components(a)
    auc_b, v10_b, v01_b = components(b)
    s10, s01 = np.cov(np.vstack([v10_a, v10_b])), np.cov(np.vstack([v01_a, v01_b]))
    m, n = labels.sum(), (~labels).sum()
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return auc_a - auc_b, variance


@pytest.mark.parametrize("decimals", [None, 1, 0])  # continuous scores, then ever more ties
def test_delong_equals_its_definition(decimals):
    rng = np.random.default_rng(decimals or 7)
    labels = np.r_[np.ones(37), np.zeros(61)].astype(int)
    a = rng.normal(size=98) + 1.2 * labels
    b = 0.6 * a + rng.normal(size=98) + 0.4 * labels  # correlated with a, as two networks on the same clips are
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    test = paired_auc_test(labels, a, b)
    difference, variance = direct_delong(labels, a, b)
    assert test.difference == pytest.approx(difference, abs=1e-12)
    assert test.variance == pytest.approx(variance, rel=1e-9)
    assert test.p_value == pytest.approx(2 * norm.sf(abs(difference) / np.sqrt(variance)), rel=1e-9)
    single_auc, single_var = auc_variance(labels, a)
    assert single_auc == pytest.approx(test.auc_a)


def test_identical_scorers_differ_by_nothing():
    labels = np.r_[np.ones(10), np.zeros(10)]
    scores = np.arange(20.0)
    test = paired_auc_test(labels, scores, scores)
    assert test.difference == 0 and test.variance == 0 and test.p_value == 1.0


def test_one_label_only_is_refused_with_the_counts():
    with pytest.raises(ValueError, match="0 anomalous and 5 normal"):
        paired_auc_test(np.zeros(5), np.arange(5.0), np.arange(5.0))


def coverage(true_difference: float, mu_a: float, mu_b: float, trials: int = 600, m: int = 40, n: int = 60,
             seed: int = 0) -> float:
    """The share of simulated data sets whose 95 % CI holds the true AUC difference.  Binormal scores:
    normals N(0, 1), anomalies N(mu, 1), so AUC = Phi(mu / sqrt 2); the two scorers share a noise term
    (correlation 0.5), as two models scoring the same clips do."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(m), np.zeros(n)]
    hits = 0
    for _ in range(trials):
        shared, own_a, own_b = rng.normal(size=(3, m + n))
        a = np.sqrt(0.5) * (shared + own_a) + mu_a * labels
        b = np.sqrt(0.5) * (shared + own_b) + mu_b * labels
        low, high = paired_auc_test(labels, a, b).ci95
        hits += low <= true_difference <= high
    return hits / trials


@pytest.mark.parametrize("mu_a, mu_b", [(1.5, 1.5), (1.5, 1.0), (2.5, 1.5)])
def test_the_95_interval_covers_the_true_difference_about_95_percent_of_the_time(mu_a, mu_b):
    true_difference = norm.cdf(mu_a / np.sqrt(2)) - norm.cdf(mu_b / np.sqrt(2))
    rate = coverage(true_difference, mu_a, mu_b)
    # 600 trials: the binomial standard error at 95 % is 0.9 points, and DeLong runs a little liberal at high AUC
    # with 40 + 60 clips (92.2 % at AUCs 0.96 against 0.86; 95.0 % and 94.2 % in the other two cases).  A variance
    # off by a factor 2 would cover 83 % or 99 %.
    assert 0.90 <= rate <= 0.98, rate


def test_the_bundled_comparison_is_delong_per_id_and_independent_sums_above():
    """What `asdcore compare` prints for the bundled Noisy-ArcMix and ArcMix runs, recomputed here per
    machine ID from the definition, and aggregated as independent IDs and types."""
    a, b = Run(BUNDLED / "tastgram-noisy-arcmix"), Run(BUNDLED / "tastgram-arcmix")
    comparison = paired_comparison(a, b)
    clips = shared_clips(a, b)
    assert comparison.n_clips == len(clips) == 2300
    variances = {}
    for _, row in comparison.per_id.iterrows():
        group = clips[(clips["machine_type"] == row["machine_type"]) & (clips["machine_id"] == row["machine_id"])]
        difference, variance = direct_delong(group["label"], group["score_a"], group["score_b"])
        assert row["difference"] == pytest.approx(difference, abs=1e-4)
        assert row["ci_low"] == pytest.approx(difference - 1.959964 * np.sqrt(variance), abs=1e-4)
        assert row["ci_high"] == pytest.approx(difference + 1.959964 * np.sqrt(variance), abs=1e-4)
        variances[(row["machine_type"], row["machine_id"])] = variance
    for _, row in comparison.per_type.iterrows():
        ids = comparison.per_id[comparison.per_id["machine_type"] == row["machine_type"]]
        k = len(ids)
        var = sum(variances[(row["machine_type"], i)] for i in ids["machine_id"]) / k ** 2
        assert row["difference"] == pytest.approx(ids["difference"].mean(), abs=1e-12)
        assert row["se"] == pytest.approx(np.sqrt(var), rel=1e-6)
    average = comparison.average
    assert average["difference"] == pytest.approx(comparison.per_type["difference"].mean())
    assert average["se"] == pytest.approx(np.sqrt((comparison.per_type["se"] ** 2).sum()) / len(comparison.per_type))
    # the AUCs are the bundled runs' own DCASE averages: the same clips, the same scores
    assert 100 * average["auc_a"] == pytest.approx(100 * a.eval_metrics()["average"]["auc"], abs=1e-6)
    assert 100 * average["auc_b"] == pytest.approx(100 * b.eval_metrics()["average"]["auc"], abs=1e-6)
    # Noisy-ArcMix against ArcMix: within the noise of the test clips; ArcFace against CE: far outside it
    assert comparison.within_noise()
    assert not paired_comparison(Run(BUNDLED / "tastgram-arcface"), Run(BUNDLED / "tastgram-ce")).within_noise()


def test_the_cli_prints_the_comparison_and_refuses_runs_on_other_data():
    out = subprocess.run([sys.executable, "-m", "asdcore", "compare", "tastgram-arcface", "tastgram-ce"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    average = next(line for line in out.stdout.splitlines() if line.startswith("average"))
    expected = paired_comparison(Run(BUNDLED / "tastgram-arcface"), Run(BUNDLED / "tastgram-ce")).average
    assert f"{100 * expected['difference']:+7.2f}" in average and f"{100 * expected['ci_low']:+6.2f}," in average
    assert "differs" in average
    per_id = subprocess.run([sys.executable, "-m", "asdcore", "compare", "checkpoints/tastgram-noisy-arcmix",
                             "checkpoints/tastgram-arcmix", "--per-id"], capture_output=True, text=True, cwd=ROOT)
    assert per_id.returncode == 0 and "ToyConveyor id_03" in per_id.stdout and "within noise" in per_id.stdout
    other = subprocess.run([sys.executable, "-m", "asdcore", "compare", "tastgram-ce", "shift-jless-mfn"],
                           capture_output=True, text=True, cwd=ROOT)
    assert other.returncode == 2 and "share no scored test clip" in other.stderr
