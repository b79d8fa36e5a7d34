"""Quantizers of quantization-aware architecture search: a quantization-noise proxy and the
half-wave Gaussian quantizer (HWGQ) of activations.

**Range noise** (:func:`range_noise`): a cheap stand-in for quantizing ``x`` to ``b`` bits,

    x̃ = sg( x + (max x − min x) / (2^b − 1) · n ),

with ``max``/``min`` over the whole tensor (a whole batch for activations), ``n ~ N(0, 1) / 2``
(``"gaussian"``, variance 1/4) or ``n ~ U[−1/2, 1/2]`` (``"uniform"``, variance 1/12, the
rounding error of a uniform quantizer), and ``sg`` the stop-gradient: the whole noisy tensor is
detached, so no gradient reaches ``x`` (or a weight) through it; a search mixes it with ``x``
itself so that one path keeps the gradient. The added noise has variance
``((max − min) / (2^b − 1))² · Var(n)``.

**HWGQ** (:func:`hwgq`): ``ReLU`` then a uniform grid of ``2^b`` levels ``0, Δ_b, …, (2^b − 1) Δ_b``
with the fixed steps Δ_b the half-wave Gaussian quantizer uses for unit-variance inputs
(:data:`HWGQ_STEPS`), straight-through gradient inside ``[0, (2^b − 1) Δ_b]`` and zero outside.

References: Shvetsov et al., "QuantNAS: Quantization-aware Neural Architecture Search for
Efficient Deployment on Mobile Device", IEEE Access 2024 (arXiv 2208.14839) — the noise proxy as
the authors' code draws it (diff7/QuanToaster @ b723e76, ``sr_models/quant_conv_lsq.py``,
``quant_noise``; the HWGQ steps from the same file); Cai, He, Sun, Vasconcelos, "Deep Learning
with Low Precision by Half-wave Gaussian Quantization", CVPR 2017. Written from the formulas; no
code copied.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import QsrbenchError
from .uniform import check_bits

__all__ = ["NOISE_VARIANCE", "HWGQ_STEPS", "range_noise", "hwgq", "HWGQQuantizer"]

Distribution = Literal["gaussian", "uniform"]
NOISE_VARIANCE: dict[str, float] = {"gaussian": 0.25, "uniform": 1 / 12}  # Var(n) per distribution
HWGQ_STEPS: dict[int, float] = {2: 0.6356, 4: 0.2131, 8: 0.0203}  # Δ_b for unit-variance inputs


def range_noise(x: torch.Tensor, bits: int, distribution: Distribution = "gaussian",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``sg(x + (max − min) / (2^bits − 1) · n)`` (module docstring); detached."""
    check_bits(bits)
    if distribution not in NOISE_VARIANCE:
        raise QsrbenchError(f"unknown noise distribution {distribution!r} (known: gaussian, uniform)")
    with torch.no_grad():
        unit = (x.max() - x.min()) / (2**bits - 1)
        if distribution == "gaussian":
            n = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) / 2
        else:
            n = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) - 0.5
        return x + unit * n


def hwgq_step(bits: int) -> float:
    """Δ_b of :data:`HWGQ_STEPS`; other bit-widths are a one-line error."""
    if bits not in HWGQ_STEPS:
        raise QsrbenchError(f"HWGQ has no step for {bits} bits (it supports {sorted(HWGQ_STEPS)})")
    return HWGQ_STEPS[bits]


class _HWGQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, top):
        inside = (x > 0) & (x < top)
        ctx.save_for_backward(inside)
        return torch.round(torch.clamp(x, 0.0, top) / step) * step

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


def hwgq(x: torch.Tensor, bits: int) -> torch.Tensor:
    """ReLU and the ``bits``-bit half-wave grid of step Δ_b (straight-through inside the grid)."""
    step = hwgq_step(bits)
    return _HWGQ.apply(x, step, step * (2**bits - 1))


class HWGQQuantizer(nn.Module):
    """:func:`hwgq` as a module (``bits`` for the cost counters)."""

    def __init__(self, bits: int):
        super().__init__()
        hwgq_step(bits)
        self.bits = bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hwgq(x, self.bits)
