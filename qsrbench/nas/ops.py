"""The eight candidate operations of the cell search space and the cells' preprocessing layers.

Liu, Simonyan and Yang, ICLR 2019 (arXiv 1806.09055), Sec. 3.1 / App. A.1, and their
``cnn/operations.py`` (quark0 repository, commit f276dd3): 3x3 and 5x5 separable convolutions
(applied twice), 3x3 and 5x5 dilated separable convolutions (dilation 2), 3x3 max and average
pooling, identity (``skip_connect``; a factorized reduction when the edge has stride 2) and
``none`` (zero). Every convolution is ReLU-conv-BN. ``affine`` is False in the search supernet
and True in the evaluation network. In the supernet (``pool_bn=True``) the pooling operations
are followed by ``BatchNorm2d(affine=False)``, as the authors' ``MixedOp`` does, so that their
outputs are normalised like those of the convolutions they compete with.

The depthwise convolution of a dilated operation is a :class:`~qsrbench.fastconv.PhaseDilatedConv2d`
(an ``nn.Conv2d`` with the same parameters and state dict, computed by polyphase decomposition:
the same sums, several times faster backward on a CPU; see :mod:`qsrbench.fastconv`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..fastconv import PhaseDilatedConv2d

__all__ = ["OPS", "make_op", "ReLUConvBN", "FactorizedReduce", "Zero"]


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int, affine: bool = True):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, affine=affine))


class DilConv(nn.Sequential):
    """ReLU → depthwise k x k (dilation d) → pointwise 1x1 → BN."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         PhaseDilatedConv2d(cin, cin, k, stride, padding, dilation=dilation, groups=cin,
                                            bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout, affine=affine))


class SepConv(nn.Sequential):
    """Two stacked dilation-1 DilConvs; only the first has the stride."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int, affine: bool = True):
        super().__init__(DilConv(cin, cin, k, stride, padding, 1, affine),
                         DilConv(cin, cout, k, 1, padding, 1, affine))


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution: two stride-2 1x1 convs on offset grids, concatenated, then BN."""

    def __init__(self, cin: int, cout: int, affine: bool = True):
        super().__init__()
        if cout % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {cout}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _pool(kind: str, stride: int) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


OPS = {
    "none": lambda c, s, a: Zero(s),
    "avg_pool_3x3": lambda c, s, a: _pool("avg", s),
    "max_pool_3x3": lambda c, s, a: _pool("max", s),
    "skip_connect": lambda c, s, a: nn.Identity() if s == 1 else FactorizedReduce(c, c, a),
    "sep_conv_3x3": lambda c, s, a: SepConv(c, c, 3, s, 1, a),
    "sep_conv_5x5": lambda c, s, a: SepConv(c, c, 5, s, 2, a),
    "dil_conv_3x3": lambda c, s, a: DilConv(c, c, 3, s, 2, 2, a),
    "dil_conv_5x5": lambda c, s, a: DilConv(c, c, 5, s, 4, 2, a),
}


def make_op(name: str, channels: int, stride: int, affine: bool, pool_bn: bool = False) -> nn.Module:
    """Operation ``name`` on ``channels`` channels; ``pool_bn`` adds the supernet's BN after pooling."""
    if name not in OPS:
        from ..errors import QsrbenchError

        raise QsrbenchError(f"unknown operation {name!r} (known: {', '.join(OPS)})")
    op = OPS[name](channels, stride, affine)
    if pool_bn and "pool" in name:
        return nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
    return op
