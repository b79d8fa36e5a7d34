"""Uniform (affine and symmetric) fake quantization with an explicit integer representation.

Conventions (those of ``torch.fake_quantize_per_*_affine``):

* ``to_int(x) = clamp(round(x * inv_scale) + zero_point, qmin, qmax)`` with
  ``inv_scale = 1 / scale`` rounded to float32 first and ``round`` = round-half-to-even
  (``torch.round``, C's ``nearbyint``): exactly ATen's CPU kernels of
  ``torch.fake_quantize_per_tensor_affine`` / ``..._per_channel_affine``, which multiply by the
  float32 reciprocal rather than divide (the two differ by one step at some exact ties);
  ``from_int(q) = (q - zero_point) * scale``;
  ``fake_quant(x)`` *is* ``from_int(to_int(x))``, so the two agree bit for bit;
* symmetric: signed, narrow range ``[-(2^(b-1) - 1), 2^(b-1) - 1]``, zero point 0, so the grid is
  symmetric and zero is exact (needs b >= 2; 1 bit is :mod:`qsrbench.quant.binary`);
  affine: unsigned ``[0, 2^b - 1]``, the range is first widened to contain 0 so that zero is
  exactly representable (needed for zero padding);
* per-tensor (``axis=None``) or per-channel (``axis``: the channel dimension, 0 for conv weights);
* gradient (straight-through estimator): 1 where ``qmin <= x/scale + zero_point <= qmax`` (the
  clip range ``[(qmin - zp)·scale, (qmax - zp)·scale]``, before rounding, as LSQ), 0 outside;
  PyTorch's own fake_quantize masks after rounding, which leaks gradient half a step beyond.

Reference: Jacob et al., "Quantization and training of neural networks for efficient
integer-arithmetic-only inference", CVPR 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["QParams", "check_bits", "qparams_from_range", "to_int", "from_int", "fake_quant"]

EPS = 1e-12


def check_bits(bits: object, name: str = "bits", low: int = 1) -> int:
    """``bits`` as an int in [low, 32], or a ValueError naming the argument."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= 32:
        raise ValueError(f"{name} must be an integer from {low} to 32, got {bits!r}")
    return bits


@dataclass(frozen=True)
class QParams:
    """Scale and zero point (tensors broadcastable along ``axis``) and the integer range."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: int
    qmin: int
    qmax: int
    axis: int | None = None

    def view(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``t`` shaped to broadcast against ``x`` along ``axis``."""
        if self.axis is None:
            return t
        shape = [1] * x.dim()
        shape[self.axis] = -1
        return t.reshape(shape)


def qparams_from_range(lo: torch.Tensor, hi: torch.Tensor, bits: int, *, symmetric: bool = True,
                       axis: int | None = None) -> QParams:
    """Quantization parameters covering ``[lo, hi]`` (tensors: per channel if ``axis`` is set)."""
    check_bits(bits, low=2 if symmetric else 1)
    lo, hi = torch.as_tensor(lo, dtype=torch.float32), torch.as_tensor(hi, dtype=torch.float32)
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        bound = torch.maximum(lo.abs(), hi.abs())
        scale = torch.clamp(bound / qmax, min=EPS)
        return QParams(scale, torch.zeros_like(scale, dtype=torch.int64), bits, -qmax, qmax, axis)
    qmin, qmax = 0, 2**bits - 1
    lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
    scale = torch.clamp((hi - lo) / (qmax - qmin), min=EPS)
    zp = torch.clamp(torch.round(qmin - lo / scale), qmin, qmax).to(torch.int64)
    return QParams(scale, zp, bits, qmin, qmax, axis)


def _scaled(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``x * (1 / scale)`` with the reciprocal taken in float32, as ATen's fake-quant kernels."""
    inv = torch.reciprocal(qp.scale.to(torch.float32))
    return x * qp.view(inv, x)


def _unclamped(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    return torch.round(_scaled(x, qp)) + qp.view(qp.zero_point, x)


def to_int(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Integer codes (int64) in ``[qmin, qmax]``."""
    return torch.clamp(_unclamped(x, qp), qp.qmin, qp.qmax).to(torch.int64)


def from_int(q: torch.Tensor, qp: QParams) -> torch.Tensor:
    """Real values ``(q - zero_point) * scale`` (float32)."""
    zp, scale = qp.view(qp.zero_point, q), qp.view(qp.scale, q)
    return (q - zp).to(torch.float32) * scale


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, qp: QParams):
        code = _scaled(x, qp) + qp.view(qp.zero_point, x)  # before rounding
        ctx.save_for_backward((code >= qp.qmin) & (code <= qp.qmax))
        return from_int(to_int(x, qp), qp).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None


def fake_quant(x: torch.Tensor, qp: QParams) -> torch.Tensor:
    """``from_int(to_int(x))`` with a straight-through gradient inside the range."""
    return _FakeQuant.apply(x, qp)
