"""Each loss recomputed from its paper's equation with plain numpy maths (float64, 1e-6).

The reference implementations below are written from the equations in REFERENCE.md and the
papers, independently of asdcore.losses (they use arccos/cos and explicit sums, not the
library's helpers), so a wrong hook in the library cannot hide behind a shared helper.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asdcore import losses
from asdcore.registry import create_loss

ATOL = 1e-6
S, M = 30.0, 0.7


# --- plain-maths references -----------------------------------------------------------------
def np_log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def arcface_target(cos_y: float, m: float) -> float:
    """ArcFace: cos(theta + m) while theta + m stays below pi, else cos(theta) - m sin(pi - m)."""
    theta = math.acos(cos_y)
    if theta < math.pi - m:
        return math.cos(theta + m)
    return cos_y - m * math.sin(math.pi - m)


def margin_logits(cos: np.ndarray, labels: np.ndarray, s: float, m: float) -> np.ndarray:
    z = cos.copy()
    for i, y in enumerate(labels):
        z[i, y] = arcface_target(cos[i, y], m)
    return s * z


def ce(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return -np_log_softmax(z)[np.arange(len(labels)), labels]


def ref_ce(cos, y, s=S):
    return ce(s * cos, y).mean()


def ref_arcface(cos, y, s=S, m=M):
    return ce(margin_logits(cos, y, s, m), y).mean()


def ref_arcmix(cos, y_a, y_b, lam, s=S, m=M):
    """lam * CE(z_a, y_a) + (1 - lam) * CE(z_b, y_b), each z margined at its own label."""
    lam = np.broadcast_to(lam, y_a.shape)
    return (lam * ce(margin_logits(cos, y_a, s, m), y_a)
            + (1 - lam) * ce(margin_logits(cos, y_b, s, m), y_b)).mean()


def ref_noisy_arcmix(cos, y_a, y_b, lam, s=S, m=M):
    """Noisy-ArcMix eq. 4, term by term: one denominator, the margin on y_a's logit only."""
    lam = np.broadcast_to(lam, y_a.shape)
    total = 0.0
    for i in range(len(y_a)):
        margined = math.exp(s * arcface_target(cos[i, y_a[i]], m))
        others = sum(math.exp(s * cos[i, j]) for j in range(cos.shape[1]) if j != y_a[i])
        denom = margined + others
        numer_b = margined if y_b[i] == y_a[i] else math.exp(s * cos[i, y_b[i]])
        total += -lam[i] * math.log(margined / denom) - (1 - lam[i]) * math.log(numer_b / denom)
    return total / len(y_a)


def ref_focal(cos, y, s=S, gamma=2.0):
    p = np.exp(np_log_softmax(s * cos))[np.arange(len(y)), y]
    return (-(1 - p) ** gamma * np.log(p)).mean()


