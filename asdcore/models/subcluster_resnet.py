"""The sub-cluster AdaCos system's network (Wilkinghoff, DCASE 2021; its report's Table 1).

A modified ResNet on the log-mel, standardised by the training set's temporal mean and std:

    input                  T x 128 log-mel (313 x 128 for 10 s), (x - mean_f) / std_f per mel bin f
    7x7 conv, stride 2     16 channels                          157 x 64 x 16
    3x3 max-pool, stride 2                                      78 x 31 x 16
    4 residual stages      2 blocks of (3x3, 3x3) convs each, 16 / 32 / 64 / 128 channels; the
                           first block of stages 2-4 halves time and frequency
                                                                78x31x16 -> 39x16x32 -> 20x8x64 -> 10x4x128
    max-pool over time     (the whole time axis: 10 frames for 10 s, any length works)   1 x 4 x 128
    flatten, linear        512 -> 128-d embedding
    cosine head            C x S sub-cluster centres (sub-cluster AdaCos) over the sections
    attribute head         A x S sub-cluster centres over the attribute classes (attribute_head=True):
                           the report's second head, trained with equal weight

BatchNorm and LeakyReLU(0.1) in every block (post-activation basic blocks: conv, BN, LeakyReLU,
conv, BN, + shortcut, LeakyReLU; a 1x1 conv with BN on the shortcut where the shape changes).
The report does not state the block order; this is the common ResNet one.

The standardisation's per-bin mean and std are buffers, saved with the weights: the training loop
sets them from the training normals (`fit_standardisation`) before the first step, so evaluation
standardises exactly as training did.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .heads import CosineHead
from .output import ModelOutput

STAGE_CHANNELS = (16, 32, 64, 128)
LEAKY_SLOPE = 0.1


class BasicBlock(nn.Module):
    """conv3x3(stride) - BN - LeakyReLU - conv3x3 - BN, plus the shortcut, then LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.bn1(self.conv1(x)), LEAKY_SLOPE)
        return F.leaky_relu(self.bn2(self.conv2(y)) + self.shortcut(x), LEAKY_SLOPE)


class SubclusterResNet(nn.Module):
    """forward(waveform (ignored), logmel (B, n_mels, T)) -> ModelOutput."""

    kind = "classifier"
    needs_waveform = False

    def __init__(self, num_classes: int, n_mels: int = 128, n_frames: int = 313, embedding_dim: int = 128,
                 num_subcentres: int = 1, blocks_per_stage: int = 2, attribute_head: bool = False,
                 num_attribute_classes: int = 0):
        super().__init__()
        self.n_mels, self.n_frames = n_mels, n_frames  # n_frames: any length runs (max over time)
        self.register_buffer("input_mean", torch.zeros(n_mels))
        self.register_buffer("input_std", torch.ones(n_mels))
        self.stem = nn.Sequential(nn.Conv2d(1, STAGE_CHANNELS[0], 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(STAGE_CHANNELS[0]), nn.LeakyReLU(LEAKY_SLOPE),
                                  nn.MaxPool2d(3, 2))
        stages, channels = [], STAGE_CHANNELS[0]
        for i, out in enumerate(STAGE_CHANNELS):
            blocks = [BasicBlock(channels, out, 1 if i == 0 else 2)]
            blocks += [BasicBlock(out, out, 1) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = out
        self.stages = nn.Sequential(*stages)
        self.embed = nn.Linear(channels * self.frequency_bins(n_mels), embedding_dim)
        self.head = CosineHead(embedding_dim, num_classes, num_subcentres)
        # the second head: asked for by attribute_head, built where the data has attribute classes
        # (runtime.attribute_classes: none on data whose names carry no attributes)
        self.attribute_head = (CosineHead(embedding_dim, num_attribute_classes, num_subcentres)
                               if attribute_head and num_attribute_classes > 0 else None)

    @staticmethod
    def frequency_bins(n_mels: int) -> int:
        """Mel bins left after the stem and the three halving stages (128 -> 4)."""
        f = (n_mels + 2 * 3 - 7) // 2 + 1  # 7x7 conv, stride 2, padding 3
        f = (f - 3) // 2 + 1  # 3x3 max-pool, stride 2
        for _ in range(3):
            f = (f + 2 - 3) // 2 + 1  # 3x3 conv, stride 2, padding 1
        return f

    @torch.no_grad()
    def fit_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-mel-bin mean and std of the training log-mels (std floored at 1e-6)."""
        self.input_mean.copy_(mean)
        self.input_std.copy_(std.clamp_min(1e-6))

    def features(self, logmel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) log-mel -> (B, 128 channels, T', 4 bins) maps, time first as in Table 1."""
        x = (logmel - self.input_mean[:, None]) / self.input_std[:, None]
        return self.stages(self.stem(x.transpose(1, 2).unsqueeze(1)))

    def forward(self, waveform: torch.Tensor | None, logmel: torch.Tensor) -> ModelOutput:
        x = self.features(logmel).amax(dim=2)  # max-pool over the whole time axis: (B, C, F)
        embedding = self.embed(x.flatten(1))
        cosine, subcentre_cosine = self.head(embedding)
        attribute_cosine = self.attribute_head(embedding)[1] if self.attribute_head is not None else None
        return ModelOutput(embedding=embedding, cosine=cosine, subcentre_cosine=subcentre_cosine,
                           attribute_subcentre_cosine=attribute_cosine)


def logmel_statistics(logmels) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-bin mean and std over every frame of an iterable of (B, n_mels, T) log-mel batches
    (the temporal mean and std of all training files), accumulated in float64."""
    total = squares = None
    count = 0
    for mel in logmels:
        mel = mel.detach().double()
        s, q = mel.sum(dim=(0, 2)), (mel ** 2).sum(dim=(0, 2))
        total, squares = (s, q) if total is None else (total + s, squares + q)
        count += mel.shape[0] * mel.shape[2]
    if count == 0:
        raise ValueError("no log-mel frames to standardise with")
    mean = total / count
    std = (squares / count - mean ** 2).clamp_min(0).sqrt()
    return mean.float(), std.float()
