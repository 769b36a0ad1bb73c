"""Heads on top of the embedding: the cosine head (class centres) and the Feature Perturbation Head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """cos(theta) between each embedding and each (sub-)centre: <x / |x|, W_k / |W_k|>.

    The centres are the rows of `weight`, (num_classes * num_subcentres, D), Xavier-uniform as in
    every ArcFace implementation the papers use; row k * S + j is sub-centre j of class k.
    Returns (cosine (B, C), subcentre_cosine (B, C, S)); cosine is the max over each class's
    sub-centres (the nearest sub-centre, as sub-centre ArcFace reduces), equal to the single
    column when S = 1.  The margin is the loss's business, not the head's, so the same head
    serves every loss and the angles are there for the app.
    """

    def __init__(self, embedding_dim: int, num_classes: int, num_subcentres: int = 1):
        super().__init__()
        if num_classes < 1 or num_subcentres < 1:
            raise ValueError("num_classes and num_subcentres must be >= 1")
        self.num_classes = num_classes
        self.num_subcentres = num_subcentres
        self.weight = nn.Parameter(torch.empty(num_classes * num_subcentres, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos = F.linear(F.normalize(embedding, dim=1), F.normalize(self.weight, dim=1))
        subcentre_cosine = cos.view(-1, self.num_classes, self.num_subcentres)
        return subcentre_cosine.amax(dim=2), subcentre_cosine


ACTIVATIONS = {"relu": lambda: nn.ReLU(), "leaky_relu": lambda: nn.LeakyReLU(0.01)}


class FeaturePerturbationHead(nn.Module):
    """OS-SCL's Feature Perturbation Head (FPH).

    Linear(D -> R) -> act -> BN -> Linear(R -> D) -> act -> BN -> L2-normalise, R = 64.
    ReLU for TFSTgram, LeakyReLU(0.01) for Log-Mel.  Both the margin head and SupCon see the
    normalised output.
    """

    def __init__(self, dim: int = 128, reduced_dim: int = 64, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        self.activation = activation
        self.net = nn.Sequential(
            nn.Linear(dim, reduced_dim), ACTIVATIONS[activation](), nn.BatchNorm1d(reduced_dim),
            nn.Linear(reduced_dim, dim), ACTIVATIONS[activation](), nn.BatchNorm1d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)
