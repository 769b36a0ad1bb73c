"""The margin lab's live toy: watch a margin loss pull an embedding's classes tight.

A few Gaussian blobs in a 16-dimensional input space stand in for machine IDs; a small MLP maps
them to a 2-D (or 3-D) embedding; a CosineHead (asdcore.models.heads) holds one centre per class;
the loss is the training code's own (asdcore.registry.create_loss: ce, arcface, arcmix,
noisy_arcmix, adacos, subcluster_adacos), with mixup of the inputs for ArcMix, Noisy-ArcMix and
sub-cluster AdaCos as in the papers.  AdaCos has no margin and no fixed scale: its scale s is
re-estimated from every training batch, and each Snapshot records its value so far.  Sub-cluster
AdaCos gives each class S sub-centres (the head's num_subcentres); a class's region is then the
union of its sub-centres' cones, and each Snapshot holds every sub-centre's direction.  Held-out
"normal" points come from the same blobs; "anomalous" points from each blob shifted (a machine
whose sound changed): they were never trained on, so a good margin loss leaves them at larger
angles from their class centre than the normals, which is how the ASD score works.

    for snap in train_steps(LabConfig(loss="arcface", m=0.5)):
        snap.step, snap.loss, snap.normal_angles_deg.mean(), snap.anomaly_angles_deg.mean()

geometry(snapshot) says where the classes lie with respect to their centres (median angles of
normals and anomalies to W, the AUC of that angle, how tight each class is about its own direction
and how far that direction is from W), and explain(history, config) turns a finished training's
numbers into the sentences the page prints under its table.  At the papers' s = 30 the mixup losses
(ArcMix, Noisy-ArcMix) pull the centres of the 2-D / 3-D toy together and leave each (tight) class
~40 degrees off its own centre, so the angle to W separates little there; explain() says so from
the run's own numbers (see its comments and tests/test_marginlab.py for the measurements).

Seeded: the same seed gives the same data, the same initial weights (whatever the loss, so the
losses can be compared side by side) and the same batches.  A few hundred steps take about a
second on a CPU.  No Streamlit here.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from .training.mixup import sample_lambda
from .models.heads import CosineHead
from .registry import create_loss

LOSSES = {"ce": "CE (no margin)", "arcface": "ArcFace", "arcmix": "ArcMix", "noisy_arcmix": "Noisy-ArcMix",
          "adacos": "AdaCos", "subcluster_adacos": "Sub-cluster AdaCos"}
MARGIN_LOSSES = ("ce", "arcface", "arcmix", "noisy_arcmix")  # fixed scale s (and margin m, but for ce)
ADAPTIVE_LOSSES = ("adacos", "subcluster_adacos")  # no margin, and the scale s is learnt from the batches
# trained on mixed inputs, lam ~ Beta(alpha, alpha) one per batch (ArcFace has no mixup rule; nor
# has plain AdaCos, whose paper trains on clean faces)
MIXUP_LOSSES = ("arcmix", "noisy_arcmix")
# trained on mixed inputs with lam ~ U(0, 1) drawn per sample, as the sub-cluster AdaCos paper does
UNIFORM_MIXUP_LOSSES = ("subcluster_adacos",)


@dataclass(frozen=True)
class LabConfig:
    loss: str = "arcface"  # a key of LOSSES
    s: float = 30.0  # scale, the papers' value (ignored by adacos / subcluster_adacos: their s is adaptive)
    m: float = 0.7  # additive angular margin, radians (not used by ce, adacos, subcluster_adacos), the papers' value
    alpha: float = 0.5  # mixup lam ~ Beta(alpha, alpha) (arcmix, noisy_arcmix)
    # sub-clusters (sub-centres) per class for subcluster_adacos; every other loss has one centre
    # per class, so replace(config, loss=...) compares the losses without touching this
    subclusters: int = 4
    # the lab's cap on the adaptive scale (the papers' fixed s).  Sub-cluster AdaCos sums B_avg over
    # all C*S sub-clusters, the target class's own included; on a 2-D or 3-D toy the C*S centres
    # crowd the circle (sphere), log B_avg stays near s times a cosine above cos(pi/4), and each
    # batch multiplies s by ~1.4-1.9: uncapped it overflows float32 (NaN) within ~200 steps.
    # Plain AdaCos settles far below the cap (under 4 on the toy), so the cap never touches it.
    max_scale: float = 30.0
    n_classes: int = 4
    embedding_dim: int = 2  # 2: the unit circle, 3: the sphere
    input_dim: int = 16
    separation: float = 1.2  # std of the class means per input dimension (the noise has std 1)
    anomaly_shift: float = 6.0  # length of each class's anomaly shift in the input space
    train_per_class: int = 96
    test_per_class: int = 48  # held-out normals and anomalies, each
    steps: int = 300
    batch_size: int = 64
    lr: float = 0.01
    snapshot_every: int = 25
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.embedding_dim not in (2, 3):
            raise ValueError(f"embedding_dim must be 2 or 3 (what can be drawn), got {self.embedding_dim}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2 (a margin separates classes), got {self.n_classes}")
        if self.steps < 1 or self.snapshot_every < 1:
            raise ValueError(f"steps and snapshot_every must be >= 1, got {self.steps} and {self.snapshot_every}")
        if self.s <= 0:
            raise ValueError(f"s must be > 0, got {self.s}")
        if not 0 <= self.m < np.pi:
            raise ValueError(f"m must be an angle in radians in [0, pi), got {self.m}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (mixup needs pairs), got {self.batch_size}")
        if self.subclusters < 1:
            raise ValueError(f"subclusters must be >= 1, got {self.subclusters}")
        if self.max_scale <= 0:
            raise ValueError(f"max_scale must be > 0, got {self.max_scale}")
        if self.loss in ADAPTIVE_LOSSES and self.n_classes * self.num_subcentres < 3:
            # AdaCos's initial scale sqrt(2) ln(C*S - 1) is 0 (or undefined) below 3 centres
            raise ValueError(f"{self.loss} needs n_classes * subclusters >= 3 centres, "
                             f"got {self.n_classes * self.num_subcentres}")

    @property
    def num_subcentres(self) -> int:
        """Centres per class in the head: `subclusters` for subcluster_adacos, 1 for the rest."""
        return self.subclusters if self.loss == "subcluster_adacos" else 1

    @property
    def adaptive_scale(self) -> bool:
        return self.loss in ADAPTIVE_LOSSES

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ToyData:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_normal: torch.Tensor  # held-out normals
    y_normal: torch.Tensor
    x_anomaly: torch.Tensor  # each class's blob, shifted
    y_anomaly: torch.Tensor  # the class each anomaly claims to be (its machine ID)


@dataclass
class Snapshot:
    step: int
    loss: float  # mean training loss since the previous snapshot (at step 0: on the first batch)
    accuracy: float  # held-out normals classified to their own class
    embeddings: np.ndarray  # (N, D) held-out normals, L2-normalised
    labels: np.ndarray  # (N,)
    anomaly_embeddings: np.ndarray  # (M, D) anomalies, L2-normalised
    anomaly_labels: np.ndarray  # (M,)
    centres: np.ndarray | None  # (C, D) class centres W_k, L2-normalised; None with sub-clusters (S > 1)
    normal_angles_deg: np.ndarray  # (N,) angle of each normal to its own centre (its nearest sub-centre)
    anomaly_angles_deg: np.ndarray  # (M,) the same for each anomaly and its claimed class
    # (C, S, D) every sub-centre W_kj, L2-normalised (S = 1 but for subcluster_adacos: W_k0 = W_k)
    subcentres: np.ndarray | None = None
    # the adaptive scale s at steps 0, 1, ..., step (AdaCos, sub-cluster AdaCos): entry 0 the initial
    # sqrt(2) ln(C*S - 1), entry t the s that step t's loss used (re-estimated from its batch, then
    # capped at LabConfig.max_scale).  None for the fixed-scale losses, whose s is the config's.
    scales: np.ndarray | None = None

    @property
    def scale(self) -> float | None:
        """The adaptive scale now (None for the fixed-scale losses)."""
        return None if self.scales is None else float(self.scales[-1])

    def angles_frame(self) -> pd.DataFrame:
        """The clips.parquet columns asdcore.plots.angle_histograms reads (label 0 normal, 1 anomaly)."""
        n, m = len(self.normal_angles_deg), len(self.anomaly_angles_deg)
        return pd.DataFrame({
            "machine_type": "toy",
            "machine_id": [f"class {k}" for k in np.r_[self.labels, self.anomaly_labels]],
            "label": np.r_[np.zeros(n, dtype=int), np.ones(m, dtype=int)],
            "angle_to_centre_deg": np.r_[self.normal_angles_deg, self.anomaly_angles_deg],
        })

    def circle_inputs(self, anomaly_radius: float = 0.85) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(points, labels, centres, class_names) for asdcore.plots.embedding_circle(..., normalise=False):
        the normals by class on the unit circle (sphere), then all anomalies as one extra group on
        an inner ring of radius `anomaly_radius`, so neither hides the other (directions unchanged).
        centres is None with sub-clusters: draw self.subcentres (asdcore.plots.embedding_subclusters)."""
        n_classes = len(self.subcentres) if self.subcentres is not None else len(self.centres)
        points = np.concatenate([self.embeddings, anomaly_radius * self.anomaly_embeddings])
        labels = np.r_[self.labels, np.full(len(self.anomaly_labels), n_classes)]
        names = [f"class {k}" for k in range(n_classes)] + ["anomalous (inner ring)"]
        return points, labels, self.centres, names

    def summary(self) -> dict:
        return {"step": self.step, "loss": self.loss, "accuracy": self.accuracy,
                "mean_normal_angle_deg": float(np.mean(self.normal_angles_deg)),
                "mean_anomaly_angle_deg": float(np.mean(self.anomaly_angles_deg)),
                "scale": self.scale}


