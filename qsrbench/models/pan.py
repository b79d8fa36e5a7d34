"""PAN and A2N: lightweight SR networks built on pixel attention, sharing one skeleton.

* PAN — Zhao, Kong, He, Qiao and Dong, "Efficient Image Super-Resolution Using Pixel
  Attention", ECCV 2020 Workshops (AIM 2020), arXiv 2010.01073. Input RGB in **[0, 1]**
  (``input_range = 1``), no mean shift.
* A2N — Chen, Gu and Zhang, "Attention in Attention Network for Image Super-Resolution",
  arXiv 2104.09497 (2021). Input RGB in **[0, 255]**
  (``input_range = 255``; the EDSR framework's ``rgb_range = 255``), no mean shift. This is
  A2N (3x3 non-attention branch), not A2N-M.

Written from the papers and ``shared/weights/ARCHITECTURES.md`` §4-§5; state-dict keys match
the released ``pan_x{2,4}.pth`` and ``a2n_x2.pth`` (no key prefix). Output is in the input's
range. All LeakyReLUs have slope 0.2.

Skeleton (both, width 40, 16 blocks, reconstruction width 24): ``conv_first`` 3x3 → trunk of
blocks → ``trunk_conv`` 3x3 + long skip → per x2 (or x3) stage: nearest upsampling → 3x3 conv →
pixel attention (``t * sigmoid(conv1x1(t))``) → LReLU → 3x3 conv → LReLU (x4 = two x2 stages)
→ ``conv_last`` 3x3, plus the bilinear upsampling of the input (``align_corners=False``).
The blocks differ:

* PAN's SCPA (self-calibrated block with pixel attention) splits the 40 channels into two
  1x1-reduced branches of 20: a plain 3x3 conv and a pixel-attention conv
  (``k4(k3(b) * sigmoid(k2(b)))``); their concatenation is fused by a 1x1 conv plus residual.
* A2N's AAB (attention-in-attention block) mixes an attention branch and a plain 3x3 branch
  with per-sample weights from a small "attention dropout module": global average pool →
  Linear → ReLU → Linear → softmax with temperature 30 over the two branches.

Only the attention convs ``k2`` carry a bias inside the blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ModelInfo, register_model

__all__ = ["PixelAttention", "SCPA", "AAB", "PAN", "A2N"]

SLOPE = 0.2


def conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE)


class PixelAttention(nn.Module):
    """``t * sigmoid(conv1x1(t))`` (the reconstruction's ``att1`` / ``att2``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv(channels, channels, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t * torch.sigmoid(self.conv(t))


class PAConv(nn.Module):
    """Pixel-attention convolution: ``k4(k3(x) * sigmoid(k2(x)))``; only ``k2`` has a bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.k2 = conv(channels, channels, 1, bias=True)
        self.k3 = conv(channels, channels, 3, bias=False)
        self.k4 = conv(channels, channels, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """PAN's self-calibrated block with pixel attention (bias-free except ``PAConv.k2``)."""

    def __init__(self, channels: int = 40):
        super().__init__()
        half = channels // 2
        self.conv1_a = conv(channels, half, 1, bias=False)
        self.conv1_b = conv(channels, half, 1, bias=False)
        self.k1 = nn.Sequential(conv(half, half, 3, bias=False))
        self.PAConv = PAConv(half)
        self.conv3 = conv(2 * half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = lrelu(self.k1(lrelu(self.conv1_a(x))))
        b = lrelu(self.PAConv(lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class A2NAttention(nn.Module):
    """A2N's attention branch: ``k4(k3(h) * sigmoid(k2(LReLU(k1(h)))))``; only ``k2`` has a bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.k1 = conv(channels, channels, 3, bias=False)
        self.k2 = conv(channels, channels, 1, bias=True)
        self.k3 = conv(channels, channels, 3, bias=False)
        self.k4 = conv(channels, channels, 3, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(h) * torch.sigmoid(self.k2(lrelu(self.k1(h)))))


class AAB(nn.Module):
    """A2N's attention-in-attention block (bias-free except ``attention.k2``)."""

    def __init__(self, channels: int = 40, reduction: int = 4, temperature: float = 30.0):
        super().__init__()
        self.temperature = temperature
        self.conv_first = conv(channels, channels, 1, bias=False)
        self.ADM = nn.Sequential(nn.Linear(channels, channels // reduction, bias=False),
                                 nn.ReLU(inplace=True),
                                 nn.Linear(channels // reduction, 2, bias=False))
        self.attention = A2NAttention(channels)
        self.non_attention = conv(channels, channels, 3, bias=False)
        self.conv_last = conv(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = lrelu(self.conv_first(x))
        w = torch.softmax(self.ADM(h.mean(dim=(2, 3))) / self.temperature, dim=1)
        w = w[:, :, None, None, None]  # (B, 2, 1, 1, 1): one weight per branch and sample
        m = lrelu(w[:, 0] * self.attention(h) + w[:, 1] * self.non_attention(h))
        return self.conv_last(m) + x


class PixelAttentionSR(nn.Module):
    """The PAN/A2N skeleton; the trunk of ``blocks`` copies of ``block`` is stored as ``trunk_name``."""

    trunk_name = "trunk"
    block: type[nn.Module] = nn.Identity

    def __init__(self, scale: int, channels: int = 40, up_channels: int = 24, blocks: int = 16):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"{type(self).__name__} supports scales 2, 3 and 4, not {scale}")
        self.scale = scale
        self.conv_first = conv(3, channels)
        setattr(self, self.trunk_name, nn.Sequential(*(type(self).block(channels) for _ in range(blocks))))
        self.trunk_conv = conv(channels, channels)
        self.upconv1 = conv(channels, up_channels)
        self.att1 = PixelAttention(up_channels)
        self.HRconv1 = conv(up_channels, up_channels)
        if scale == 4:
            self.upconv2 = conv(up_channels, up_channels)
            self.att2 = PixelAttention(up_channels)
            self.HRconv2 = conv(up_channels, up_channels)
        self.conv_last = conv(up_channels, 3)

    @staticmethod
    def _stage(t: torch.Tensor, factor: int, upconv: nn.Module, att: nn.Module,
               hrconv: nn.Module) -> torch.Tensor:
        t = upconv(F.interpolate(t, scale_factor=factor, mode="nearest"))
        return lrelu(hrconv(lrelu(att(t))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.conv_first(x)
        f = self.trunk_conv(getattr(self, self.trunk_name)(f0)) + f0
        if self.scale == 4:
            f = self._stage(f, 2, self.upconv1, self.att1, self.HRconv1)
            f = self._stage(f, 2, self.upconv2, self.att2, self.HRconv2)
        else:
            f = self._stage(f, self.scale, self.upconv1, self.att1, self.HRconv1)
        skip = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(f) + skip


class PAN(PixelAttentionSR):
    """PAN: 16 SCPA blocks (``SCPA_trunk``); 261K (x2) / 272K (x4) parameters."""

    trunk_name = "SCPA_trunk"
    block = SCPA


class A2N(PixelAttentionSR):
    """A2N: 16 attention-in-attention blocks (``AAB_trunk``); 1.04M parameters at x2."""

    trunk_name = "AAB_trunk"
    block = AAB


register_model(ModelInfo("pan", PAN, scales=(2, 3, 4), in_channels=(3,), input_range=1.0,
                         description="PAN (40 ch, 16 SCPA, pixel attention), 0.26-0.27M params",
                         paper="Zhao et al., PAN, ECCV 2020 Workshops (arXiv 2010.01073)"))
register_model(ModelInfo("a2n", A2N, scales=(2, 3, 4), in_channels=(3,), input_range=255.0,
                         description="A2N (40 ch, 16 attention-in-attention blocks), 1.04M params at x2",
                         paper="Chen et al., A2N, arXiv 2104.09497 (2021)"))
