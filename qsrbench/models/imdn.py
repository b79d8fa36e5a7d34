"""IMDN and IMDN-RTC: information multi-distillation networks.

Hui et al., "Lightweight Image Super-Resolution with Information Multi-distillation Network",
ACM MM 2019 (arXiv 1909.11856). Written from the paper and ``shared/weights/ARCHITECTURES.md``
(§1 IMDN, §2 IMDN-RTC); state-dict keys match the released checkpoints once their ``module.``
prefix is stripped.

Input RGB in [0, 1] (``input_range = 1``), no mean shift; LeakyReLU slope 0.05 everywhere.
A distillation block splits each 3x3 conv's output into a distilled part (kept) and a remaining
part (refined further), concatenates the distilled parts, and fuses them with a 1x1 conv plus a
block residual. IMDN gates the concatenation with contrast-aware channel attention
(per-channel mean + population standard deviation → 1x1 → ReLU → 1x1 → sigmoid).
"""

from __future__ import annotations

import torch
from torch import nn

from . import ModelInfo, register_model

__all__ = ["IMDN", "IMDNRTC"]


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class ContrastChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(conv(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                     conv(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv_du(mean + population_std(x, mean))


def population_std(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Per-channel population standard deviation over positions, with a finite gradient where a
    channel is constant: ``sqrt`` has an infinite derivative at 0, and autograd's ``inf · 0`` (the
    variance's derivative there) is NaN — reached in training once a quantized layer makes a
    channel constant. The value is exactly ``var.sqrt()``; at ``var = 0`` the gradient is 0."""
    var = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
    positive = var > 0
    return torch.where(positive, torch.where(positive, var, torch.ones_like(var)).sqrt(),
                       torch.zeros_like(var))


class DistillationBlock(nn.Module):
    """Four distillation steps of width ``c`` with ``d`` distilled channels each; optional attention."""

    def __init__(self, c: int, d: int, attention: bool):
        super().__init__()
        r = c - d
        self.d = d
        self.c1, self.c2, self.c3 = conv(c, c), conv(r, c), conv(r, c)
        self.c4 = conv(r, d)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.cca = ContrastChannelAttention(4 * d) if attention else None
        self.c5 = conv(4 * d, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        r = x
        for layer in (self.c1, self.c2, self.c3):
            out = self.act(layer(r))
            parts.append(out[:, : self.d])
            r = out[:, self.d:]
        parts.append(self.c4(r))
        u = torch.cat(parts, dim=1)
        if self.cca is not None:
            u = self.cca(u)
        return self.c5(u) + x


def distillation_trunk(net: nn.Module, x: torch.Tensor, prefix: str) -> torch.Tensor:
    """The IMDN/RFDN trunk: ``fea_conv`` → blocks ``<prefix>1..N`` in series → ``c`` fuses their
    concatenated outputs → ``LR_conv`` + long skip from ``fea_conv`` → ``upsampler``."""
    f0 = net.fea_conv(x)
    outs, b = [], f0
    for i in range(1, net.blocks + 1):
        b = getattr(net, f"{prefix}{i}")(b)
        outs.append(b)
    return net.upsampler(net.LR_conv(net.c(torch.cat(outs, dim=1))) + f0)


class IMDN(nn.Module):
    def __init__(self, scale: int, channels: int = 64, blocks: int = 6, distilled: int = 16):
        super().__init__()
        self.fea_conv = conv(3, channels)
        for i in range(1, blocks + 1):
            setattr(self, f"IMDB{i}", DistillationBlock(channels, distilled, attention=True))
        self.blocks = blocks
        self.c = nn.Sequential(conv(channels * blocks, channels, 1), nn.LeakyReLU(0.05, inplace=True))
        self.LR_conv = conv(channels, channels)
        self.upsampler = nn.Sequential(conv(channels, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return distillation_trunk(self, x, "IMDB")


class _Shortcut(nn.Module):
    def __init__(self, sub: nn.Module):
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


class IMDNRTC(nn.Module):
    """The 20K-parameter real-time variant: width 12, 5 blocks without attention."""

    def __init__(self, scale: int, channels: int = 12, blocks: int = 5, distilled: int = 3):
        super().__init__()
        body = [DistillationBlock(channels, distilled, attention=False) for _ in range(blocks)]
        self.model = nn.Sequential(
            conv(3, channels),
            _Shortcut(nn.Sequential(*body, conv(channels, channels, 1))),
            conv(channels, 3 * scale * scale),
            nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


register_model(ModelInfo("imdn", IMDN, scales=(2, 3, 4), input_range=1.0,
                         description="IMDN (64 ch, 6 IMDB), 0.69-0.72M params",
                         paper="Hui et al., ACM MM 2019"))
register_model(ModelInfo("imdn-rtc", IMDNRTC, scales=(2, 3, 4), input_range=1.0,
                         description="IMDN-RTC (12 ch, 5 blocks), 20K params",
                         paper="Hui et al., ACM MM 2019 (RTC variant)"))
