"""What every model returns: one small dataclass, the contract with losses, scoring and the app."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """Output of a forward pass.

    embedding:           (B, D) the vector the margin head sees.  For models with a Feature
                         Perturbation Head this is the FPH's L2-normalised output; otherwise
                         the 128-d MobileFaceNet embedding (not normalised).  For the
                         autoencoder: the 8-d bottleneck code averaged over the clip's windows.
    cosine:              (B, C) cos(theta) of the embedding to each class, i.e. to the nearest
                         of the class's sub-centres (max over sub-centres, as sub-centre
                         ArcFace does).  None for the autoencoder.
    subcentre_cosine:    (B, C, S) cos(theta) to every sub-centre (S = 1 for a single centre);
                         sub-cluster AdaCos needs all of them.  None for the autoencoder.
    attention:           (B, T) TAgram's per-frame weights sigma(maxpool_f + avgpool_f), or None.
    reconstruction_error:(B,) autoencoder only: mean squared reconstruction error over all
                         5-frame windows of each clip (the anomaly score).  None otherwise.
    attribute_subcentre_cosine: (B, A, S) cos(theta) to the sub-centres of a second head over the
                         attribute classes (the sub-cluster AdaCos system), or None.
    """

    embedding: torch.Tensor
    cosine: torch.Tensor | None = None
    subcentre_cosine: torch.Tensor | None = None
    attention: torch.Tensor | None = None
    reconstruction_error: torch.Tensor | None = None
    attribute_subcentre_cosine: torch.Tensor | None = None