def make_data(config: LabConfig) -> ToyData:
    """Gaussian blobs (one per class) and their shifted versions, from the seed alone."""
    rng = np.random.default_rng(config.seed)
    d, c = config.input_dim, config.n_classes
    means = rng.normal(0.0, config.separation, size=(c, d))
    shifts = rng.normal(size=(c, d))
    shifts *= config.anomaly_shift / np.linalg.norm(shifts, axis=1, keepdims=True)

    def blob(per_class: int, offset: np.ndarray | None = None):
        y = np.repeat(np.arange(c), per_class)
        x = means[y] + rng.normal(size=(len(y), d)) + (0.0 if offset is None else offset[y])
        return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)

    x_train, y_train = blob(config.train_per_class)
    x_normal, y_normal = blob(config.test_per_class)
    x_anomaly, y_anomaly = blob(config.test_per_class, shifts)
    return ToyData(x_train, y_train, x_normal, y_normal, x_anomaly, y_anomaly)


class ToyNet(nn.Module):
    """A small MLP to the embedding, then the cosine head (the same head the ASD models use)."""

    def __init__(self, input_dim: int, embedding_dim: int, n_classes: int, hidden: int = 64,
                 num_subcentres: int = 1):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, embedding_dim))
        self.head = CosineHead(embedding_dim, n_classes, num_subcentres)

    def forward(self, x: torch.Tensor):
        """(embedding, cosine (B, C): to the nearest sub-centre of each class, subcentre_cosine (B, C, S))."""
        embedding = self.body(x)
        cosine, subcentre_cosine = self.head(embedding)
        return embedding, cosine, subcentre_cosine


