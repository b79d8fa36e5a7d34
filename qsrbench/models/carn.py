"""CARN-M: the mobile cascading residual network.

Ahn, Kang and Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual
Network", ECCV 2018 (arXiv 1803.08664). Written from the paper and
``shared/weights/ARCHITECTURES.md`` §6; state-dict keys match the released multi-scale
``carn_m_x4.pth`` (the authors' re-trained CARN-M: group convolutions, groups = 4, also in the
upsampler; one file holds the x2, x3 and x4 upsamplers and serves all three scales).

Input RGB in **[0, 1]** (``input_range = 1``); the mean shift is inside the network as frozen
1x1 convs (identity weight, bias -/+ the DIV2K mean), stored in the checkpoint. All
activations are ReLU.

Structure: ``sub_mean`` → ``entry`` 3x3 (no activation) → three cascading blocks, each fused
with everything before it by a 1x1 conv + ReLU (``c1..c3``) → the upsampler of the requested
scale → ``exit`` 3x3 → ``add_mean``. A cascading block applies **one** efficient residual unit
(group 3x3 → ReLU → group 3x3 → ReLU → 1x1, + input, ReLU) three times with shared weights,
with the same 1x1 cascade fusions inside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ModelInfo, mark_not_quantized, register_model

__all__ = ["CARNM"]

MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K RGB mean in [0, 1]


class MeanShift(nn.Module):
    """``shifter``: frozen 1x1 conv, identity weight and bias ``sign * mean``."""

    def __init__(self, sign: float, mean=MEAN):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.shifter.bias.copy_(sign * torch.tensor(mean))
        for p in self.shifter.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class Fuse(nn.Module):
    """Cascade fusion ``body.0``: 1x1 conv + ReLU over the concatenated inputs."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat(xs, dim=1))


class EResidual(nn.Module):
    """Efficient residual unit: ``ReLU(t + 1x1(ReLU(g3x3(ReLU(g3x3(t))))))``, groups = 4."""

    def __init__(self, channels: int = 64, groups: int = 4):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(t) + t)


class CascadingBlock(nn.Module):
    """One residual unit ``b1`` applied three times (shared weights) with cascade fusions."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.b1 = EResidual(channels)
        self.c1, self.c2, self.c3 = (Fuse(channels * k, channels) for k in (2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e0 = self.b1(x)
        p1 = self.c1(x, e0)
        e1 = self.b1(p1)
        p2 = self.c2(x, e0, e1)
        e2 = self.b1(p2)
        return self.c3(x, e0, e1, e2)


class _UpStage(nn.Module):
    def __init__(self, channels: int, factor: int, stages: int, groups: int = 4):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(stages):
            layers += [nn.Conv2d(channels, channels * factor * factor, 3, padding=1, groups=groups),
                       nn.ReLU(inplace=True), nn.PixelShuffle(factor)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class MultiScaleUpsampler(nn.Module):
    """``up2`` / ``up3`` / ``up4`` (x4 = two x2 stages); all exist so the checkpoint loads strictly."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.up2 = _UpStage(channels, 2, 1)
        self.up3 = _UpStage(channels, 3, 1)
        self.up4 = _UpStage(channels, 2, 2)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        return getattr(self, f"up{scale}")(x)


class CARNM(nn.Module):
    """CARN-M, multi-scale: 414,811 parameters in all, 294,147 on the x4 path (mean shift excluded)."""

    def __init__(self, scale: int, channels: int = 64):
        super().__init__()
        self.scale = scale
        self.sub_mean, self.add_mean = MeanShift(-1.0), MeanShift(1.0)
        mark_not_quantized(self.sub_mean.shifter, self.add_mean.shifter)
        self.entry = nn.Conv2d(3, channels, 3, padding=1)
        self.b1, self.b2, self.b3 = (CascadingBlock(channels) for _ in range(3))
        self.c1, self.c2, self.c3 = (Fuse(channels * k, channels) for k in (2, 3, 4))
        self.upsample = MultiScaleUpsampler(channels)
        self.exit = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c0 = self.entry(self.sub_mean(x))
        f1 = self.b1(c0)
        o1 = self.c1(c0, f1)
        f2 = self.b2(o1)
        o2 = self.c2(c0, f1, f2)
        f3 = self.b3(o2)
        o3 = self.c3(c0, f1, f2, f3)
        return self.add_mean(self.exit(self.upsample(o3, self.scale)))


register_model(ModelInfo("carn-m", CARNM, scales=(2, 3, 4), input_range=1.0,
                         description="CARN-M multi-scale (64 ch, group conv 4), 0.41M params in all",
                         paper="Ahn et al., CARN, ECCV 2018 (arXiv 1803.08664)"))
