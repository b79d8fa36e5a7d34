"""Integer execution of quantized models: storage formats (:mod:`.packing`), the exact integer
reference every kernel is checked against (:mod:`.reference`) and the CPU int8 convolution on
``torch._int_mm`` (:mod:`.int8_conv`)."""

from .int8_conv import int8_conv2d
from .packing import binary_dot, pack_bits, pack_int4, popcount32, unpack_bits, unpack_int4
from .reference import EXACT_LIMIT, binary_conv2d, dequantize, int_conv2d, requantize

__all__ = ["int8_conv2d", "binary_dot", "pack_bits", "pack_int4", "popcount32", "unpack_bits", "unpack_int4",
           "EXACT_LIMIT", "binary_conv2d", "dequantize", "int_conv2d", "requantize"]
