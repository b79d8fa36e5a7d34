"""Model size of a fake-quant model: the bits its parameters take when stored at their bit-widths.

Convention (that of the quantized-SR papers' "model size" / compression ratio): the weight of a
:class:`~qsrbench.quant.convert.QuantLayer` whose weight quantizer has ``bits`` counts ``bits``
per element; every other parameter (biases, FP layers, quantizer clips) counts 32 bits; buffers
are not counted. The compression ratio is the FP size (32 bits per parameter) over that size.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .convert import QuantLayer

__all__ = ["ModelSize", "model_size"]


@dataclass(frozen=True)
class ModelSize:
    parameters: int
    bits: int  # stored size, bits
    fp_bits: int  # the same parameters at 32 bits

    @property
    def ratio(self) -> float:
        return self.fp_bits / self.bits

    @property
    def mebibytes(self) -> float:
        return self.bits / 8 / 2**20


def model_size(model: nn.Module) -> ModelSize:
    """Stored size of ``model``'s parameters under the module docstring's convention."""
    quantized: dict[int, int] = {}
    for m in model.modules():
        bits = getattr(m.weight_q, "bits", None) if isinstance(m, QuantLayer) else None
        if bits is not None and bits < 32:
            quantized[id(m.layer.weight)] = int(bits)
    count = total = 0
    for p in model.parameters():
        count += p.numel()
        total += p.numel() * quantized.get(id(p), 32)
    return ModelSize(count, total, 32 * count)
