"""The Triton kernel bodies of :mod:`qsrbench.kernels.triton_conv` (undecorated: that module
compiles them for CUDA or wraps them in Triton's interpreter for CPU tensors). Conventions,
layouts and the exactness argument are in its docstring. Imports triton: import this module only
where triton is installed."""

from __future__ import annotations

import triton.language as tl


def igemm_conv(x_ptr, w_ptr, wsum_ptr, out_ptr, ep_ptr, sw_ptr, bias_ptr, slope_ptr, res_ptr,
               M, H, W, CIN, HO, WO, COUT, CG, COG, K, KP, KW,
               SH, SW, PH, PW, DH, DW, z_x, z_out, qmin, qmax,
               W4: tl.constexpr, EPI: tl.constexpr, ACT: tl.constexpr, HAS_BIAS: tl.constexpr,
               HAS_RES: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    """One (BM pixels) x (BN channels of group ``program_id(2)``) output tile."""
    g = tl.program_id(2)
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    n_i = rm // (HO * WO)
    oh = (rm % (HO * WO)) // WO
    ow = rm % WO
    acc = tl.full((BM, BN), 0, tl.int32)
    for k0 in range(0, K, BK):
        rk = k0 + tl.arange(0, BK)
        ci = rk % CG
        tap = rk // CG
        ih = oh[:, None] * SH - PH + (tap // KW)[None, :] * DH
        iw = ow[:, None] * SW - PW + (tap % KW)[None, :] * DW
        inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W) & (rm[:, None] < M) & (rk[None, :] < K)
        x = tl.load(x_ptr + ((n_i[:, None] * H + ih) * W + iw) * CIN + g * CG + ci[None, :],
                    mask=inside, other=z_x)
        a = (x.to(tl.int32) - 128).to(tl.int8)
        wmask = (rk[:, None] < K) & (rn[None, :] < COG)
        if W4:
            byte = tl.load(w_ptr + (g * KP + rk[:, None] // 2) * COG + rn[None, :], mask=wmask, other=0)
            nib = (byte.to(tl.int32) >> ((rk[:, None] % 2) * 4)) & 0xF
            b = (nib - ((nib >> 3) << 4)).to(tl.int8)  # sign-extend the nibble
        else:
            b = tl.load(w_ptr + (g * K + rk[:, None]) * COG + rn[None, :], mask=wmask, other=0)
        acc += tl.dot(a, b, out_dtype=tl.int32)
    cmask = rn < COG
    co = g * COG + rn
    acc += (128 - z_x) * tl.load(wsum_ptr + co, mask=cmask, other=0)[None, :]
    off = rm[:, None] * COUT + co[None, :]
    omask = (rm[:, None] < M) & cmask[None, :]
    if EPI:
        y = acc.to(tl.float64) * tl.load(ep_ptr)
        y = y * tl.load(sw_ptr + co, mask=cmask, other=1.0)[None, :]
        if HAS_BIAS:
            y = y + tl.load(bias_ptr + co, mask=cmask, other=0.0)[None, :]
        if ACT == 1:
            y = tl.where(y < 0.0, 0.0, y)
        if ACT == 2:
            y = tl.where(y >= 0.0, y, y * tl.load(slope_ptr + co, mask=cmask, other=0.0)[None, :])
        if HAS_RES:
            y = y + tl.load(res_ptr + off, mask=omask, other=0.0)
        v = y / tl.load(ep_ptr + 1)
        r = tl.floor(v)
        d = v - r  # exact: v and floor(v) are within 1 of each other
        odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
        r = tl.where((d > 0.5) | ((d == 0.5) & odd), r + 1.0, r)  # round half to even
        q = tl.minimum(tl.maximum(r + z_out, qmin), qmax)
        tl.store(out_ptr + off, q.to(tl.int32), mask=omask)
    else:
        tl.store(out_ptr + off, acc, mask=omask)


def xnor_conv(x_ptr, w_ptr, out_ptr, M, H, W, WORDS, CIN, HO, WO, COUT, KH, KW,
              SH, SW, PH, PW, DH, DW, BM: tl.constexpr, BN: tl.constexpr):
    """One (BM pixels) x (BN channels) tile of the ±1 convolution on packed sign words."""
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    n_i = rm // (HO * WO)
    oh = (rm % (HO * WO)) // WO
    ow = rm % WO
    acc = tl.full((BM, BN), 0, tl.int32)
    for t in range(0, KH * KW):
        ih = oh * SH - PH + (t // KW) * DH
        iw = ow * SW - PW + (t % KW) * DW
        inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W) & (rm < M)
        pop = tl.full((BM, BN), 0, tl.int32)
        for wd in range(0, WORDS):
            xw = tl.load(x_ptr + ((n_i * H + ih) * W + iw) * WORDS + wd, mask=inside, other=0)
            ww = tl.load(w_ptr + (rn * (KH * KW) + t) * WORDS + wd, mask=rn < COUT, other=0)
            v = (xw[:, None] ^ ww[None, :]).to(tl.uint32, bitcast=True)
            v = v - ((v >> 1) & 0x55555555)  # SWAR popcount of 32-bit words
            v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
            v = (v + (v >> 4)) & 0x0F0F0F0F
            pop += ((v * 0x01010101) >> 24).to(tl.int32)
        acc += tl.where(inside[:, None], CIN - 2 * pop, 0)
    tl.store(out_ptr + rm[:, None] * COUT + rn[None, :], acc,
             mask=(rm[:, None] < M) & (rn[None, :] < COUT))
