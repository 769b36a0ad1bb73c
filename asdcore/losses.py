"""The losses of the seed papers, one small class each, all with one call signature:

    loss(cosine, y_a, y_b=None, lam=None, embedding=None) -> scalar tensor

cosine     (B, C) cos(theta) to each class centre, or (B, C, S) to each of S sub-centres
           (single-centre losses reduce it by the max over sub-centres, like the cosine head).
y_a, y_b   (B,) int64 class labels: y_a of the sample, y_b of its mixup partner (None: no mixup).
lam        mixup weight of y_a: a float (one per batch) or a (B,) tensor (one per sample).
embedding  (B, D) embeddings; only the supervised-contrastive losses use them.

Every loss is an `ASDLoss` (below), the interface the training loop and the evaluation rely on:
`loss.from_output(output, y_a, y_b, lam)` picks the right fields of a ModelOutput, so a training
loop calls every loss, the autoencoder's MSE included, the same way.  Where `loss.has_logits`,
`loss.logits(cosine, labels)` gives the scaled logits with the margin at `labels`, which is how
the reference code scores a clip (score = -log_softmax(logits)[label]).

Shape of the code (pytorch-metric-learning style): `CosineSoftmaxLoss` is softmax
cross-entropy on s * cos(theta); subclasses override one hook:
    target_cosine(cos_y)      how the label's cosine is modified (ArcFace's margin),
    mixed_loss(...)           how a mixed pair is scored (ArcMix vs Noisy-ArcMix),
    per_sample_loss(...)      what is done with the logits (focal instead of cross-entropy).
"""
from __future__ import annotations

import abc
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


class ASDLoss(nn.Module, abc.ABC):
    """What a loss declares and provides.  Declares: which kind of model it trains
    (`model_kind`: "classifier" or "autoencoder"), whether it takes a mixup partner
    (`supports_mixup`: y_b and lam) and whether it gives class logits for scoring
    (`has_logits`).  Provides: forward (the call signature of the module docstring) and
    from_output (the same on a ModelOutput)."""

    model_kind: ClassVar[str] = "classifier"
    supports_mixup: ClassVar[bool] = True
    has_logits: ClassVar[bool] = True

    @abc.abstractmethod
    def forward(self, cosine, y_a, y_b=None, lam=None, embedding=None) -> torch.Tensor:
        """The scalar training loss of a batch."""

    @abc.abstractmethod
    def from_output(self, output, y_a, y_b=None, lam=None) -> torch.Tensor:
        """The scalar training loss of a ModelOutput."""

    def logits(self, cosine: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, C) class logits with the method's margin at `labels` (only where has_logits)."""
        raise TypeError(f"{type(self).__name__} gives no class logits (has_logits is False)")


def class_cosine(cosine: torch.Tensor) -> torch.Tensor:
    """(B, C, S) -> (B, C) by the max over sub-centres (the nearest one); (B, C) unchanged."""
    if cosine.dim() == 3:
        return cosine.amax(dim=2)
    if cosine.dim() != 2:
        raise ValueError(f"cosine must be (B, C) or (B, C, S), got {tuple(cosine.shape)}")
    return cosine


def mixing_weights(lam: float | torch.Tensor | None, batch_size: int, like: torch.Tensor) -> torch.Tensor:
    """lam as a (B,) tensor of like's dtype and device (None means 1: no mixing)."""
    if lam is None:
        lam = 1.0
    lam = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    if lam.dim() == 0:
        return lam.expand(batch_size)
    if lam.shape != (batch_size,):
        raise ValueError(f"lam must be a float or a ({batch_size},) tensor, got shape {tuple(lam.shape)}")
    return lam


def _is_unmixed(y_b: torch.Tensor | None, lam) -> bool:
    return y_b is None or (not torch.is_tensor(lam) and lam is not None and float(lam) == 1.0)


