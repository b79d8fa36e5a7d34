"""RFDN: residual feature distillation network (AIM 2020 efficient-SR variant).

Liu, Tang and Wu, "Residual Feature Distillation Network for Lightweight Image Super-Resolution",
ECCV 2020 Workshops (AIM 2020 efficient SR challenge winner), arXiv 2009.11551. Written from the
paper and ``shared/weights/ARCHITECTURES.md`` §3; the state-dict keys match the released
``rfdn_x4.pth`` (no key prefix).

The default configuration (width 50, 4 blocks, ESA width 12) is the 433K-parameter challenge
entry, **not** the larger RFDN (534K-550K parameters) of the paper's tables; only the x4
checkpoint of that entry is shipped. Input RGB in **[0, 255]** (``input_range = 255``: the
authors' test feeds uint8 values as float without dividing), no mean shift, output in the same
range. LeakyReLU slope 0.05 everywhere.

A block (RFDB) distils features three times: a 1x1 conv keeps a narrow "distilled" copy while a
3x3 conv with a shallow residual refines the rest; the distilled parts and the last refined map
are concatenated, fused by a 1x1 conv and gated by enhanced spatial attention (ESA), a sigmoid
mask computed at low resolution (strided conv + 7x7/3 max pooling) and upsampled bilinearly.
There is no residual around the block. ESA needs LR inputs of at least 15x15 pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ModelInfo, register_model
from .imdn import distillation_trunk

__all__ = ["ESA", "RFDB", "RFDN"]


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class ESA(nn.Module):
    """Enhanced spatial attention: ``v * sigmoid(mask(v))`` with a low-resolution mask branch."""

    def __init__(self, channels: int, f: int = 12):
        super().__init__()
        self.conv1 = conv(channels, f, 1)
        self.conv_f = conv(f, f, 1)
        self.conv_max = conv(f, f)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = conv(f, f)
        self.conv3_ = conv(f, f)
        self.conv4 = conv(f, channels, 1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        a = self.conv1(v)
        b = F.max_pool2d(self.conv2(a), kernel_size=7, stride=3)
        b = torch.relu(self.conv_max(b))
        b = torch.relu(self.conv3(b))
        b = self.conv3_(b)
        b = F.interpolate(b, size=v.shape[-2:], mode="bilinear", align_corners=False)
        return v * torch.sigmoid(self.conv4(b + self.conv_f(a)))


class RFDB(nn.Module):
    """Residual feature distillation block (width ``c``, distilled width ``c // 2``)."""

    def __init__(self, c: int = 50, esa_width: int = 12):
        super().__init__()
        d = c // 2
        self.c1_d, self.c1_r = conv(c, d, 1), conv(c, c)
        self.c2_d, self.c2_r = conv(c, d, 1), conv(c, c)
        self.c3_d, self.c3_r = conv(c, d, 1), conv(c, c)
        self.c4 = conv(c, d)
        self.act = nn.LeakyReLU(0.05)
        self.c5 = conv(4 * d, c, 1)
        self.esa = ESA(c, esa_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.act
        d1, r1 = act(self.c1_d(x)), act(self.c1_r(x) + x)
        d2, r2 = act(self.c2_d(r1)), act(self.c2_r(r1) + r1)
        d3, r3 = act(self.c3_d(r2)), act(self.c3_r(r2) + r2)
        r4 = act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


class RFDN(nn.Module):
    """Shallow conv → ``blocks`` RFDBs → 1x1 fusion of all block outputs → conv + long skip →
    conv3x3 + PixelShuffle(scale)."""

    def __init__(self, scale: int, channels: int = 50, blocks: int = 4, esa_width: int = 12):
        super().__init__()
        self.blocks = blocks
        self.fea_conv = conv(3, channels)
        for i in range(1, blocks + 1):
            setattr(self, f"B{i}", RFDB(channels, esa_width))
        self.c = nn.Sequential(conv(channels * blocks, channels, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(channels, channels)
        self.upsampler = nn.Sequential(conv(channels, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return distillation_trunk(self, x, "B")


register_model(ModelInfo("rfdn", RFDN, scales=(2, 3, 4), in_channels=(3,), input_range=255.0,
                         description="RFDN, AIM 2020 variant (50 ch, 4 RFDB, ESA), 0.43M params at x4",
                         paper="Liu et al., RFDN, ECCV 2020 Workshops (arXiv 2009.11551)"))