def build(config: LabConfig) -> tuple[ToyNet, nn.Module]:
    """The network (initial weights from the seed only, the same for every loss) and the loss."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's global random state alone
        torch.manual_seed(config.seed)
        net = ToyNet(config.input_dim, config.embedding_dim, config.n_classes,
                     num_subcentres=config.num_subcentres)
    with torch.no_grad():
        # evenly spread centres: random ones in 2-D often start a few degrees apart, and two classes
        # then share one direction for hundreds of steps; the lab is about the margin, not the luck.
        # With S sub-centres, C*S directions; row k*S + j (sub-centre j of class k) takes direction
        # k*S + j, so each class starts on one arc of S neighbouring directions
        net.head.weight.copy_(torch.as_tensor(spread_directions(config.n_classes * config.num_subcentres,
                                                                config.embedding_dim, config.seed),
                                              dtype=torch.float32))
    if config.adaptive_scale:
        # no s (adaptive) and no m (AdaCos has no margin)
        spec = {"name": config.loss}
        if config.loss == "subcluster_adacos":
            spec["num_subclusters"] = config.num_subcentres
        loss = create_loss(spec)
        _cap_scale(loss, config.max_scale)
        return net, loss
    spec = {"name": config.loss, "s": config.s}
    if config.loss != "ce":
        spec["m"] = config.m
    return net, create_loss(spec)


def _cap_scale(loss: nn.Module, max_scale: float) -> None:
    """Clamp AdaCos's re-estimated scale at max_scale right after each update, so the batch's loss
    uses the capped s (see LabConfig.max_scale for why the toy needs it).  The loss itself is the
    training code's; only this instance's update_scale is wrapped."""
    update = loss.update_scale

    def update_then_cap(cos_sub: torch.Tensor, target: torch.Tensor) -> None:
        update(cos_sub, target)
        loss.s.clamp_(max=max_scale)

    loss.update_scale = update_then_cap


def spread_directions(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n unit vectors spread evenly: around the circle (2-D) or over the sphere (3-D, a Fibonacci
    lattice), turned by a seeded random rotation."""
    rng = np.random.default_rng(seed)
    if dim == 2:
        angles = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5 ** 0.5) * i
    points = np.stack([np.sqrt(1.0 - z * z) * np.cos(phi), np.sqrt(1.0 - z * z) * np.sin(phi), z], axis=1)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return points @ rotation.T