class CosineSoftmaxLoss(ASDLoss):
    """Cross-entropy on scaled cosines, no margin: CE(s * cos(theta), y).

    With mixup: lam * CE(z, y_a) + (1 - lam) * CE(z, y_b), z = the logits with the target
    modification at y_a.  With no margin this is plain mixup cross-entropy.
    """

    def __init__(self, s: float = 30.0):
        super().__init__()
        self.s = float(s)

    # --- hooks -----------------------------------------------------------------------------
    def target_cosine(self, cos_y: torch.Tensor) -> torch.Tensor:
        """The label column's cosine after the method's modification (none here)."""
        return cos_y

    def per_sample_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """-log softmax(logits)[label] per sample."""
        return F.cross_entropy(logits, labels, reduction="none")

    def mixed_loss(self, cosine: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor,
                   lam: torch.Tensor) -> torch.Tensor:
        """Per-sample loss of a mixed pair: one forward, target modification at y_a only."""
        z = self.logits(cosine, y_a)
        return lam * self.per_sample_loss(z, y_a) + (1 - lam) * self.per_sample_loss(z, y_b)

    # --- shared ----------------------------------------------------------------------------
    def logits(self, cosine: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """s * cos(theta_j) for j != label, s * target_cosine(cos theta_label) at the label."""
        cosine = class_cosine(cosine)
        index = labels.view(-1, 1)
        modified = cosine.scatter(1, index, self.target_cosine(cosine.gather(1, index)))
        return self.s * modified

    def forward(self, cosine: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor | None = None,
                lam: float | torch.Tensor | None = None, embedding: torch.Tensor | None = None) -> torch.Tensor:
        if _is_unmixed(y_b, lam):
            return self.per_sample_loss(self.logits(cosine, y_a), y_a).mean()
        if not self.supports_mixup:
            raise ValueError(f"{type(self).__name__} has no mixup rule; use arcmix or noisy_arcmix")
        return self.mixed_loss(cosine, y_a, y_b, mixing_weights(lam, y_a.shape[0], cosine)).mean()

    def from_output(self, output, y_a: torch.Tensor, y_b: torch.Tensor | None = None,
                    lam: float | torch.Tensor | None = None) -> torch.Tensor:
        """The loss of a ModelOutput (uses its sub-centre cosines and embedding)."""
        cosine = output.subcentre_cosine if output.subcentre_cosine is not None else output.cosine
        if cosine is None:
            raise ValueError(f"{type(self).__name__} needs a model with a cosine head")
        return self(cosine, y_a, y_b, lam, embedding=output.embedding)


class CrossEntropy(CosineSoftmaxLoss):
    """CE on s * cos(theta), no margin (the base class as it is, under its own name)."""


class ArcFace(CosineSoftmaxLoss):
    """ArcFace (Deng et al. 2019): the label's logit is s * cos(theta_y + m).

    Past theta_y = pi - m, cos(theta + m) would turn back up; there the reference code (and the
    insightface fallback) uses the linear continuation cos(theta_y) - m * sin(pi - m):
        phi = cos(theta_y + m)              if cos(theta_y) > cos(pi - m)
              cos(theta_y) - m sin(pi - m)   otherwise.
    ArcFace alone has no mixup rule: ArcMix and Noisy-ArcMix are its two mixup versions.
    """

    supports_mixup = False

    def __init__(self, s: float = 30.0, m: float = 0.7):
        super().__init__(s)
        self.m = float(m)
        self.threshold = math.cos(math.pi - self.m)
        self.fallback_offset = math.sin(math.pi - self.m) * self.m

    def target_cosine(self, cos_y: torch.Tensor) -> torch.Tensor:
        # sin(theta) >= 0 on [0, pi]; the tiny floor keeps the gradient finite at cos = +-1
        sin_y = torch.sqrt((1.0 - cos_y * cos_y).clamp(min=1e-12))
        phi = cos_y * math.cos(self.m) - sin_y * math.sin(self.m)  # cos(theta + m)
        return torch.where(cos_y > self.threshold, phi, cos_y - self.fallback_offset)


class ArcMix(ArcFace):
    """ArcMix (Noisy-ArcMix paper): ArcFace on both mixup partners, each with its own margin.

    L = lam * CE(z_a, y_a) + (1 - lam) * CE(z_b, y_b), z_a with the margin at y_a, z_b at y_b.
    """

    supports_mixup = True

    def mixed_loss(self, cosine, y_a, y_b, lam):
        z_a, z_b = self.logits(cosine, y_a), self.logits(cosine, y_b)
        return lam * self.per_sample_loss(z_a, y_a) + (1 - lam) * self.per_sample_loss(z_b, y_b)


class NoisyArcMix(ArcFace):
    """Noisy-ArcMix (its paper's eq. 4): one forward with the margin at y_a only,

    L = -lam log( e^{s cos(theta_ya + m)} / (e^{s cos(theta_ya + m)} + sum_{j != ya} e^{s cos theta_j}) )
        -(1 - lam) log( e^{s cos theta_yb} / (same denominator) ),
    i.e. lam * CE(z, y_a) + (1 - lam) * CE(z, y_b) with z margined at y_a (the base rule).
    lam ~ Beta(0.5, 0.5) is symmetric, so y_a is the smaller component about half the time:
    the margin lands on the "wrong" class then, the noise the method is named after.
    """

    supports_mixup = True


class FocalLoss(CosineSoftmaxLoss):
    """Focal loss (Lin et al. 2017) on scaled cosines: -(1 - p_y)^gamma log p_y, p = softmax(s cos)."""

    def __init__(self, s: float = 30.0, gamma: float = 2.0):
        super().__init__(s)
        self.gamma = float(gamma)

    def per_sample_loss(self, logits, labels):
        log_p = F.log_softmax(logits, dim=1).gather(1, labels.view(-1, 1)).squeeze(1)
        return -((1.0 - log_p.exp()) ** self.gamma) * log_p


class AdaCos(CosineSoftmaxLoss):
    """AdaCos (Zhang et al. 2019) with its dynamic scale; no margin.

    Logits s * cos(theta); before each training step the scale is re-estimated from the batch
    with the previous scale s_old (AdaCos eqs. for the dynamic s):
        B_avg = 1/B sum_i sum_{k not a target of i} exp(s_old cos theta_ik)
        theta_med = median_i theta_i,   theta_i = sum_c t_ic theta_ic  (t: the mixup target)
        s = log(B_avg) / cos(min(pi/4, theta_med))
    computed as (M + log mean_i sum_k exp(s_old cos - M)), M the largest term, for stability.
    The initial scale is sqrt(2) ln(C - 1).  The scale is a buffer, updated only in training
    mode and without gradient.  Mixup uses soft targets t = lam e_{y_a} + (1 - lam) e_{y_b}.
    """

    # which sub-clusters enter B_avg: AdaCos sums over the non-target classes only
    b_avg_over_all = False

    def __init__(self):
        nn.Module.__init__(self)  # s is a buffer here, not the base class's constant
        # nan until the first batch tells us C (and S): s_init depends on them
        self.register_buffer("s", torch.tensor(float("nan"), dtype=torch.float64))

    def _subcluster_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        if cosine.dim() == 2:
            return cosine.unsqueeze(2)
        if cosine.dim() != 3 or cosine.shape[2] != 1:
            raise ValueError("adacos takes (B, C) cosines; use subcluster_adacos for sub-centres")
        return cosine

    def initial_scale(self, n_centres: int) -> float:
        if n_centres < 3:
            raise ValueError("AdaCos needs at least 3 centres (its initial scale is sqrt(2) ln(n - 1))")
        return math.sqrt(2.0) * math.log(n_centres - 1)

    @torch.no_grad()
    def update_scale(self, cos_sub: torch.Tensor, target: torch.Tensor) -> None:
        """Re-estimate s from a batch: cos_sub (B, C, S), target (B, C) soft labels."""
        if cos_sub.dtype not in (torch.float32, torch.float64):
            cos_sub, target = cos_sub.float(), target.float()  # half precision (AMP): median needs float
        b, c, sc = cos_sub.shape
        s_old = self.s.to(cos_sub.dtype)
        terms = s_old * cos_sub.reshape(b, c * sc)
        if not self.b_avg_over_all:
            is_target = (target > 0).repeat_interleave(sc, dim=1)
            terms = terms.masked_fill(is_target, float("-inf"))
        big = terms.max()
        log_b_avg = big + torch.log(torch.exp(terms - big).sum(dim=1).mean())
        theta = torch.acos(cos_sub.clamp(-1.0 + 1e-7, 1.0 - 1e-7))  # (B, C, S)
        theta_i = (target * theta.mean(dim=2)).sum(dim=1)  # mixup-weighted angle to the target class(es)
        theta_med = torch.quantile(theta_i, 0.5)
        self.s.copy_(log_b_avg / torch.cos(torch.clamp(theta_med, max=math.pi / 4)))

    def class_log_probs(self, cos_sub: torch.Tensor) -> torch.Tensor:
        """(B, C) log p(class): the softmax over all C*S sub-clusters summed per class."""
        b, c, sc = cos_sub.shape
        log_p_sub = F.log_softmax(self.s.to(cos_sub.dtype) * cos_sub.reshape(b, c * sc), dim=1)
        return torch.logsumexp(log_p_sub.view(b, c, sc), dim=2)

    def logits(self, cosine, labels=None):
        """(B, C) class logits: logsumexp over each class's sub-clusters of s * cos (no margin),
        so log_softmax of them is the class log-probability; equal to s * cos when S = 1."""
        cos_sub = self._subcluster_cosine(cosine)
        if torch.isnan(self.s):
            self.s.fill_(self.initial_scale(cos_sub.shape[1] * cos_sub.shape[2]))
        return torch.logsumexp(self.s.to(cos_sub.dtype) * cos_sub, dim=2)

    def forward(self, cosine, y_a, y_b=None, lam=None, embedding=None):
        cos_sub = self._subcluster_cosine(cosine)
        b, c, sc = cos_sub.shape
        if torch.isnan(self.s):
            self.s.fill_(self.initial_scale(c * sc))
        target = F.one_hot(y_a, c).to(cos_sub.dtype)
        if not _is_unmixed(y_b, lam):
            lam_t = mixing_weights(lam, b, cos_sub).unsqueeze(1)
            target = lam_t * target + (1 - lam_t) * F.one_hot(y_b, c).to(cos_sub.dtype)
        if self.training:
            self.update_scale(cos_sub.detach(), target)
        return -(target * self.class_log_probs(cos_sub)).sum(dim=1).mean()


class SubclusterAdaCos(AdaCos):
    """Sub-cluster AdaCos (Wilkinghoff 2021): AdaCos over C classes x S sub-clusters.

    p(class c) = sum_k softmax(s cos theta)_{c,k} over all C*S sub-clusters; loss
    -sum_c t_c log p(c) with mixup targets (its recipe: lam ~ U(0, 1) per sample);
    s_init = sqrt(2) ln(C*S - 1); per batch s = (M + log B_avg) / cos(min(pi/4, theta_med)),
    where, as in the authors' implementation, B_avg sums over all C*S sub-clusters.
    theta_i is the mixup-weighted mean angle to the target classes' sub-clusters.
    Takes (B, C, S) cosines (the model's subcentre_cosine).
    """

    b_avg_over_all = True

    def __init__(self, num_subclusters: int | None = None):
        super().__init__()
        self.num_subclusters = num_subclusters

    def _subcluster_cosine(self, cosine):
        if cosine.dim() == 2:
            cosine = cosine.unsqueeze(2)
        if cosine.dim() != 3:
            raise ValueError(f"cosine must be (B, C, S), got {tuple(cosine.shape)}")
        if self.num_subclusters is not None and cosine.shape[2] != self.num_subclusters:
            raise ValueError(f"expected {self.num_subclusters} sub-clusters per class, got {cosine.shape[2]}"
                             " (build the model with num_subcentres to match)")
        return cosine


class SubclusterAdaCosTwoHeads(ASDLoss):
    """The sub-cluster AdaCos system's loss: sub-cluster AdaCos on the section head plus sub-cluster
    AdaCos on the attribute head, with equal weights (L = L_sections + L_attributes), each head
    with its own adaptive scale.

    Labels are (B, 2): column 0 the section class, column 1 the attribute class (the training loop
    builds them when the model has an attribute head); with (B,) labels, or a model without the
    second head, it is the section head's loss alone.  Logits, for scoring and validation, are
    the section head's.
    """

    def __init__(self, num_subclusters: int | None = None):
        super().__init__()
        self.sections = SubclusterAdaCos(num_subclusters)
        self.attributes = SubclusterAdaCos(num_subclusters)

    def forward(self, cosine, y_a, y_b=None, lam=None, embedding=None):
        return self.sections(cosine, y_a, y_b, lam)

    def logits(self, cosine, labels=None):
        return self.sections.logits(cosine, labels)

    def from_output(self, output, y_a, y_b=None, lam=None):
        if y_a.dim() == 1:
            return self.sections(output.subcentre_cosine, y_a, y_b, lam)
        def column(y, k):
            return None if y is None else y[:, k]

        loss = self.sections(output.subcentre_cosine, y_a[:, 0], column(y_b, 0), lam)
        if output.attribute_subcentre_cosine is not None:
            loss = loss + self.attributes(output.attribute_subcentre_cosine, y_a[:, 1], column(y_b, 1), lam)
        return loss


class SupCon(ASDLoss):
    """Supervised contrastive loss as OS-SCL uses it (OS-SCL eq. 1; Khosla et al. 2020):

        L_i = -(tau / tau_base) * 1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / tau)
                                                            / sum_{a != i} exp(z_i.z_a / tau) )
    z = L2-normalised embeddings (of the mixed inputs: "noisy"), P(i) = the other samples sharing
    the un-mixed label y_a; anchors with no positive contribute 0; L = mean over all anchors.
    tau = 0.02, tau_base = 0.07.  y_b and lam are accepted and ignored.
    """

    has_logits = False  # no class centres: OS-SCL scores with its Noisy-ArcMix head

    def __init__(self, temperature: float = 0.02, base_temperature: float = 0.07):
        super().__init__()
        self.temperature = float(temperature)
        self.base_temperature = float(base_temperature)

    def forward(self, cosine, y_a, y_b=None, lam=None, embedding=None):
        if embedding is None:
            raise ValueError("SupCon needs the embeddings: pass embedding=")
        z = F.normalize(embedding, dim=1)
        sim = z @ z.T / self.temperature
        self_pair = torch.eye(len(z), dtype=torch.bool, device=z.device)
        log_denominator = torch.logsumexp(sim.masked_fill(self_pair, float("-inf")), dim=1, keepdim=True)
        log_prob = sim - log_denominator
        positive = (y_a.view(-1, 1) == y_a.view(1, -1)) & ~self_pair
        n_positive = positive.sum(dim=1)
        mean_log_prob_pos = (log_prob * positive).sum(dim=1) / n_positive.clamp(min=1)
        return (-(self.temperature / self.base_temperature) * mean_log_prob_pos).mean()

    def from_output(self, output, y_a, y_b=None, lam=None):
        return self(output.cosine, y_a, y_b, lam, embedding=output.embedding)


class OSSCL(ASDLoss):
    """OS-SCL total loss: SupCon(z, y_a) + Noisy-ArcMix(cos, y_a, y_b, lam), unweighted sum.

    Scoring uses the Noisy-ArcMix logits (margin at the label).  m = 0.7 (0.4 for TFSTgram).
    """

    def __init__(self, s: float = 30.0, m: float = 0.7, temperature: float = 0.02, base_temperature: float = 0.07):
        super().__init__()
        self.supcon = SupCon(temperature, base_temperature)
        self.noisy_arcmix = NoisyArcMix(s, m)

    def forward(self, cosine, y_a, y_b=None, lam=None, embedding=None):
        return self.supcon(cosine, y_a, embedding=embedding) + self.noisy_arcmix(cosine, y_a, y_b, lam)

    def logits(self, cosine, labels):
        return self.noisy_arcmix.logits(cosine, labels)

    def from_output(self, output, y_a, y_b=None, lam=None):
        return self(output.cosine, y_a, y_b, lam, embedding=output.embedding)


class ReconstructionMSE(ASDLoss):
    """The DCASE 2020 autoencoder's loss: mean squared reconstruction error.

    Called as loss(reconstruction_error (B,), ...): the per-clip errors the autoencoder returns
    are already means over equal-sized windows, so their mean is the MSE over all windows.
    """

    model_kind = "autoencoder"
    supports_mixup = False
    has_logits = False

    def forward(self, reconstruction_error, y_a=None, y_b=None, lam=None, embedding=None):
        return reconstruction_error.mean()

    def from_output(self, output, y_a=None, y_b=None, lam=None):
        if output.reconstruction_error is None:
            raise ValueError("mse needs an autoencoder's output")
        return self(output.reconstruction_error)
