"""MATLAB-compatible bicubic ``imresize`` in torch.

Reproduces MATLAB's ``imresize(A, scale, 'bicubic')`` (Image Processing Toolbox), which made the
``LR_bicubic`` images of the EDSR/RCAN benchmark sets and the published bicubic PSNR table:

* cubic convolution kernel with a = -0.5 (Keys, IEEE TASSP 1981);
* for a downscale (scale < 1) the kernel is stretched by 1/scale (antialiasing), so its support is
  ``4 / scale`` input pixels and ``h(x) = scale * cubic(scale * x)``;
* output pixel ``x`` (1-based) maps to input coordinate ``u = x / scale + 0.5 * (1 - 1 / scale)``;
  weights of each output pixel are normalised to sum to one;
* out-of-range taps are mirrored symmetrically (``[1..n, n..1]`` repeated), taps whose weight is
  zero for every output pixel are dropped;
* the height (dim -2) is resized first, then the width, unless the width's scale is smaller;
* for uint8 images each one-dimensional pass is accumulated in float64 and rounded half away from
  zero and saturated to [0, 255] before the next pass, as MATLAB's class-preserving resize does.

Conventions: images are ``(..., H, W)`` tensors; uint8 in gives uint8 out, a floating tensor is
resized in float64 without rounding and returned in its own dtype.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

__all__ = ["imresize", "output_size", "cubic"]


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's output length ``ceil(scale * in_len)``.

    ``scale * in_len`` is first rounded to 10 decimals so that, e.g., ``(1/3) * 255`` (which is
    85.00000000000001 in float64) gives 85 as intended.
    """
    return int(math.ceil(round(scale * in_len, 10)))


@lru_cache(maxsize=256)
def _contributions(in_len: int, out_len: int, scale: float, antialias: bool):
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = kernel_width / scale

        def kernel(x: torch.Tensor) -> torch.Tensor:
            return scale * cubic(scale * x)
    else:
        kernel = cubic
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    idx = mirror[(idx.long() - 1) % (2 * in_len)]
    keep = (weights != 0).any(dim=0)
    return weights[:, keep].contiguous(), idx[:, keep].contiguous()


def _resize_last_dim(img: torch.Tensor, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    # Accumulate tap by tap, left to right (the order of MATLAB's own loop), in float64.
    weights, idx = _contributions(img.shape[-1], out_len, scale, antialias)
    weights, idx = weights.to(img.device), idx.to(img.device)
    acc = img.index_select(-1, idx[:, 0]) * weights[:, 0]
    for t in range(1, idx.shape[1]):
        acc += img.index_select(-1, idx[:, t]) * weights[:, t]
    return acc


def _round_uint8(x: torch.Tensor) -> torch.Tensor:
    # MATLAB casts double to uint8 by rounding half away from zero, then saturating.
    return torch.floor(x + 0.5).clamp_(0, 255)


def imresize(
    img: torch.Tensor,
    scale: float | tuple[float, float],
    *,
    antialias: bool = True,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Resize ``img`` (``(..., H, W)``) by ``scale`` exactly as MATLAB's bicubic ``imresize``.

    ``scale`` is a single factor or ``(scale_h, scale_w)``; a downscale by an integer factor ``s``
    is ``scale = 1 / s``. ``size`` overrides the output size (scale still sets the kernel).
    """
    if img.dim() < 2:
        raise ValueError(f"imresize needs a (..., H, W) tensor, got shape {tuple(img.shape)}")
    sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
    if sh <= 0 or sw <= 0:
        raise ValueError(f"imresize scale must be positive, got {scale}")
    is_uint8 = img.dtype == torch.uint8
    if not (is_uint8 or img.is_floating_point()):
        raise TypeError(f"imresize supports uint8 and floating tensors, got {img.dtype}")
    in_h, in_w = img.shape[-2:]
    out_h, out_w = size if size is not None else (output_size(in_h, sh), output_size(in_w, sw))
    x = img.to(torch.float64)
    order = ("h", "w") if sh <= sw else ("w", "h")
    for dim in order:
        if dim == "h":
            x = _resize_last_dim(x.transpose(-1, -2), out_h, sh, antialias).transpose(-1, -2)
        else:
            x = _resize_last_dim(x, out_w, sw, antialias)
        if is_uint8:
            x = _round_uint8(x)
    return x.to(torch.uint8) if is_uint8 else x.to(img.dtype)
