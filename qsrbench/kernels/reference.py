"""The integer reference every low-bit kernel is checked against: plain torch ops, exact.

Conventions (those of :mod:`qsrbench.quant.uniform`): a quantized tensor is integer codes ``q``
with ``real = (q - zero_point) · scale``; weights are symmetric (zero point 0), per output
channel or per tensor; activations may be asymmetric (per tensor).

* :func:`int_conv2d`: the int32 accumulator ``acc[n, c, y, x] = Σ (q_x - z_x) · q_w`` of a
  convolution. Computed as a float64 convolution of the integer values, which is exact: every
  product and partial sum is an integer of magnitude at most ``K · 2^(a+w)`` (K = the reduction
  length ``cin/groups · kh · kw``; a, w the bits), below 2^53 for every shape this project
  meets (K < 2^37 at 8 bits), and float64 represents every integer up to 2^53 exactly, so no
  rounding happens in any order of summation. The function checks that bound. Zero padding pads
  ``q_x - z_x`` with 0, i.e. the input with its zero point: what the fake-quant model's float zero
  padding means.
* :func:`int_conv_transpose2d`: the same for a transposed convolution (``ConvTranspose2d``).
* :func:`binary_conv2d`: the same for ±1 activations and ±1 weights (the 1-bit kernels' target):
  ``Σ sign(x) · sign(w)`` over the taps that fall inside the image (padding contributes 0).
* :func:`requantize`: the epilogue a fused kernel applies to the accumulator: ``y = acc · s_x ·
  s_w[c] + bias[c]``, an activation (ReLU, LeakyReLU with a slope, PReLU with per-channel slopes),
  an optional residual added, then the next layer's codes ``clamp(round(y / s_out) + z_out)``
  (round half to even), all in float64 here; :func:`dequantize` is the real value of codes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["int_conv2d", "int_conv_transpose2d", "binary_conv2d", "requantize", "dequantize", "EXACT_LIMIT"]

EXACT_LIMIT = 2 ** 53  # every integer below this is a float64 exactly


def _check_int(t: torch.Tensor, name: str) -> None:
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {t.dtype}")


def int_conv2d(q_x: torch.Tensor, q_w: torch.Tensor, z_x: int = 0, stride=1, padding=0,
               dilation=1, groups: int = 1) -> torch.Tensor:
    """int32-range accumulator (returned as ``int64``) of the integer convolution; see the module
    docstring for why float64 is exact here and what the padding means."""
    _check_int(q_x, "q_x")
    _check_int(q_w, "q_w")
    x = q_x.to(torch.float64) - float(z_x)
    w = q_w.to(torch.float64)
    k = q_w.shape[1] * q_w.shape[2] * q_w.shape[3]
    bound = k * float(x.abs().max() if x.numel() else 0) * float(w.abs().max() if w.numel() else 0)
    if bound >= EXACT_LIMIT:
        raise ValueError(f"accumulator bound {bound:.3g} is not below 2^53: float64 would round")
    acc = F.conv2d(x, w, None, stride, padding, dilation, groups)
    return acc.round().to(torch.int64)


def int_conv_transpose2d(q_x: torch.Tensor, q_w: torch.Tensor, z_x: int = 0, stride=1, padding=0,
                         output_padding=0, groups: int = 1, dilation=1) -> torch.Tensor:
    """int32-range accumulator (``int64``) of the integer *transposed* convolution, ``q_w`` in
    ``ConvTranspose2d`` layout ``(cin, cout/groups, kh, kw)``: a float64 transposed convolution of
    ``q_x - z_x`` and ``q_w``, exact for the reason :func:`int_conv2d` is (each output is a sum of
    at most ``cin/groups · kh · kw`` integer products)."""
    _check_int(q_x, "q_x")
    _check_int(q_w, "q_w")
    x = q_x.to(torch.float64) - float(z_x)
    w = q_w.to(torch.float64)
    k = q_w.shape[0] // groups * q_w.shape[2] * q_w.shape[3]
    bound = k * float(x.abs().max() if x.numel() else 0) * float(w.abs().max() if w.numel() else 0)
    if bound >= EXACT_LIMIT:
        raise ValueError(f"accumulator bound {bound:.3g} is not below 2^53: float64 would round")
    acc = F.conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation)
    return acc.round().to(torch.int64)


def binary_conv2d(sign_x: torch.Tensor, sign_w: torch.Tensor, stride=1, padding=0, dilation=1,
                  groups: int = 1) -> torch.Tensor:
    """Accumulator of ±1 activations with ±1 weights (``int64``); padded taps contribute 0."""
    for t, name in ((sign_x, "sign_x"), (sign_w, "sign_w")):
        if t.numel() and not bool(((t == 1) | (t == -1)).all()):
            raise ValueError(f"{name} must hold only -1 and +1")
    return int_conv2d(sign_x.to(torch.int8), sign_w.to(torch.int8), 0, stride, padding, dilation, groups)


def _per_channel(v, acc: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=torch.float64)
    return t.reshape(1, -1, *([1] * (acc.dim() - 2))) if t.dim() == 1 else t


def requantize(acc: torch.Tensor, s_x: float, s_w, s_out: float, z_out: int, qmin: int, qmax: int, *,
               bias=None, act: str | None = None, slope=0.01, residual: torch.Tensor | None = None) -> torch.Tensor:
    """Next-layer codes (``int64``) from an accumulator; ``s_w``, ``bias`` and PReLU ``slope``
    may be per output channel (1-D) or scalars; ``residual`` is a real-valued tensor added after
    the activation. ``act``: None, ``"relu"``, ``"leaky_relu"`` or ``"prelu"``."""
    _check_int(acc, "acc")
    y = acc.to(torch.float64) * float(s_x) * _per_channel(s_w, acc)
    if bias is not None:
        y = y + _per_channel(bias, acc)
    if act == "relu":
        y = y.clamp_min(0.0)
    elif act in ("leaky_relu", "prelu"):
        y = torch.where(y >= 0, y, y * _per_channel(slope, acc))
    elif act is not None:
        raise ValueError(f"unknown activation {act!r} (None, 'relu', 'leaky_relu', 'prelu')")
    if residual is not None:
        y = y + residual.to(torch.float64)
    if not (s_out > 0 and math.isfinite(s_out)):
        raise ValueError(f"output scale must be positive and finite, got {s_out}")
    return torch.clamp(torch.round(y / s_out) + int(z_out), qmin, qmax).to(torch.int64)


def dequantize(q: torch.Tensor, scale, zero_point=0) -> torch.Tensor:
    """Real values ``(q - zero_point) · scale`` (float64; per-channel arguments along dim 1)."""
    return (q.to(torch.float64) - _per_channel(zero_point, q)) * _per_channel(scale, q)
