"""MobileFaceNet (Chen et al. 2018) as the ASD papers use it: a (C, F, T) stack -> 128-d embedding.

Layers (REFERENCE.md, "Networks"):
    ConvBlock(in -> 64, 3x3, stride 2)            conv + BN + PReLU
    depthwise ConvBlock(64, 3x3)
    bottlenecks (t, c, n, s)                      1x1 expand + BN + PReLU, dw 3x3 + BN + PReLU,
                                                  1x1 linear + BN; residual if stride 1 and in == out
    ConvBlock(c_last -> 512, 1x1)
    linear global depthwise conv (GDC)            one kernel over the whole remaining map
    linear 1x1 ConvBlock(512 -> 128)              the embedding (after its BN)

The GDC kernel is the size of the feature map left after the strided layers, computed from the
configured input size (8 x 20 at 128 x 313, 8 x 4 at 128 x 63) rather than hard-coded.  An input
of another size is still accepted: its map is adaptive-average-pooled to the GDC kernel size first
(a no-op at the configured size), so one trained model scores clips of any length.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# (t, c, n, s): expansion factor, output channels, repeats, stride of the first repeat.
# The ASD variant of STgram-MFN, TASTgram-MFN and OS-SCL (DCASE2022 Liu et al. report):
ASD_BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2))
# The original MobileFaceNet table, used by the ICASSP-2022 STgram-MFN paper:
ORIGINAL_BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))
BOTTLENECK_TABLES = {"asd": ASD_BOTTLENECKS, "original": ORIGINAL_BOTTLENECKS}


def resolve_bottlenecks(setting: str | Sequence[Sequence[int]]) -> tuple[tuple[int, int, int, int], ...]:
    """'asd', 'original' or an explicit list of (t, c, n, s) rows."""
    if isinstance(setting, str):
        try:
            return BOTTLENECK_TABLES[setting]
        except KeyError:
            raise ValueError(f"unknown bottleneck table {setting!r}; choose from {sorted(BOTTLENECK_TABLES)}") from None
    rows = tuple(tuple(int(v) for v in row) for row in setting)
    if not rows or any(len(row) != 4 for row in rows):
        raise ValueError("a bottleneck table is a non-empty list of (t, c, n, s) rows")
    return rows  # type: ignore[return-value]


def _strided_size(n: int, stride: int) -> int:
    """Output length of a 3x3 conv with padding 1: floor((n + 2 - 3) / s) + 1."""
    return (n - 1) // stride + 1


class ConvBlock(nn.Module):
    """Conv (no bias) + BN, then PReLU unless `linear`; `depthwise` makes it one filter per channel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 depthwise: bool = False, linear: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=in_channels if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        # PReLU with one slope per channel, as in MobileFaceNet and the ASD papers' code
        self.prelu = None if linear else nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand (x t) -> depthwise 3x3 (stride s) -> 1x1 linear projection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        self.residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, out_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_channels),  # linear bottleneck: no activation after the projection
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileFaceNet(nn.Module):
    """(B, in_channels, n_mels, T) -> (B, embedding_dim).

    n_mels and n_frames fix the size of the global depthwise conv (see the module docstring).
    """

    def __init__(self, in_channels: int, n_mels: int = 128, n_frames: int = 313,
                 bottlenecks: str | Sequence[Sequence[int]] = "asd", embedding_dim: int = 128,
                 width: int = 64, gdc_channels: int = 512):
        super().__init__()
        table = resolve_bottlenecks(bottlenecks)
        self.conv1 = ConvBlock(in_channels, width, 3, 2, 1)
        self.dw_conv1 = ConvBlock(width, width, 3, 1, 1, depthwise=True)
        blocks, channels = [], width
        h, w = _strided_size(n_mels, 2), _strided_size(n_frames, 2)
        for t, c, n, s in table:
            for i in range(n):
                stride = s if i == 0 else 1
                blocks.append(Bottleneck(channels, c, stride, t))
                channels = c
                h, w = _strided_size(h, stride), _strided_size(w, stride)
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBlock(channels, gdc_channels, 1, 1, 0)
        self.gdc_size = (h, w)  # 8 x 20 at 128 x 313
        self.gdc = ConvBlock(gdc_channels, gdc_channels, self.gdc_size, 1, 0, depthwise=True, linear=True)
        self.linear = ConvBlock(gdc_channels, embedding_dim, 1, 1, 0, linear=True)
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal over fan-out (k*k*out_channels) for every conv, BN at identity: the
        # initialisation of the MobileFaceNet used by STgram-MFN and its successors.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_conv1(self.conv1(x))
        x = self.conv2(self.blocks(x))
        if tuple(x.shape[-2:]) != self.gdc_size:
            # another clip length than configured: bring the map to the GDC's kernel size
            x = F.adaptive_avg_pool2d(x, self.gdc_size)
        x = self.linear(self.gdc(x))
        return x.flatten(1)
