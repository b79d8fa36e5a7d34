"""Integer execution of quantized models: storage formats (:mod:`.packing`), the exact integer
reference every kernel is checked against (:mod:`.reference`), the CPU int8 convolution on
``torch._int_mm`` (:mod:`.int8_conv`), a calibrated fake-quant model's convolutions run on it
(:mod:`.integer_model`), and the bit-packed XNOR / popcount 1-bit convolution, a small C++
extension built on first use (:mod:`.xnor_cpu`, imported on demand: it needs a compiler)."""

from .int8_conv import int8_conv2d, int8_conv_transpose2d
from .integer_model import IntegerConv2d, IntegerConvTranspose2d, integer_layers, integerize
from .packing import binary_dot, pack_bits, pack_int4, popcount32, unpack_bits, unpack_int4
from .reference import EXACT_LIMIT, binary_conv2d, dequantize, int_conv2d, int_conv_transpose2d, requantize

__all__ = ["int8_conv2d", "int8_conv_transpose2d", "IntegerConv2d", "IntegerConvTranspose2d", "integer_layers",
           "integerize", "binary_dot", "pack_bits", "pack_int4", "popcount32", "unpack_bits", "unpack_int4",
           "EXACT_LIMIT", "binary_conv2d", "dequantize", "int_conv2d", "int_conv_transpose2d", "requantize"]
