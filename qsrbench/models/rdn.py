"""RDN: residual dense network.

Zhang, Tian, Kong, Zhong and Fu, "Residual Dense Network for Image Super-Resolution",
CVPR 2018 (arXiv 1802.08797). Paper configuration D = 16 residual dense blocks, C = 8 conv
layers per block, growth G = 64, G0 = 64 feature channels: ~22M parameters. Input RGB in
**[0, 255]** (no mean shift). No checkpoint is shipped; it is a quantization/BitOps target.

Shallow features: two 3x3 convs (``F-1``, ``F0``). Each RDB: C densely connected 3x3 conv +
ReLU layers (layer c sees G0 + c*G channels), a 1x1 local fusion back to G0, plus a local
residual. Global fusion: 1x1 over the concatenated RDB outputs, then 3x3, plus ``F-1``.
Upsampling: conv → PixelShuffle stages (x4 = two x2 stages), then a 3x3 conv to RGB.
"""

from __future__ import annotations

import torch
from torch import nn

from . import ModelInfo, register_model
from .edsr import conv

__all__ = ["RDN", "ResidualDenseBlock"]


class ResidualDenseBlock(nn.Module):
    def __init__(self, g0: int = 64, growth: int = 64, layers: int = 8):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(conv(g0 + c * growth, growth), nn.ReLU(inplace=True)) for c in range(layers))
        self.fuse = conv(g0 + layers * growth, g0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.convs:
            feats.append(layer(torch.cat(feats, dim=1)))
        return x + self.fuse(torch.cat(feats, dim=1))


class RDN(nn.Module):
    def __init__(self, scale: int, g0: int = 64, growth: int = 64, blocks: int = 16, layers: int = 8):
        super().__init__()
        self.sfe1, self.sfe2 = conv(3, g0), conv(g0, g0)
        self.rdbs = nn.ModuleList(ResidualDenseBlock(g0, growth, layers) for _ in range(blocks))
        self.gff = nn.Sequential(conv(blocks * g0, g0, 1), conv(g0, g0))
        factors = (2, 2) if scale == 4 else (scale,)
        up: list[nn.Module] = []
        ch = g0
        for r in factors:
            up += [conv(ch, growth * r * r), nn.PixelShuffle(r)]
            ch = growth
        self.upsample = nn.Sequential(*up, conv(growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f_1 = self.sfe1(x)
        f = self.sfe2(f_1)
        outs = []
        for block in self.rdbs:
            f = block(f)
            outs.append(f)
        return self.upsample(self.gff(torch.cat(outs, dim=1)) + f_1)


register_model(ModelInfo("rdn", RDN, scales=(2, 3, 4), input_range=255.0,
                         description="RDN (D=16, C=8, G=64), ~22M params",
                         paper="Zhang et al., RDN, CVPR 2018 (arXiv 1802.08797)"))
