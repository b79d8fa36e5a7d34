"""int8 convolution on integer arithmetic: im2col + ``torch._int_mm`` (int8 x int8 → int32).

Activations are asymmetric 8-bit codes ``q_x`` in [0, 255] with zero point ``z_x``; weights are
symmetric int8 codes (zero point 0). ``torch._int_mm`` multiplies int8 matrices, so the codes are
shifted into int8 as ``q_x - 128`` and the shift is undone per output channel:

    Σ (q_x - z_x) · q_w = Σ (q_x - 128) · q_w + (128 - z_x) · Σ q_w

where both sums run over all K = cin/groups · kh · kw taps. Zero padding of the real input is
padding of the codes with ``z_x`` (so that ``q_x - z_x = 0`` there), done before im2col, which
makes every tap of every output count in the correction term. The codes are laid out channels
last (NHWC) before im2col, so that each tap's input channels are one contiguous run: the im2col
copy, not the int8 matrix product, is what costs on a CPU (4.7x faster than an NCHW im2col on a
1x64x180x320 3x3 conv here). The result is returned as an NCHW-shaped view of channels-last
memory. The accumulator is int32; it cannot overflow for ``K · 255 · 127 < 2^31``, i.e.
K < 66,000 (checked). Groups run as one matrix product each. The result is bit-identical to :func:`qsrbench.kernels.reference.int_conv2d`
(tested); it is the integer kernel the integer models use on a CPU.

:func:`int8_conv_transpose2d` runs a transposed convolution on the same kernel, as the convolution
it is: the input codes spread ``stride`` apart with the zero point between them (so that
``q_x - z_x = 0`` there, as the float model's inserted zeros), padded by ``dilation·(k-1) - padding``
(plus ``output_padding`` at the bottom and right; cropped where that is negative) with the zero
point, and convolved at stride 1 with the kernel flipped in space and its in/out channels swapped
within each group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["int8_conv2d", "int8_conv_transpose2d", "INT32_MAX"]

INT32_MAX = 2 ** 31 - 1


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def int8_conv2d(q_x: torch.Tensor, z_x: int, q_w: torch.Tensor, stride=1, padding=0, dilation=1,
                groups: int = 1) -> torch.Tensor:
    """int32 accumulator ``Σ (q_x - z_x) · q_w`` of shape (N, cout, H', W'); ``q_x``: uint8 (or
    any integer dtype holding 0..255) codes (N, cin, H, W); ``q_w``: int8 codes (cout, cin/groups,
    kh, kw)."""
    n, cin, h, w = q_x.shape
    cout, cg, kh, kw = q_w.shape
    if not 0 <= int(z_x) <= 255:
        raise ValueError(f"activation zero point must be in [0, 255], got {z_x}")
    k = cg * kh * kw
    if k * 255 * 127 > INT32_MAX:
        raise ValueError(f"reduction length {k} can overflow the int32 accumulator")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    # channels-last int8 codes shifted by -128, padded with the shifted zero point
    x8 = (q_x.permute(0, 2, 3, 1).to(torch.int16) - 128).to(torch.int8)
    if ph or pw:
        x8 = F.pad(x8, (0, 0, pw, pw, ph, ph), value=int(z_x) - 128)
    x8 = x8.contiguous()
    hp, wp = x8.shape[1:3]
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    # im2col by a strided view (N, Ho, Wo, kh, kw, cin): each tap's channels stay contiguous
    s0, s1, s2, s3 = x8.stride()
    cols = x8.as_strided((n, ho, wo, kh, kw, cin), (s0, sh * s1, sw * s2, dh * s1, dw * s2, s3))
    w8 = q_w.to(torch.int8).permute(0, 2, 3, 1)  # (cout, kh, kw, cin/groups): the taps' order
    per_group = cout // groups
    outs = []
    for g in range(groups):
        a = (cols if groups == 1 else cols[..., g * cg:(g + 1) * cg]).reshape(n * ho * wo, k)
        b = w8[g * per_group:(g + 1) * per_group].reshape(per_group, k).t()
        outs.append(_int_mm(a.contiguous(), b.contiguous()))
    acc = torch.cat(outs, dim=1) if groups > 1 else outs[0]
    acc += (128 - int(z_x)) * w8.to(torch.int32).reshape(cout, k).sum(1, dtype=torch.int32)
    return acc.reshape(n, ho, wo, cout).permute(0, 3, 1, 2)


def _int_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """int8 (m, k) @ int8 (k, n) → int32, padding m to the op's minimum of 17 rows if needed."""
    m = a.shape[0]
    if m <= 16:
        a = torch.cat([a, a.new_zeros(17 - m, a.shape[1])])
    return torch._int_mm(a, b)[:m]


def int8_conv_transpose2d(q_x: torch.Tensor, z_x: int, q_w: torch.Tensor, stride=1, padding=0,
                          output_padding=0, groups: int = 1, dilation=1) -> torch.Tensor:
    """int32 accumulator of a transposed convolution (see the module docstring); ``q_w``: int8
    codes in ``ConvTranspose2d`` layout ``(cin, cout/groups, kh, kw)``."""
    n, cin, h, w = q_x.shape
    _, cg_out, kh, kw = q_w.shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    spread = q_x.new_full((n, cin, (h - 1) * sh + 1, (w - 1) * sw + 1), int(z_x))
    spread[:, :, ::sh, ::sw] = q_x
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    bottom, right = top + oh, left + ow
    spread = F.pad(spread, (max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)), value=int(z_x))
    spread = spread[:, :, max(-top, 0):spread.shape[2] - max(-bottom, 0), max(-left, 0):spread.shape[3] - max(-right, 0)]
    cg_in = cin // groups
    w_conv = (q_w.reshape(groups, cg_in, cg_out, kh, kw).transpose(1, 2)
              .reshape(groups * cg_out, cg_in, kh, kw).flip(2, 3))
    return int8_conv2d(spread, z_x, w_conv, 1, 0, (dh, dw), groups)
