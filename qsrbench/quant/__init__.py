"""Quantization core: quantizers (plain functions and modules), calibration, invariants, and
conversion of FP models into fake-quant models from a per-layer config."""

from .binary import binarize, binary_scale, quant_noise
from .calibration import CALIBRATIONS, minmax_range, mse_range, percentile_range
from .config import LayerBits, QuantConfig, TensorQuant, resolve_plan
from .learned import dorefa_weight, lsq_init_step, lsq_quant, pact, pams_quant
from .uniform import QParams, check_bits, fake_quant, from_int, qparams_from_range, to_int

__all__ = ["binarize", "binary_scale", "quant_noise", "CALIBRATIONS", "minmax_range", "mse_range",
           "percentile_range", "LayerBits", "QuantConfig", "TensorQuant", "resolve_plan",
           "dorefa_weight", "lsq_init_step", "lsq_quant", "pact", "pams_quant", "QParams",
           "check_bits", "fake_quant", "from_int", "qparams_from_range", "to_int"]