def _angles_deg(cosine: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    own = cosine.gather(1, labels.view(-1, 1)).squeeze(1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(own)).numpy().astype(np.float64)


@torch.no_grad()
def snapshot(net: ToyNet, data: ToyData, step: int, loss: float, scales: list[float] | None = None) -> Snapshot:
    net.eval()
    # cosine to the nearest sub-centre of each class (the class's own centre when S = 1): its
    # angle is the anomaly score, and its argmax the class (a class wins where any of its
    # sub-centres is nearest)
    normal_emb, normal_cos, _ = net(data.x_normal)
    anomaly_emb, anomaly_cos, _ = net(data.x_anomaly)
    net.train()
    unit = lambda e: torch.nn.functional.normalize(e, dim=1).numpy()  # noqa: E731
    head = net.head
    subcentres = unit(head.weight.detach()).reshape(head.num_classes, head.num_subcentres, -1)
    return Snapshot(
        step=step, loss=float(loss),
        accuracy=float((normal_cos.argmax(1) == data.y_normal).float().mean()),
        embeddings=unit(normal_emb), labels=data.y_normal.numpy(),
        anomaly_embeddings=unit(anomaly_emb), anomaly_labels=data.y_anomaly.numpy(),
        centres=subcentres[:, 0] if head.num_subcentres == 1 else None,
        normal_angles_deg=_angles_deg(normal_cos, data.y_normal),
        anomaly_angles_deg=_angles_deg(anomaly_cos, data.y_anomaly),
        subcentres=subcentres,
        scales=None if scales is None else np.asarray(scales, dtype=np.float64))


def batch_loss(loss_fn: nn.Module, net: ToyNet, x: torch.Tensor, y: torch.Tensor, config: LabConfig,
               generator: torch.Generator) -> torch.Tensor:
    """One batch's loss, on mixed inputs as each paper trains (a random partner for each sample):
    ArcMix / Noisy-ArcMix with lam ~ Beta(alpha, alpha), one per batch; sub-cluster AdaCos with
    lam ~ U(0, 1), one per sample, and soft targets lam e_ya + (1 - lam) e_yb.  Sub-cluster AdaCos
    sees every sub-centre's cosine (B, C, S): p(class) sums the softmax over the class's sub-clusters."""
    if config.loss in MIXUP_LOSSES:
        lam = sample_lambda(generator, config.alpha)
        perm = torch.randperm(len(y), generator=generator)
        _, cosine, _ = net(lam * x + (1.0 - lam) * x[perm])
        return loss_fn(cosine, y, y[perm], lam)
    if config.loss in UNIFORM_MIXUP_LOSSES:
        lam = sample_lambda(generator, 1.0, batch_size=len(y))  # (B,) ~ Beta(1, 1) = U(0, 1), one per sample
        perm = torch.randperm(len(y), generator=generator)
        _, _, subcentre_cosine = net(lam[:, None] * x + (1.0 - lam[:, None]) * x[perm])
        return loss_fn(subcentre_cosine, y, y[perm], lam)
    _, cosine, _ = net(x)
    return loss_fn(cosine, y)


def current_scale(loss_fn: nn.Module) -> float:
    """AdaCos's adaptive scale as it stands: its float64 buffer loss.s (NaN before the first batch)."""
    return float(loss_fn.s)


@contextmanager
def _one_thread():
    """Tiny matrices: one thread is several times faster than two on a busy CPU (no thread
    hand-offs).  torch's thread count is process-wide, so it is restored at once."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_steps(config: LabConfig = LabConfig()) -> Iterator[Snapshot]:
    """Train and yield a Snapshot at step 0, every `snapshot_every` steps, and at the last step.
    (The work between two snapshots runs single-threaded; nothing is changed while suspended.)"""
    with _one_thread():
        data = make_data(config)
        net, loss_fn = build(config)
        generator = torch.Generator().manual_seed(config.seed)
        batches = lambda: torch.randint(0, len(data.y_train), (config.batch_size,), generator=generator)  # noqa: E731
        with torch.no_grad():
            index = batches()
            # eval mode: the first batch's loss at the initial weights must not also move AdaCos's
            # scale (a training-mode forward re-estimates it); it only sets s to its initial value
            loss_fn.eval()
            first = batch_loss(loss_fn, net, data.x_train[index], data.y_train[index], config,
                               torch.Generator().manual_seed(config.seed))
            loss_fn.train()
        # s at step 0, 1, ...: entry t is the scale step t's loss used (AdaCos re-estimates it from
        # the batch before computing the loss), None throughout for the fixed-scale losses
        scales = [current_scale(loss_fn)] if config.adaptive_scale else None
        snap = snapshot(net, data, 0, first.item(), scales)
    yield snap
    # Built after the step-0 snapshot: a process's first torch optimizer imports torch._dynamo
    # (2-3 s), which the app's initial view of the untrained embedding does not need.
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    step = 0
    while step < config.steps:
        with _one_thread():
            losses = []
            while step < config.steps and (not losses or step % config.snapshot_every):
                index = batches()
                loss = batch_loss(loss_fn, net, data.x_train[index], data.y_train[index], config, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                if scales is not None:
                    scales.append(current_scale(loss_fn))
                step += 1
            snap = snapshot(net, data, step, float(np.mean(losses)), scales)
        yield snap


# --- what a trained toy's geometry says, in numbers -------------------------------------------

# A class's centre counts as "off its class" when its own direction (the normals' mean) lies at
# least this far from its nearest (sub-)centre W and at least twice as far as the class spreads
# about that direction: the class is tight, but not around W.
OFF_CENTRE_DEG = 15.0


def _deg(cos: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _auc(normal: np.ndarray, anomaly: np.ndarray) -> float:
    """P(anomaly angle > normal angle) + P(tie) / 2: the Mann-Whitney U over n_a n_n (pooled ranks,
    ties at their mean rank), i.e. the ROC AUC of the angle as the anomaly score."""
    ranks = pd.Series(np.r_[normal, anomaly]).rank(method="average").to_numpy()
    n_n, n_a = len(normal), len(anomaly)
    return float((ranks[n_n:].sum() - n_a * (n_a + 1) / 2) / (n_a * n_n))


def geometry(snap: Snapshot) -> dict:
    """Where a snapshot's classes lie with respect to their centres, in degrees.

    normal_deg, anomaly_deg  median angle of the held-out normals (anomalies) to their own class's
                             centre W (its nearest sub-centre): the anomaly score the figures show
    gap_deg                  anomaly_deg - normal_deg
    auc                      AUC of that angle as an anomaly score (0.5: chance)
    spread_deg               median angle of each normal to its class's own direction (the unit
                             mean of the class's normal embeddings): how tight a class is, wherever W is
    centre_offset_deg        mean over classes of the angle from the class's own direction to its
                             nearest (sub-)centre: 0 when W sits in the middle of its class
    centre_offset_min_deg,   the smallest and largest of those over the classes (a mean of 49° may
    centre_offset_max_deg    be classes at 2° and at 95°: the median normal then lies far from W)
    centre_spacing_deg       mean over classes of the angle from W_k to the nearest other class's
                             (sub-)centre: how far apart the centres are
    off_centre               the class lies off its centre (see OFF_CENTRE_DEG)
    """
    normal, anomaly = snap.normal_angles_deg, snap.anomaly_angles_deg
    subcentres = snap.subcentres  # (C, S, D), unit rows
    n_classes = len(subcentres)
    directions = np.stack([snap.embeddings[snap.labels == k].mean(axis=0) for k in range(n_classes)])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    spread = _deg(np.einsum("nd,nd->n", snap.embeddings, directions[snap.labels]))
    # class k's own direction to its nearest sub-centre (its centre W_k when S = 1)
    offset = _deg(np.einsum("kd,ksd->ks", directions, subcentres).max(axis=1))
    # every (sub-)centre pair of two different classes: the nearest other class's centre, per class
    flat = subcentres.reshape(-1, subcentres.shape[2])
    owner = np.repeat(np.arange(n_classes), subcentres.shape[1])
    between = _deg(flat @ flat.T)
    between[owner[:, None] == owner[None, :]] = np.inf
    spacing = np.array([between[owner == k].min() for k in range(n_classes)])
    out = dict(normal_deg=float(np.median(normal)), anomaly_deg=float(np.median(anomaly)),
               auc=_auc(normal, anomaly), spread_deg=float(np.median(spread)),
               centre_offset_deg=float(offset.mean()), centre_offset_min_deg=float(offset.min()),
               centre_offset_max_deg=float(offset.max()), centre_spacing_deg=float(spacing.mean()))
    out["gap_deg"] = out["anomaly_deg"] - out["normal_deg"]
    out["off_centre"] = bool(out["centre_offset_deg"] >= max(OFF_CENTRE_DEG, 2.0 * out["spread_deg"]))
    return out


def explain(history: dict[str, list[Snapshot]], config: LabConfig) -> list[str]:
    """What the angle figures of a finished training show, in sentences (Markdown) built from its
    numbers (geometry() of each loss's first and last snapshot): one line per loss, why classes
    sit off their centres where they do, and the Noisy-ArcMix paper's claim against ArcMix."""
    name = LOSSES
    first = {k: geometry(snaps[0]) for k, snaps in history.items()}
    last = {k: geometry(snaps[-1]) for k, snaps in history.items()}
    lines = []
    for k, g in last.items():
        scores = (f"normals lie {g['normal_deg']:.1f}° from W, anomalies {g['anomaly_deg']:.1f}° (median gap "
                  f"{g['gap_deg']:+.1f}°, AUC {g['auc']:.2f})")
        if g["off_centre"]:
            lines.append(f"**{name[k]}**: each class spreads only {g['spread_deg']:.1f}° (median) about its own "
                         f"direction, but its centre W sits {g['centre_offset_deg']:.1f}° away from it on average "
                         f"({g['centre_offset_min_deg']:.1f}° to {g['centre_offset_max_deg']:.1f}° over the classes), "
                         f"so {scores}.")
        else:
            lines.append(f"**{name[k]}**: each centre W lies near its class ({g['centre_offset_deg']:.1f}° from the "
                         f"class's own direction, about which the class spreads {g['spread_deg']:.1f}°); {scores}.")
    off = [k for k, g in last.items() if g["off_centre"]]
    mixed_off = [k for k in off if k in MIXUP_LOSSES]  # mixup with a fixed s (AdaCos's s adapts)
    if mixed_off:
        # Why (measured on the toy over seeds, see tests/test_marginlab.py): with s fixed, a mixed
        # input's soft target (lam on y_a, 1 - lam on y_b) can only get a soft softmax by making
        # cos(theta_ya) - cos(theta_yb) small along the whole path between the two classes; on a
        # circle (sphere) that means centres close together, the classes off to their sides.
        # With a small s the softmax is soft already and the centres stay on their classes.
        others = [k for k in last if k not in mixed_off]
        moved = ", ".join(f"{name[k]} {first[k]['centre_spacing_deg']:.0f}° → {last[k]['centre_spacing_deg']:.0f}°"
                          for k in mixed_off)
        kept = ("; at the end " + ", ".join(f"{name[k]} {last[k]['centre_spacing_deg']:.0f}°" for k in others)
                if others else "")
        lines.append(
            f"**Why the mixup losses' centres leave their classes.** A mixed input's target is soft (λ on y_a, "
            f"1 − λ on y_b), but s = {config.s:g} is fixed. Between two classes the softmax is soft only where "
            "s·(cos θ_a − cos θ_b) is small, and on a "
            f"{'circle' if config.embedding_dim == 2 else 'sphere'} that arc widens only as the two centres "
            "come closer, so training pulls the centres together (angle from each centre to the nearest other "
            f"one, start → end: {moved}"
            f"{kept}). The classes then lie tight but off to the side of their own centres, and the angle to W, "
            "the anomaly score in the histograms, measures mostly that offset. A smaller s (try 4) softens the "
            "softmax without moving the centres.")
    if "arcmix" in last and "noisy_arcmix" in last:
        a, n = last["arcmix"], last["noisy_arcmix"]
        tighter, wider_gap = n["normal_deg"] < a["normal_deg"], n["gap_deg"] > a["gap_deg"]
        verdict = {(True, True): "shows both", (True, False): "shows the tighter normals but not the larger gap",
                   (False, True): "shows the larger gap but not the tighter normals",
                   (False, False): "shows neither"}[tighter, wider_gap]
        lines.append(
            "**The Noisy-ArcMix paper's claim**, normals tighter around their centre than ArcMix's with a larger "
            f"angle gap to the anomalies: this run has Noisy-ArcMix's normals {n['normal_deg']:.1f}° from W "
            f"(ArcMix {a['normal_deg']:.1f}°) and a gap of {n['gap_deg']:+.1f}° (ArcMix {a['gap_deg']:+.1f}°), "
            f"so it {verdict}."
            + (" But the classes of " + " and ".join(name[k] for k in ("arcmix", "noisy_arcmix") if last[k]["off_centre"])
               + " sit off their centres (above): the angle to W then measures that offset more than how tight the "
               "normals are, so this comparison does not test the claim; a smaller s (try 4) keeps the centres "
               "on their classes." if a["off_centre"] or n["off_centre"] else ""))
    return lines


def run(config: LabConfig = LabConfig()) -> list[Snapshot]:
    """Every snapshot of one training (the whole generator)."""
    return list(train_steps(config))


def run_all(config: LabConfig = LabConfig(), losses=tuple(LOSSES)) -> dict[str, list[Snapshot]]:
    """The same toy (data, initial weights, batches) trained with each loss."""
    return {name: run(replace(config, loss=name)) for name in losses}