def ref_supcon(z, y, tau=0.02, base=0.07):
    """OS-SCL eq. 1: -(tau/base) mean over positives of log exp(z_i.z_p/tau) / sum_{a!=i} exp(z_i.z_a/tau)."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(y)
    per_anchor = []
    for i in range(n):
        others = [a for a in range(n) if a != i]
        logits = np.array([z[i] @ z[a] / tau for a in others])
        big = logits.max()
        log_denom = big + math.log(np.exp(logits - big).sum())
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            per_anchor.append(0.0)
            continue
        per_anchor.append(-(tau / base) * np.mean([z[i] @ z[p] / tau - log_denom for p in positives]))
    return float(np.mean(per_anchor))


def ref_adacos_step(cos_sub, target, s_old, b_avg_over_all):
    """Dynamic AdaCos scale, then the loss with it.  cos_sub (B, C, S), target (B, C) soft labels."""
    b, c, k = cos_sub.shape
    flat = cos_sub.reshape(b, c * k)
    keep = np.ones_like(flat, dtype=bool) if b_avg_over_all else np.repeat(target == 0, k, axis=1)
    b_avg = np.mean([np.exp(s_old * flat[i][keep[i]]).sum() for i in range(b)])
    theta = np.arccos(cos_sub)
    theta_i = (target * theta.mean(axis=2)).sum(axis=1)
    s_new = math.log(b_avg) / math.cos(min(math.pi / 4, float(np.median(theta_i))))
    p_sub = np.exp(np_log_softmax(s_new * flat)).reshape(b, c, k)
    p_class = p_sub.sum(axis=2)
    return s_new, float(-(target * np.log(p_class)).sum(axis=1).mean())


# --- fixtures -------------------------------------------------------------------------------
def random_cosines(batch=8, classes=5, seed=0, sub=None):
    g = np.random.default_rng(seed)
    shape = (batch, classes) if sub is None else (batch, classes, sub)
    return np.cos(g.uniform(0.05, math.pi - 0.05, size=shape))


def random_labels(batch=8, classes=5, seed=1):
    return np.random.default_rng(seed).integers(0, classes, size=batch)


def t(x):
    return torch.as_tensor(x, dtype=torch.float64) if np.asarray(x).dtype.kind == "f" else torch.as_tensor(x)


def value(loss_module, *args, **kwargs) -> float:
    return float(loss_module(*args, **kwargs))


@pytest.fixture
def batch():
    cos = random_cosines()
    y_a = random_labels(seed=1)
    y_b = random_labels(seed=2)
    y_b[0] = y_a[0]  # a pair mixed with its own class
    return cos, y_a, y_b


# --- each loss against its equation -----------------------------------------------------------
def test_ce_on_scaled_cosines(batch):
    cos, y_a, _ = batch
    assert value(losses.CrossEntropy(s=S), t(cos), t(y_a)) == pytest.approx(ref_ce(cos, y_a), abs=ATOL)


def test_ce_with_mixup_is_lambda_weighted(batch):
    cos, y_a, y_b = batch
    expected = (0.3 * ce(S * cos, y_a) + 0.7 * ce(S * cos, y_b)).mean()
    assert value(losses.CrossEntropy(S), t(cos), t(y_a), t(y_b), 0.3) == pytest.approx(expected, abs=ATOL)


def test_arcface_equation(batch):
    cos, y_a, _ = batch
    assert value(losses.ArcFace(S, M), t(cos), t(y_a)) == pytest.approx(ref_arcface(cos, y_a), abs=ATOL)


@pytest.mark.parametrize("lam", [0.3, 0.9])
def test_arcmix_equation(batch, lam):
    cos, y_a, y_b = batch
    got = value(losses.ArcMix(S, M), t(cos), t(y_a), t(y_b), lam)
    assert got == pytest.approx(ref_arcmix(cos, y_a, y_b, lam), abs=ATOL)


@pytest.mark.parametrize("lam", [0.3, 0.9])
def test_noisy_arcmix_eq4(batch, lam):
    cos, y_a, y_b = batch
    got = value(losses.NoisyArcMix(S, M), t(cos), t(y_a), t(y_b), lam)
    assert got == pytest.approx(ref_noisy_arcmix(cos, y_a, y_b, lam), abs=ATOL)


def test_noisy_arcmix_per_sample_lambda(batch):
    cos, y_a, y_b = batch
    lam = np.linspace(0.05, 0.95, len(y_a))
    got = value(losses.NoisyArcMix(S, M), t(cos), t(y_a), t(y_b), t(lam))
    assert got == pytest.approx(ref_noisy_arcmix(cos, y_a, y_b, lam), abs=ATOL)
    got = value(losses.ArcMix(S, M), t(cos), t(y_a), t(y_b), t(lam))
    assert got == pytest.approx(ref_arcmix(cos, y_a, y_b, lam), abs=ATOL)


def test_focal_equation(batch):
    cos, y_a, _ = batch
    cos = cos / 10  # moderate logits so p is neither 0 nor 1 and the (1 - p)^gamma factor matters
    assert value(losses.FocalLoss(S, 2.0), t(cos), t(y_a)) == pytest.approx(ref_focal(cos, y_a), abs=ATOL)


def test_supcon_os_scl_eq1():
    g = np.random.default_rng(3)
    z = g.normal(size=(8, 16))
    y = np.array([0, 0, 1, 1, 1, 2, 3, 3])  # class 2 has a single anchor: no positive, contributes 0
    got = value(losses.SupCon(0.02, 0.07), None, t(y), embedding=t(z))
    assert got == pytest.approx(ref_supcon(z, y), abs=ATOL)


def test_supcon_positives_follow_y_a_only():
    z = np.random.default_rng(4).normal(size=(6, 8))
    y_a, y_b = np.array([0, 0, 1, 1, 2, 2]), np.array([1, 2, 0, 2, 0, 1])
    loss = losses.SupCon()
    assert value(loss, None, t(y_a), t(y_b), 0.4, embedding=t(z)) == pytest.approx(ref_supcon(z, y_a), abs=ATOL)


def test_supcon_without_any_positive_is_zero():
    z = np.random.default_rng(5).normal(size=(4, 8))
    assert value(losses.SupCon(), None, t(np.arange(4)), embedding=t(z)) == pytest.approx(0.0, abs=ATOL)


def test_osscl_total_is_supcon_plus_noisy_arcmix(batch):
    cos, y_a, y_b = batch
    z = np.random.default_rng(6).normal(size=(len(y_a), 16))
    got = value(losses.OSSCL(S, 0.4), t(cos), t(y_a), t(y_b), 0.6, embedding=t(z))
    expected = ref_supcon(z, y_a) + ref_noisy_arcmix(cos, y_a, y_b, 0.6, m=0.4)
    assert got == pytest.approx(expected, abs=ATOL)


def test_adacos_dynamic_scale_and_loss(batch):
    cos, y_a, y_b = batch
    loss = losses.AdaCos().train()
    s_init = math.sqrt(2) * math.log(cos.shape[1] - 1)
    target = np.eye(cos.shape[1])[y_a]
    s_new, expected = ref_adacos_step(cos[:, :, None], target, s_init, b_avg_over_all=False)
    assert value(loss, t(cos), t(y_a)) == pytest.approx(expected, abs=ATOL)
    assert float(loss.s) == pytest.approx(s_new, abs=ATOL)
    # second step starts from the updated scale, with mixup soft targets
    target = 0.3 * np.eye(cos.shape[1])[y_a] + 0.7 * np.eye(cos.shape[1])[y_b]
    s_next, expected = ref_adacos_step(cos[:, :, None], target, s_new, b_avg_over_all=False)
    assert value(loss, t(cos), t(y_a), t(y_b), 0.3) == pytest.approx(expected, abs=ATOL)
    assert float(loss.s) == pytest.approx(s_next, abs=ATOL)


def test_adacos_scale_frozen_in_eval_mode(batch):
    cos, y_a, _ = batch
    loss = losses.AdaCos().eval()
    s_init = math.sqrt(2) * math.log(cos.shape[1] - 1)
    assert value(loss, t(cos), t(y_a)) == pytest.approx(ref_ce(cos, y_a, s=s_init), abs=ATOL)
    assert float(loss.s) == pytest.approx(s_init, abs=ATOL)


def test_subcluster_adacos_equation():
    b, c, k = 8, 4, 3
    cos = random_cosines(b, c, seed=7, sub=k)
    y_a, y_b = random_labels(b, c, seed=8), random_labels(b, c, seed=9)
    lam = np.random.default_rng(10).uniform(size=b)  # sub-cluster AdaCos: lam ~ U(0, 1) per sample
    loss = losses.SubclusterAdaCos(num_subclusters=k).train()
    s_init = math.sqrt(2) * math.log(c * k - 1)
    target = lam[:, None] * np.eye(c)[y_a] + (1 - lam[:, None]) * np.eye(c)[y_b]
    s_new, expected = ref_adacos_step(cos, target, s_init, b_avg_over_all=True)
    assert value(loss, t(cos), t(y_a), t(y_b), t(lam)) == pytest.approx(expected, abs=ATOL)
    assert float(loss.s) == pytest.approx(s_new, abs=ATOL)
    # its class logits: log_softmax over classes = log of the summed sub-cluster softmax
    p_class = np.exp(np_log_softmax(s_new * cos.reshape(b, c * k))).reshape(b, c, k).sum(axis=2)
    log_p = torch.log_softmax(loss.logits(t(cos)), dim=1).numpy()
    np.testing.assert_allclose(log_p, np.log(p_class), atol=ATOL)


# --- limiting cases ---------------------------------------------------------------------------
def test_arcmix_and_noisy_arcmix_equal_arcface_at_lambda_one(batch):
    cos, y_a, y_b = batch
    arcface = value(losses.ArcFace(S, M), t(cos), t(y_a))
    for cls in (losses.ArcMix, losses.NoisyArcMix):
        assert value(cls(S, M), t(cos), t(y_a), t(y_b), 1.0) == pytest.approx(arcface, abs=ATOL)
        ones = torch.ones(len(y_a), dtype=torch.float64)
        assert value(cls(S, M), t(cos), t(y_a), t(y_b), ones) == pytest.approx(arcface, abs=ATOL)


def test_arcface_with_zero_margin_is_ce_on_scaled_cosine(batch):
    cos, y_a, _ = batch
    assert value(losses.ArcFace(S, 0.0), t(cos), t(y_a)) == pytest.approx(ref_ce(cos, y_a), abs=ATOL)


def test_arcface_fallback_branch_past_pi_minus_m():
    theta_y = math.pi - M + 0.2  # beyond pi - m: cos(theta + m) would wrap around
    cos = np.array([[math.cos(theta_y), 0.1, -0.2], [0.8, 0.0, 0.3]])
    y = np.array([0, 0])
    logits = losses.ArcFace(S, M).logits(t(cos), t(y)).numpy()
    assert logits[0, 0] == pytest.approx(S * (math.cos(theta_y) - M * math.sin(math.pi - M)), abs=ATOL)
    assert logits[0, 0] != pytest.approx(S * math.cos(theta_y + M), abs=1e-3)
    assert logits[1, 0] == pytest.approx(S * math.cos(math.acos(0.8) + M), abs=ATOL)  # ordinary branch
    assert value(losses.ArcFace(S, M), t(cos), t(y)) == pytest.approx(ref_arcface(cos, y), abs=ATOL)


def test_arcmix_and_noisy_arcmix_differ_inside_the_mixture(batch):
    cos, y_a, y_b = batch
    args = (t(cos), t(y_a), t(y_b), 0.4)
    assert value(losses.ArcMix(S, M), *args) != pytest.approx(value(losses.NoisyArcMix(S, M), *args), abs=1e-3)


def test_logits_put_the_margin_at_the_label_only(batch):
    cos, y_a, _ = batch
    z = losses.NoisyArcMix(S, M).logits(t(cos), t(y_a)).numpy()
    np.testing.assert_allclose(z, margin_logits(cos, y_a, S, M), atol=ATOL)


def test_subcentre_cosines_reduce_by_max_for_single_centre_losses():
    cos = random_cosines(6, 4, seed=11, sub=3)
    y = random_labels(6, 4, seed=12)
    got = value(losses.ArcFace(S, M), t(cos), t(y))
    assert got == pytest.approx(ref_arcface(cos.max(axis=2), y), abs=ATOL)


def test_arcface_has_no_mixup_rule(batch):
    cos, y_a, y_b = batch
    with pytest.raises(ValueError):
        losses.ArcFace(S, M)(t(cos), t(y_a), t(y_b), 0.5)


@pytest.mark.parametrize("name", ["ce", "arcface", "arcmix", "noisy_arcmix", "focal"])
def test_float32_agrees_with_float64(batch, name):
    cos, y_a, _ = batch
    loss = create_loss({"name": name})
    got32 = float(loss(torch.tensor(cos, dtype=torch.float32), t(y_a)))
    assert got32 == pytest.approx(float(loss(t(cos), t(y_a))), rel=1e-4, abs=1e-4)


def test_gradients_are_finite_at_the_extremes():
    cos = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    losses.ArcFace(S, M)(cos, torch.tensor([0, 0])).backward()
    assert torch.isfinite(cos.grad).all()


def test_two_head_subcluster_adacos_is_the_sum_of_each_heads_loss_with_its_own_scale():
    """The sub-cluster AdaCos system: section head + attribute head, equal weights, two adaptive scales."""
    from asdcore.models.output import ModelOutput

    torch.manual_seed(0)
    sections, attributes = torch.rand(6, 4, 2) * 2 - 1, torch.rand(6, 9, 2) * 2 - 1
    y = torch.tensor([[0, 1], [1, 3], [2, 5], [3, 7], [0, 0], [1, 2]])
    y_b, lam = y.flip(0), torch.rand(6)
    loss = create_loss({"name": "subcluster_adacos_two_heads", "num_subclusters": 2})
    out = ModelOutput(embedding=torch.randn(6, 8), subcentre_cosine=sections, attribute_subcentre_cosine=attributes)
    got = loss.from_output(out, y, y_b, lam)
    alone_s, alone_a = losses.SubclusterAdaCos(2), losses.SubclusterAdaCos(2)
    expected = alone_s(sections, y[:, 0], y_b[:, 0], lam) + alone_a(attributes, y[:, 1], y_b[:, 1], lam)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.sections.s.item() == pytest.approx(alone_s.s.item())  # each head's scale moved on its own
    assert loss.attributes.s.item() == pytest.approx(alone_a.s.item())
    assert loss.sections.s.item() != pytest.approx(loss.attributes.s.item())
    # (B,) labels, or no attribute head: the section head's loss alone; logits are the section head's
    fresh = create_loss({"name": "subcluster_adacos_two_heads", "num_subclusters": 2})
    single = fresh.from_output(ModelOutput(embedding=out.embedding, subcentre_cosine=sections), y[:, 0])
    assert single.item() == pytest.approx(losses.SubclusterAdaCos(2)(sections, y[:, 0]).item(), rel=1e-6)
    assert fresh.logits(sections, y[:, 0]).shape == (6, 4)
