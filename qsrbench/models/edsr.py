"""EDSR (baseline and full) and SRResNet: residual-block SR networks without shipped weights.

* EDSR — Lim, Son, Kim, Nah and Lee, "Enhanced Deep Residual Networks for Single Image
  Super-Resolution", CVPR Workshops 2017 (arXiv 1707.02921). Baseline: 16 residual blocks of
  64 channels, residual scaling 1; full: 32 blocks of 256 channels, residual scaling 0.1. No
  batch norm. Input RGB in **[0, 255]**; the DIV2K mean is subtracted and added back as fixed
  buffers (not parameters, so the parameter counts are the paper's: 1.37M / 1.55M / 1.52M for
  the baseline at x2/x3/x4).
* SRResNet — Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
  Adversarial Network", CVPR 2017 (arXiv 1609.04802): 9x9 head with PReLU, 16 residual blocks
  (conv-BN-PReLU-conv-BN), conv-BN + long skip, x2 sub-pixel stages with PReLU, 9x9 tail.
  Input RGB in **[0, 1]** (``input_range = 1``).

Both upsample with conv → PixelShuffle stages (x4 = two x2 stages, x3 = one x3 stage). They
serve as quantization/QAT targets and BitOps references; no checkpoint is shipped.
"""

from __future__ import annotations

import torch
from torch import nn

from . import ModelInfo, register_model

__all__ = ["EDSR", "SRResNet", "subpixel_upsampler"]

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def subpixel_upsampler(channels: int, scale: int, act: type[nn.Module] | None = None) -> nn.Sequential:
    """conv(C → r²C) → PixelShuffle(r) [→ act] per stage: r = 2 twice for x4, else one stage of r = scale."""
    factors = (2, 2) if scale == 4 else (scale,)
    layers: list[nn.Module] = []
    for r in factors:
        layers += [conv(channels, channels * r * r), nn.PixelShuffle(r)]
        if act is not None:
            layers.append(act(channels) if act is nn.PReLU else act())
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """EDSR block: ``x + res_scale * conv(ReLU(conv(x)))``."""

    def __init__(self, channels: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), nn.ReLU(inplace=True), conv(channels, channels))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSR(nn.Module):
    def __init__(self, scale: int, channels: int = 64, blocks: int = 16, res_scale: float = 1.0):
        super().__init__()
        self.register_buffer("mean", 255.0 * torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1))
        self.head = conv(3, channels)
        self.body = nn.Sequential(*(ResBlock(channels, res_scale) for _ in range(blocks)),
                                  conv(channels, channels))
        self.tail = nn.Sequential(subpixel_upsampler(channels, scale), conv(channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x - self.mean)
        return self.tail(self.body(f) + f) + self.mean


def edsr_full(scale: int) -> EDSR:
    return EDSR(scale, channels=256, blocks=32, res_scale=0.1)


class SRResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), nn.BatchNorm2d(channels), nn.PReLU(channels),
                                  conv(channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    def __init__(self, scale: int, channels: int = 64, blocks: int = 16):
        super().__init__()
        self.head = nn.Sequential(conv(3, channels, 9), nn.PReLU(channels))
        self.body = nn.Sequential(*(SRResBlock(channels) for _ in range(blocks)),
                                  conv(channels, channels), nn.BatchNorm2d(channels))
        self.tail = nn.Sequential(subpixel_upsampler(channels, scale, nn.PReLU), conv(channels, 3, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        return self.tail(self.body(f) + f)


register_model(ModelInfo("edsr-baseline", EDSR, scales=(2, 3, 4), input_range=255.0,
                         description="EDSR baseline (64 ch, 16 res blocks), 1.37-1.55M params",
                         paper="Lim et al., EDSR, CVPRW 2017 (arXiv 1707.02921)"))
register_model(ModelInfo("edsr", edsr_full, scales=(2, 3, 4), input_range=255.0,
                         description="EDSR (256 ch, 32 res blocks, res scale 0.1), 40.7-43.7M params",
                         paper="Lim et al., EDSR, CVPRW 2017 (arXiv 1707.02921)"))
register_model(ModelInfo("srresnet", SRResNet, scales=(2, 3, 4), input_range=1.0,
                         description="SRResNet (64 ch, 16 res blocks with BN, PReLU), 1.5M params at x4",
                         paper="Ledig et al., SRGAN, CVPR 2017 (arXiv 1609.04802)"))
