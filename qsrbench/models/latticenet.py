"""LatticeNet: lattice blocks with combination coefficients and backward feature fusion.

Luo, Xie, Zhang, Qu, Li and Fu, "LatticeNet: Towards Lightweight Image Super-resolution with
Lattice Block", ECCV 2020 (doi 10.1007/978-3-030-58542-6_17). Written from the paper and
``shared/weights/ARCHITECTURES.md`` §7; keys match ``latticenet_x{2,4}.pth``.

Input RGB in **[0, 255]** (``input_range = 255``). The mean shift is a pair of ordinary 1x1
convs (``sub_mean``, ``add_mean``) whose weights were *trained* in the released checkpoints, so
they are parameters loaded from the file, never hard-coded. LeakyReLU slope 0.05; width 64,
inner width 48. Channel statistics use the unbiased standard deviation (``torch.std``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ModelInfo, mark_not_quantized, register_model

__all__ = ["LatticeNet", "LatticeBlock", "CombinationCoefficient"]

SLOPE = 0.05


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _squeeze(channels: int, reduction: int = 16) -> nn.Sequential:
    return nn.Sequential(conv(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                         conv(channels // reduction, channels, 1))


class CombinationCoefficient(nn.Module):
    """``(sigmoid(f(mean)) + sigmoid(g(std))) / 2`` per channel, std unbiased over H x W."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.conv_mean = _squeeze(channels)
        self.conv_std = _squeeze(channels)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        mean = t.mean(dim=(2, 3), keepdim=True)
        std = t.flatten(2).std(dim=2).unsqueeze(-1).unsqueeze(-1)
        return (torch.sigmoid(self.conv_mean(mean)) + torch.sigmoid(self.conv_std(std))) / 2


def _branch(channels: int, inner: int) -> nn.Sequential:
    return nn.Sequential(conv(channels, inner), nn.LeakyReLU(SLOPE, inplace=True),
                         conv(inner, inner), nn.LeakyReLU(SLOPE, inplace=True),
                         conv(inner, channels), nn.LeakyReLU(SLOPE, inplace=True))


class LatticeBlock(nn.Module):
    """Two butterfly stages joining residual branches with learned combination coefficients."""

    def __init__(self, channels: int = 64, inner: int = 48):
        super().__init__()
        self.conv_block0 = _branch(channels, inner)
        self.conv_block1 = _branch(channels, inner)
        self.fea_ca1, self.x_ca1 = CombinationCoefficient(channels), CombinationCoefficient(channels)
        self.fea_ca2, self.x_ca2 = CombinationCoefficient(channels), CombinationCoefficient(channels)
        self.compress = conv(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.conv_block0(x)
        p1 = x + self.fea_ca1(f1) * f1
        q1 = f1 + self.x_ca1(x) * x
        f2 = self.conv_block1(p1)
        p2 = f2 + self.fea_ca2(q1) * q1
        q2 = q1 + self.x_ca2(f2) * f2
        return self.compress(torch.cat([p2, q2], dim=1))


def _tdm(channels: int) -> nn.Sequential:
    return nn.Sequential(conv(channels, channels // 2, 1), nn.ReLU(inplace=True))


class LatticeNet(nn.Module):
    """LatticeNet: 4 lattice blocks; 756,196 (x2) / 776,968 (x4) params incl. the learned mean shift."""

    def __init__(self, scale: int, channels: int = 64, inner: int = 48):
        super().__init__()
        self.scale = scale
        self.sub_mean = conv(3, 3, 1)
        self.add_mean = conv(3, 3, 1)
        mark_not_quantized(self.sub_mean, self.add_mean)
        self.conv1, self.conv2 = conv(3, channels), conv(channels, channels)
        for k in range(1, 5):
            setattr(self, f"body_unit{k}", LatticeBlock(channels, inner))
        for k in range(1, 4):
            setattr(self, f"T_tdm{k}", _tdm(channels))
            setattr(self, f"L_tdm{k}", _tdm(channels))
        self.tail = nn.Sequential(conv(channels, channels), conv(channels, 3 * scale * scale),
                                  nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.conv2(self.conv1(self.sub_mean(x)))
        r1 = self.body_unit1(x0)
        r2 = self.body_unit2(r1)
        r3 = self.body_unit3(r2)
        r4 = self.body_unit4(r3)
        t = torch.cat([self.T_tdm1(r4), self.L_tdm1(r3)], dim=1)
        t = torch.cat([self.T_tdm2(t), self.L_tdm2(r2)], dim=1)
        t = torch.cat([self.T_tdm3(t), self.L_tdm3(r1)], dim=1)
        return self.add_mean(self.tail(t + x0))


register_model(ModelInfo("latticenet", LatticeNet, scales=(2, 3, 4), input_range=255.0,
                         description="LatticeNet (64 ch, 4 lattice blocks), 0.76-0.78M params",
                         paper="Luo et al., LatticeNet, ECCV 2020"))
