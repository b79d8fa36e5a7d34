"""SMSR: sparse mask super-resolution, dense-equivalent inference.

Wang, Dong, Wang, Liang, An, Lin and Guo, "Exploring Sparsity in Image Super-Resolution for
Efficient Inference", CVPR 2021 (arXiv 2006.09603). Written from the paper and
``shared/weights/ARCHITECTURES.md`` §8; keys match ``smsr_x2.pth``.

Input RGB in **[0, 255]** (``input_range = 255``); fixed mean shift inside the network
(1x1 convs stored in the checkpoint). Inference only: the spatial mask is hard (argmax of a
2-channel map) and each conv's channel split into *dense* and *sparse* outputs is fixed by the
sign pattern of the ``ch_mask`` logits. This module computes the dense equivalent of the
paper's sparse convolution (the FLOPs the sparse kernels skip are spent here, so MACs counted
on this module are the dense upper bound). The spatial-mask branch halves and re-doubles the
resolution, so an odd-sized feature map is replicate-padded by one row/column for the mask and
the mask cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ModelInfo, mark_not_quantized, register_model

__all__ = ["SMSR", "SparseMaskModule"]


def conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class ChannelAttention(nn.Module):
    def __init__(self, channels: int = 64, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(conv(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                     conv(channels // reduction, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv_du(x.mean(dim=(2, 3), keepdim=True)))


class SparseMaskBody(nn.Module):
    """Four bias-free 3x3 convs with fixed dense/sparse output channels, fused by ``collect``."""

    def __init__(self, channels: int = 64, layers: int = 4):
        super().__init__()
        self.ch_mask = nn.Parameter(torch.zeros(1, channels, layers, 2))
        self.body = nn.ModuleList(conv(channels, channels, bias=False) for _ in range(layers))
        self.collect = conv(channels * layers, channels, 1)

    def sparse_channels(self) -> torch.Tensor:
        """``(layers, channels)`` bool: output channel c of layer i is sparse (masked spatially)."""
        return (self.ch_mask[0, :, :, 1] > self.ch_mask[0, :, :, 0]).t()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        sparse = self.sparse_channels().to(x.dtype)
        outs, f = [], x
        prev_sparse = torch.zeros_like(sparse[0])  # layer 0: every input channel is dense
        for i, layer in enumerate(self.body):
            s_in = prev_sparse.view(1, -1, 1, 1)
            y_dense, y_sparse = layer(f * (1 - s_in)), layer(f * s_in)
            s_out = sparse[i].view(1, -1, 1, 1)
            dense_out = y_dense + mask * y_sparse
            sparse_out = mask * (y_dense + y_sparse)
            f = F.relu(dense_out * (1 - s_out) + sparse_out * s_out)
            outs.append(f)
            prev_sparse = sparse[i]
        return self.collect(torch.cat(outs, dim=1))


class SparseMaskModule(nn.Module):
    """Spatial mask → sparse-mask convs → channel attention, plus the module residual."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.spa_mask = nn.Sequential(
            conv(channels, channels // 4), nn.ReLU(inplace=True), nn.AvgPool2d(2),
            conv(channels // 4, channels // 4), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(channels // 4, 2, 3, stride=2, padding=1, output_padding=1))
        self.body = SparseMaskBody(channels)
        self.ca = ChannelAttention(channels)

    def spatial_mask(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else x
        logits = self.spa_mask(padded)[..., :h, :w]
        return (logits[:, 1:2] > logits[:, 0:1]).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(self.body(x, self.spatial_mask(x))) + x


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv: identity weight, bias ``sign * 255 * DIV2K mean`` (stored in the checkpoint)."""

    def __init__(self, sign: float):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * 255.0 * torch.tensor((0.4488, 0.4371, 0.4040)))
        self.requires_grad_(False)


class SMSR(nn.Module):
    """SMSR x2: 5 sparse mask modules, 987,330 params (incl. 2,560 mask logits, 24 mean shift)."""

    def __init__(self, scale: int, channels: int = 64, modules: int = 5):
        super().__init__()
        self.scale = scale
        self.sub_mean, self.add_mean = MeanShift(-1.0), MeanShift(1.0)
        mark_not_quantized(self.sub_mean, self.add_mean)
        self.head = nn.Sequential(conv(3, channels), nn.ReLU(inplace=True), conv(channels, channels))
        self.body = nn.Sequential(*(SparseMaskModule(channels) for _ in range(modules)))
        self.collect = nn.Sequential(conv(channels * modules, channels, 1), nn.ReLU(inplace=True),
                                     conv(channels, channels))
        self.tail = nn.Sequential(conv(channels, 3 * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.sub_mean(x)
        h0 = self.head(x0)
        feats, f = [], h0
        for module in self.body:
            f = module(f)
            feats.append(f)
        f = self.collect(torch.cat(feats, dim=1)) + h0
        skip = F.interpolate(x0, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return self.add_mean(self.tail(f) + skip)


register_model(ModelInfo("smsr", SMSR, scales=(2, 3, 4), input_range=255.0,
                         description="SMSR (64 ch, 5 sparse mask modules), 0.99M params at x2",
                         paper="Wang et al., SMSR, CVPR 2021 (arXiv 2006.09603)"))
