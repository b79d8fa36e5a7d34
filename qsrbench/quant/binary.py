"""Binarization and quantization noise.

* ``binarize(w, axis=0)``: ``α · sign(w)`` with a per-channel scale ``α = mean|w|`` over every
  axis but ``axis`` (XNOR-Net, Rastegari et al., ECCV 2016); ``sign(0) = +1`` so the output takes
  exactly two values per channel. Gradient: ``ste="identity"`` passes it unchanged;
  ``ste="clipped"`` multiplies it by ``1{|w| <= 1}`` (Hubara et al., "Binarized Neural
  Networks", NeurIPS 2016). The scale is treated as a constant in the backward pass.
* ``quant_noise(x, step)``: ``x + u``, ``u ~ U(-step/2, step/2)`` i.i.d., a differentiable proxy of
  rounding to a grid of that step (mean 0, variance step²/12), identity gradient; used by
  QuantNAS (Shvetsov et al., arXiv 2208.14839) after Défossez et al., "Differentiable model
  compression via pseudo quantization noise", TMLR 2022.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["binarize", "binary_scale", "quant_noise"]


def binary_scale(w: torch.Tensor, axis: int | None = 0) -> torch.Tensor:
    """``mean|w|`` over all axes but ``axis`` (shape broadcastable to ``w``); a scalar if None."""
    if axis is None:
        return w.detach().abs().mean()
    dims = [d for d in range(w.dim()) if d != axis % w.dim()]
    if not dims:  # a 1-D tensor along its only axis: every element is its own channel
        return w.detach().abs()
    return w.detach().abs().mean(dim=dims, keepdim=True)


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, clipped):
        ctx.save_for_backward(w)
        ctx.clipped = clipped
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return (grad * (w.abs() <= 1) if ctx.clipped else grad), None


def binarize(w: torch.Tensor, axis: int | None = 0, ste: Literal["identity", "clipped"] = "clipped") -> torch.Tensor:
    """``mean|w| · sign(w)`` per channel along ``axis`` (see the module docstring)."""
    if ste not in ("identity", "clipped"):
        raise ValueError(f"ste must be 'identity' or 'clipped', got {ste!r}")
    return binary_scale(w, axis) * _Sign.apply(w, ste == "clipped")


def quant_noise(x: torch.Tensor, step: torch.Tensor | float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` plus uniform noise of width ``step`` (identity gradient with respect to ``x``)."""
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) - 0.5
    return x + u * step
