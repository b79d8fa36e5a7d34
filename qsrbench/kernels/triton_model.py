"""Whole integer models on the Triton kernels: the integer convolutions of an integerized model
(:func:`~qsrbench.kernels.integer_model.integerize`, optionally joined on codes by
:func:`~qsrbench.kernels.code_chain.chain_codes`) accumulating on
:func:`~qsrbench.kernels.triton_conv.conv2d_int` instead of ``torch._int_mm``.

:func:`on_triton` turns, in place, every plain :class:`~qsrbench.kernels.integer_model.IntegerConv2d`
of a model (inside a :class:`~qsrbench.kernels.code_chain.ChainedConv` too) into a
:class:`TritonConv2d`: the same layer (codes, scales, bias, rescale and any epilogue unchanged)
whose int32 accumulator comes from the Triton implicit GEMM on NHWC codes, with its weights packed
once by :func:`~qsrbench.kernels.triton_conv.pack_weight` (int8, or int4 two per byte along K for
weights of 4 bits or fewer, unpacked in registers). Both accumulators are exact int32 sums of the
same codes, so the Triton model's output equals the torch one's bit for bit (tested); transposed
convolutions and linear layers stay on torch. On CUDA tensors the kernels compile; on CPU tensors
they run in Triton's interpreter (the tests' tiny inputs), which is far too slow for real images.

This is the whole-model path of issue 16's GPU goal (IMDN x4 int8 at least 1.5x faster than bf16),
timed by ``suites/test_triton_speed.py`` on a GPU machine (``.ci/gpu-check``).
"""

from __future__ import annotations

import torch
from torch import nn

from .integer_model import PACKED_BITS, IntegerConv2d
from .triton_conv import PackedWeight, conv2d_int, pack_weight, triton_unavailable

__all__ = ["TritonConv2d", "on_triton"]


class TritonConv2d(IntegerConv2d):
    """An :class:`IntegerConv2d` accumulating on the Triton kernel (made by :func:`on_triton`)."""

    packed: PackedWeight

    def accumulate(self, q: torch.Tensor) -> torch.Tensor:
        """The int32 accumulator (NCHW-shaped view of NHWC memory) of the input codes ``q``."""
        if self.packed.data.device != q.device:
            self.packed = self.packed.to(q.device)
        acc = conv2d_int(q.permute(0, 2, 3, 1), self.input_zero, self.packed, self.stride, self.padding,
                         self.dilation)
        return acc.permute(0, 3, 1, 2)


def on_triton(model: nn.Module) -> nn.Module:
    """``model`` with every plain integer conv accumulating on Triton, in place (see the module
    docstring); a one-line error where Triton is not installed. Returns ``model``."""
    why = triton_unavailable()
    if why:
        raise RuntimeError(why)
    for m in model.modules():
        if type(m) is IntegerConv2d:  # transposed convs and linear layers (subclasses) stay on torch
            bits = 4 if m.weight_bits <= PACKED_BITS else 8
            m.__class__ = TritonConv2d
            m.packed = pack_weight(m.weight_codes, m.groups, bits).to(m.weight_store.device)
    return model
