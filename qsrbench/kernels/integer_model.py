"""Run a calibrated fake-quant model's quantized convolutions on integers.

:func:`integerize` replaces every :class:`~qsrbench.quant.convert.QuantLayer` whose weight and
input quantizers are uniform (:class:`~qsrbench.quant.modules.UniformQuantizer`: symmetric
weights at <= 8 bits, per output channel or per tensor; a calibrated per-tensor input quantizer
at <= 8 bits) by an :class:`IntegerConv2d` (an :class:`IntegerConvTranspose2d` for a transposed
conv, an :class:`IntegerLinear` for a linear layer): the
input becomes the quantizer's own codes (:func:`qsrbench.quant.uniform.to_int`, so exactly the
fake-quant model's), the convolution runs
on :func:`~qsrbench.kernels.int8_conv.int8_conv2d` (int8 x int8 → int32), and the output is
``acc · s_x · s_w[c] + bias`` in float32. Everything between the quantized convolutions (the
declared FP layers, activations, additions, attention products, pixel shuffle) stays as the
model has it. Codes narrower than 8 bits run on the same int8 kernel (their values fit).

Weights of at most 4 bits are stored **packed two per byte** (:func:`~qsrbench.kernels.packing.pack_int4`
along each row of the weight's flattened taps, ``weight_store`` (rows, ceil(K/2)) uint8, rows = the weight
layout's first dimension: cout, or cin for a transposed conv) and unpacked to
int8 when a forward needs them (``weight_codes``); wider weights are stored as int8. torch has no
CPU int4 x int8 matrix product, so a 4-bit layer computes on the int8 kernel and the packing halves
what it holds, not what it costs (``weight_bytes`` counts the storage). A layer's forward is
:meth:`IntegerConv2d.codes` (input → uint8 codes), :meth:`IntegerConv2d.accumulate` (int32) and
:meth:`IntegerConv2d.rescale` (int32 → float32), the pieces :mod:`.code_chain` recombines.

Versus the fake-quant model, the only difference is where float32 rounding happens: the fake
model convolves dequantized values in float32 (rounding every partial sum), the integer layer
sums exactly and rounds once when scaling. So outputs agree to float32 precision per layer, and
after later quantizers to within one quantization step where a value sat on a rounding boundary
(tested per layer bit-exactly against :mod:`.reference`, per model within one step).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import QsrbenchError
from ..quant.convert import QuantLayer
from ..quant.modules import UniformQuantizer
from ..quant.uniform import QParams, qparams_from_range, to_int
from .int8_conv import int8_conv2d, int8_conv_transpose2d
from .packing import pack_int4, unpack_int4

__all__ = ["IntegerConv2d", "IntegerConvTranspose2d", "IntegerLinear", "integerize", "integer_layers", "weight_bytes"]

PACKED_BITS = 4  # weights of at most this many bits are stored two per byte


def _weight_codes(q: UniformQuantizer, w: torch.Tensor, cout: int) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 codes of ``w`` and the scale of each of the ``cout`` output channels (a transposed
    conv's per-channel axis 1 holds ``cout / groups`` scales, repeated per group)."""
    lo, hi = q._range(w.detach(), q.axis)
    qp = qparams_from_range(lo, hi, q.bits, symmetric=True, axis=q.axis)
    scale = qp.scale.reshape(-1) if q.axis is not None else qp.scale.reshape(1)
    return to_int(w.detach(), qp).to(torch.int8), scale.repeat(cout // scale.numel()).to(torch.float64)


def _supported(ql: QuantLayer) -> str | None:
    """Why ``ql`` cannot run on the int8 kernel, or None."""
    wq, aq, layer = ql.weight_q, ql.input_q, ql.layer
    if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        return f"{type(layer).__name__} (Conv2d, ConvTranspose2d and Linear run on integers)"
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and (
            layer.padding_mode != "zeros" or isinstance(layer.padding, str)):
        return "padding other than explicit zeros"
    channel_axis = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
    if not (isinstance(wq, UniformQuantizer) and wq.symmetric and wq.bits <= 8 and wq.axis in (None, channel_axis)):
        return "weights not uniform symmetric <= 8 bits"
    if not (isinstance(aq, UniformQuantizer) and aq.qparams is not None and aq.axis is None and aq.bits <= 8):
        return "input not a calibrated per-tensor uniform quantizer <= 8 bits"
    if aq.symmetric:
        return "symmetric activation codes (signed) are not handled by the uint8 path"
    return None


class IntegerConv2d(nn.Module):
    """A :class:`QuantLayer` conv executed on integers (see the module docstring)."""

    def __init__(self, ql: QuantLayer):
        super().__init__()
        why = _supported(ql)
        if why:
            raise QsrbenchError(f"cannot run this layer on integers: {why}")
        conv, aq = ql.layer, ql.input_q
        if isinstance(conv, nn.Linear):
            self.stride, self.padding, self.dilation, self.groups = 1, 0, 1, 1
        else:
            self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        cout = conv.out_channels if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) else conv.out_features
        codes, w_scale = _weight_codes(ql.weight_q, conv.weight, cout)
        self.weight_bits = int(ql.weight_q.bits)
        self.weight_shape = tuple(codes.shape)
        store = pack_int4(codes.reshape(codes.shape[0], -1)) if self.weight_bits <= PACKED_BITS else codes
        self.register_buffer("weight_store", store)
        self.register_buffer("weight_scale", w_scale)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.input_qparams: QParams = aq.qparams
        self.input_scale = float(aq.qparams.scale)
        self.input_zero = int(aq.qparams.zero_point)

    @property
    def weight_codes(self) -> torch.Tensor:
        """The int8 weight codes in the layer's weight layout (unpacked from ``weight_store``)."""
        if self.weight_bits > PACKED_BITS:
            return self.weight_store.reshape(self.weight_shape)
        return unpack_int4(self.weight_store, math.prod(self.weight_shape[1:])).reshape(self.weight_shape)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The input quantizer's uint8 codes of ``x`` (exactly the fake-quant model's)."""
        return to_int(x, self.input_qparams).to(torch.uint8)

    def accumulate(self, q: torch.Tensor) -> torch.Tensor:
        """The int32 accumulator of the input codes ``q``."""
        return int8_conv2d(q, self.input_zero, self.weight_codes, self.stride, self.padding,
                           self.dilation, self.groups)

    def rescale(self, acc: torch.Tensor) -> torch.Tensor:
        """float32 output ``acc · (s_x · s_w[c]) + bias[c]`` (one float32 rounding of the product)."""
        scale = (self.input_scale * self.weight_scale).to(torch.float32).reshape(1, -1, 1, 1)
        y = acc.to(torch.float32) * scale
        return y if self.bias is None else y + self.bias.reshape(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rescale(self.accumulate(self.codes(x)))


class IntegerConvTranspose2d(IntegerConv2d):
    """A :class:`QuantLayer` transposed conv executed on integers
    (:func:`~qsrbench.kernels.int8_conv.int8_conv_transpose2d`, then the same rescale)."""

    def __init__(self, ql: QuantLayer):
        super().__init__(ql)
        self.output_padding = ql.layer.output_padding

    def accumulate(self, q: torch.Tensor) -> torch.Tensor:
        return int8_conv_transpose2d(q, self.input_zero, self.weight_codes, self.stride, self.padding,
                                     self.output_padding, self.groups, self.dilation)


class IntegerLinear(IntegerConv2d):
    """A :class:`QuantLayer` linear layer executed on integers: the same kernel as a 1x1
    convolution of the rows (``(..., in)`` -> ``(M, in, 1, 1)``, back to ``(..., out)``)."""

    def __init__(self, ql: QuantLayer):
        super().__init__(ql)
        self.weight_shape = (*self.weight_shape, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        y = super().forward(x.reshape(-1, x.shape[-1], 1, 1))
        return y.reshape(*lead, y.shape[1])


def integer_layers(model: nn.Module) -> dict[str, str | None]:
    """``{QuantLayer name: None if it can run on integers, else why not}``."""
    return {n: _supported(m) for n, m in model.named_modules() if isinstance(m, QuantLayer)}


def weight_bytes(model: nn.Module) -> int:
    """Bytes the integer layers of ``model`` hold their weight codes in (packed or int8)."""
    return sum(m.weight_store.numel() * m.weight_store.element_size()
               for m in model.modules() if isinstance(m, IntegerConv2d))


def integerize(model: nn.Module, strict: bool = False) -> nn.Module:
    """``model`` (a calibrated fake-quant model) with every supported :class:`QuantLayer`
    replaced in place by an :class:`IntegerConv2d` or :class:`IntegerLinear`; unsupported ones stay fake-quant (an error
    naming them when ``strict``). Returns ``model``."""
    plan = integer_layers(model)
    bad = {n: why for n, why in plan.items() if why}
    if strict and bad:
        raise QsrbenchError("layers that cannot run on integers: "
                            + "; ".join(f"{n} ({why})" for n, why in sorted(bad.items())))
    for name, why in plan.items():
        if why:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        ql = parent.get_submodule(child)
        kind = (IntegerLinear if isinstance(ql.layer, nn.Linear) else
                IntegerConvTranspose2d if isinstance(ql.layer, nn.ConvTranspose2d) else IntegerConv2d)
        setattr(parent, child, kind(ql))
    return model
