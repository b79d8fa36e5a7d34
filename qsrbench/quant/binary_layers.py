"""1-bit layers: a convolution with XNOR-style binary weights and optionally binary activations.

:class:`BinaryConv2d` is an ``nn.Conv2d`` (so the BitOps counter and the converters see a conv)
whose forward convolves ``binarize(W)`` — ``mean|W| · sign(W)`` per output channel
(:func:`qsrbench.quant.binary.binarize`, XNOR-Net, Rastegari et al., ECCV 2016) — with its input,
or with ``sign(x)`` when ``binary_input`` (the input's scale is not restored: the BatchNorm that
follows each binarized conv in the NAS cells absorbs it, as in Bi-Real / BNAS). Gradients: the
clipped straight-through estimator of ``binarize`` for the weights; for binary inputs the same
clipped estimator (``1{|x| <= 1}``, Hubara et al., NeurIPS 2016). :func:`binarize_convs` swaps
every ``nn.Conv2d`` of a module for one (same weights), which is how the NAS operations are
binarized; BatchNorm, pooling and identity shortcuts are left in full precision. The convolution
itself is :class:`~qsrbench.fastconv.PhaseDilatedConv2d`'s (a dilated one by polyphase
decomposition, the same sums; an ordinary one as ``nn.Conv2d``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..fastconv import PhaseDilatedConv2d
from .binary import binarize

__all__ = ["BinaryConv2d", "binarize_convs", "sign_ste", "layer_bits"]


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """``sign(x)`` in {-1, +1} (``sign(0) = +1``) with the clipped straight-through gradient."""
    return _SignSTE.apply(x)


class BinaryConv2d(PhaseDilatedConv2d):
    """A conv with per-output-channel binary weights (and binary inputs when ``binary_input``)."""

    def __init__(self, *args, binary_input: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary_input = binary_input

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits) for the BitOps counter."""
        return 1, 1 if self.binary_input else 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = sign_ste(x) if self.binary_input else x
        return self._conv_forward(x, binarize(self.weight, axis=0), self.bias)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, binary_input: bool = False) -> "BinaryConv2d":
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                  conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode,
                  binary_input=binary_input, device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(conv.weight)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        return new


def binarize_convs(module: nn.Module, binary_input: bool = False) -> nn.Module:
    """``module`` with every ``nn.Conv2d`` (at any depth) replaced by a :class:`BinaryConv2d`."""
    if isinstance(module, nn.Conv2d) and not isinstance(module, BinaryConv2d):
        return BinaryConv2d.from_conv(module, binary_input)
    for name, child in module.named_children():
        setattr(module, name, binarize_convs(child, binary_input))
    return module


def layer_bits(name: str, module: nn.Module) -> tuple[int, int]:
    """``(weight bits, activation bits)`` of a counted layer for :func:`qsrbench.bitops.layer_costs`:
    a :class:`BinaryConv2d`'s own, 32/32 for any other layer."""
    return module.bits if isinstance(module, BinaryConv2d) else (32, 32)
