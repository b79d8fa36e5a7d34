"""Dilated convolution by polyphase decomposition (space-to-batch), for CPU training speed.

A "same"-padded k x k convolution with dilation d (odd k, padding d·(k-1)/2) only ever combines
input pixels of one polyphase component: output row ``i = d·a + r`` reads input rows
``d·(a + j - (k-1)/2) + r`` (j = 0..k-1), all in phase ``r``. So the dilated convolution equals
an ordinary (dilation 1, padding (k-1)/2) convolution applied to each of the d x d phases, the
phases stacked along the batch dimension and interleaved back afterwards. With stride d only
phase (0, 0) is read at all: the strided dilated convolution is the ordinary convolution of
``x[..., ::d, ::d]``. This is the "atrous convolution via space-to-batch" identity (Chen et al.,
DeepLab, TPAMI 2018, Sec. 3.1; TensorFlow's ``SpaceToBatchND``).

Why: oneDNN's CPU backward of dilated depthwise convolutions (the ``dil_conv`` operations of the
NAS cell space) is several times slower than that of the same convolution without dilation
(e.g. 12.8 ms against 1.3 ms, 128x16x16x16, 5x5, stride 2, on this 2-core EPYC), and those
operations took up to half the training step of small cell networks. The result is the same sum of the same products; float
results may differ in the last bits (summation order), gradients too. Multiply-accumulate counts
are unchanged (the flop counter sees ordinary convolutions over the same output pixels).

Falls back to :func:`torch.nn.functional.conv2d` whenever the identity does not apply (dilation
1, other padding, even kernels, other strides, a side not divisible by d, non-zero padding modes)
and, for stride 1, where it does not pay: the strided form (which skips computing discarded
outputs) is always taken; the stride-1 form only on a CPU and only when each phase has at most
:data:`MAX_PHASE_PIXELS` pixels: on this 2-core EPYC (``suites/test_dilated_conv_speed.py``) it
was 1.5-4x faster with 4x4 and 2x2 phases and 0-35 % slower with 8x8 ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["dilated_conv2d", "PhaseDilatedConv2d", "phase_decomposable", "takes_phase_path",
           "MAX_PHASE_PIXELS"]

MAX_PHASE_PIXELS = 16  # stride 1: decompose only when each of the d x d phases is this small


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def phase_decomposable(x_shape, weight_shape, stride, padding, dilation) -> bool:
    """Whether :func:`dilated_conv2d` takes the polyphase path for these arguments."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = weight_shape[-2:]
    if dh != dw or dh == 1 or (sh, sw) not in ((1, 1), (dh, dh)) or kh % 2 == 0 or kw % 2 == 0:
        return False
    if (ph, pw) != (dh * (kh - 1) // 2, dw * (kw - 1) // 2):
        return False
    return (sh, sw) == (dh, dh) or (x_shape[-2] % dh == 0 and x_shape[-1] % dw == 0)


def takes_phase_path(x: torch.Tensor, weight_shape, stride, padding, dilation) -> bool:
    """Whether :func:`dilated_conv2d` decomposes for this input (see the module docstring)."""
    if x.dim() != 4 or not phase_decomposable(x.shape, weight_shape, stride, padding, dilation):
        return False
    d = _pair(dilation)[0]
    if _pair(stride)[0] == d:
        return True
    return x.device.type == "cpu" and (x.shape[-2] // d) * (x.shape[-1] // d) <= MAX_PHASE_PIXELS


def dilated_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                   stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups)`` (NCHW, any memory
    format), computed by polyphase decomposition where :func:`takes_phase_path` holds."""
    if not takes_phase_path(x, weight.shape, stride, padding, dilation):
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    d = _pair(dilation)[0]
    pad = ((weight.shape[-2] - 1) // 2, (weight.shape[-1] - 1) // 2)
    if _pair(stride)[0] == d:
        return F.conv2d(x[..., ::d, ::d], weight, bias, 1, pad, 1, groups)
    n, _, h, w = x.shape
    # NHWC views keep a channels_last input channels_last through both interleaving copies
    phases = (x.permute(0, 2, 3, 1).reshape(n, h // d, d, w // d, d, -1)
              .permute(2, 4, 0, 1, 3, 5).reshape(d * d * n, h // d, w // d, -1).permute(0, 3, 1, 2))
    y = F.conv2d(phases, weight, bias, 1, pad, 1, groups)
    y = (y.permute(0, 2, 3, 1).reshape(d, d, n, h // d, w // d, -1)
         .permute(2, 3, 0, 4, 1, 5).reshape(n, h, w, -1).permute(0, 3, 1, 2))
    return y if x.is_contiguous(memory_format=torch.channels_last) else y.contiguous()


class PhaseDilatedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state dict) whose forward uses :func:`dilated_conv2d`."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        if self.padding_mode != "zeros":
            return super()._conv_forward(x, weight, bias)
        return dilated_conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
