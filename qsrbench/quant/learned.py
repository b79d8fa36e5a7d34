"""Quantizers with learned parameters: LSQ (step), PACT (clip), PAMS (max scale α), DoReFa weights.

All round half to even (``torch.round``) and use straight-through estimators for the rounding.

* LSQ — Esser et al., "Learned Step Size Quantization", ICLR 2020 (arXiv 1902.08153):
  ``x̂ = round(clamp(x / s, Qn, Qp)) · s``; ``∂x̂/∂x = 1`` for ``Qn < x/s < Qp`` else 0;
  ``∂x̂/∂s = round(x/s) - x/s`` inside, ``Qn`` below, ``Qp`` above; the step gradient is scaled
  by ``g = 1 / sqrt(N · Qp)`` (N = number of elements) when ``grad_scale`` is set.
  Signed: ``Qn = -2^(b-1)``, ``Qp = 2^(b-1) - 1``; unsigned: ``[0, 2^b - 1]``.
* PACT — Choi et al., arXiv 1805.06085: ``y = clamp(x, 0, α)``,
  ``ŷ = round(y · (2^b - 1) / α) · α / (2^b - 1)``; ``∂ŷ/∂x = 1`` on ``[0, α)`` else 0;
  ``∂ŷ/∂α = 1`` for ``x >= α`` else 0 (the paper's STE form, Eq. 3).
* PAMS — Li et al., "PAMS: Quantized Super-Resolution via Parameterized Max Scale", ECCV 2020
  (arXiv 2011.04212): symmetric clip to ``[-α, α]``, ``2^(b-1) - 1`` levels per side,
  ``x̂ = round(clamp(x, -α, α) / s) · s`` with ``s = α / (2^(b-1) - 1)``; PACT-style STE:
  ``∂x̂/∂x = 1`` for ``|x| < α`` else 0, ``∂x̂/∂α = sign(x)`` for ``|x| >= α`` else 0.
* DoReFa weights — Zhou et al., arXiv 1606.06160: ``w' = tanh(w) / (2 max|tanh w|) + 1/2``,
  ``ŵ = 2 · round(w' (2^k - 1)) / (2^k - 1) - 1``; for k = 1, ``ŵ = mean|w| · sign(w)``.
"""

from __future__ import annotations

import math

import torch

from .uniform import check_bits

__all__ = ["lsq_quant", "pact", "pams_quant", "dorefa_weight", "lsq_init_step"]


def _lsq_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


class _LSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, qn, qp, g):
        v = x / step
        inside = (v > qn) & (v < qp)
        vbar = torch.round(torch.clamp(v, qn, qp))
        ctx.save_for_backward(v, vbar, inside)
        ctx.qn, ctx.qp, ctx.g = qn, qp, g
        return vbar * step

    @staticmethod
    def backward(ctx, grad):
        v, vbar, inside = ctx.saved_tensors
        dstep = torch.where(inside, vbar - v, torch.where(v <= ctx.qn, float(ctx.qn), float(ctx.qp)))
        gstep = (grad * dstep).sum() * ctx.g
        return grad * inside, gstep.reshape(()), None, None, None


def lsq_quant(x: torch.Tensor, step: torch.Tensor, bits: int, *, signed: bool = True,
              grad_scale: bool = True) -> torch.Tensor:
    """LSQ fake quantization with a learnable scalar ``step`` (see the module docstring)."""
    check_bits(bits)
    qn, qp = _lsq_range(bits, signed)
    g = 1.0 / math.sqrt(x.numel() * qp) if grad_scale and qp > 0 else 1.0
    return _LSQ.apply(x, step.reshape(()), qn, qp, g)


def lsq_init_step(x: torch.Tensor, bits: int, signed: bool = True) -> torch.Tensor:
    """The paper's initial step ``2 · mean|x| / sqrt(Qp)``."""
    _, qp = _lsq_range(check_bits(bits), signed)
    return 2 * x.detach().abs().mean() / math.sqrt(qp)


class _ClipQuant(torch.autograd.Function):
    """Clip to [lo·α, α] and quantize with ``levels`` steps over [0, α] (PACT) or per side (PAMS)."""

    @staticmethod
    def forward(ctx, x, alpha, levels, symmetric):
        lo = -alpha if symmetric else torch.zeros_like(alpha)
        y = torch.minimum(torch.maximum(x, lo), alpha)
        s = alpha / levels
        ctx.save_for_backward(x, alpha)
        ctx.symmetric = symmetric
        return torch.round(y / s) * s

    @staticmethod
    def backward(ctx, grad):
        x, alpha = ctx.saved_tensors
        if ctx.symmetric:
            inside = x.abs() < alpha
            dalpha = torch.where(inside, torch.zeros_like(x), torch.sign(x))
        else:
            inside = (x >= 0) & (x < alpha)
            dalpha = (x >= alpha).to(x.dtype)
        return grad * inside, (grad * dalpha).sum().reshape(alpha.shape), None, None


def pact(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """PACT activation quantization to ``2^b`` levels on ``[0, α]``."""
    return _ClipQuant.apply(x, alpha, float(2 ** check_bits(bits) - 1), False)


def pams_quant(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """PAMS symmetric quantization on ``[-α, α]`` with ``2^(b-1) - 1`` levels per side."""
    return _ClipQuant.apply(x, alpha, float(2 ** (check_bits(bits, low=2) - 1) - 1), True)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def dorefa_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """DoReFa-Net weight quantization to ``2^k`` levels in [-1, 1] (k = 1: mean|w| · sign w)."""
    k = check_bits(bits)
    if k == 32:
        return w
    if k == 1:
        e = w.detach().abs().mean()
        return (torch.where(w >= 0, 1.0, -1.0) * e - w).detach() + w
    t = torch.tanh(w)
    wn = t / (2 * t.detach().abs().max().clamp_min(1e-12)) + 0.5
    n = 2**k - 1
    return 2 * _RoundSTE.apply(wn * n) / n - 1
