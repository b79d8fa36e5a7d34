"""Triton kernels for the quantized SR convolutions: int8 / int4 implicit GEMM with a fused
requantizing epilogue, and a 1-bit XNOR-popcount convolution (issue 16, item 4).

All tensors are channels last (NHWC): activations ``(N, H, W, C)``, outputs ``(N, H', W', C_out)``.

* :func:`conv2d_int` — implicit GEMM: ``M = N·H'·W'`` output pixels by ``C_out/groups`` channels,
  reduced over ``K = kh·kw·C_in/groups`` taps (tap-major, channels innermost, so each tap's channels
  are one contiguous run of the NHWC input). Activation codes are asymmetric 8-bit in [0, 255]
  with zero point ``z_x`` (the CPU kernel's convention, :mod:`qsrbench.kernels.int8_conv`):
  ``tl.dot`` multiplies int8, so the codes enter as ``q_x - 128`` and the shift is undone per
  output channel, ``Σ (q_x - z_x)·q_w = Σ (q_x - 128)·q_w + (128 - z_x)·Σ q_w``; a tap outside the
  image loads ``z_x`` (zero padding of the real input), so every tap counts in the correction.
  Weights (:func:`pack_weight`) are int8, or **int4 packed two per byte along K** (the
  :func:`~qsrbench.kernels.packing.pack_int4` format: element ``2i`` in the low nibble), unpacked
  and sign-extended in registers. The accumulator is int32 (``K·255·127 < 2^31``, checked).
  Groups are the third grid axis (CARN-M's grouped convs).
* **Fused epilogue** (:class:`Requant`): the accumulator becomes the next layer's codes in the
  kernel, in the order and precision of :func:`qsrbench.kernels.reference.requantize`:
  ``y = acc·s_x·s_w[c] (+ bias[c])``, ReLU / LeakyReLU / PReLU, ``(+ residual)``, then
  ``clamp(round_half_even(y / s_out) + z_out, qmin, qmax)``, all in float64. The scales travel
  in float64 tensors (a Python float argument would be specialised to float32), and CUDA launches
  disable FMA contraction (``enable_fp_fusion=False``), so the epilogue rounds exactly as the
  float64 reference does: bit-exact, not merely close.
* :func:`xnor_conv2d` — ±1 activations and weights packed 32 per int32 along the channels (the
  :func:`~qsrbench.kernels.packing.pack_bits` format, padding bits +1 on both sides so that they
  never differ): per tap inside the image ``C_in - 2·popcount(x XOR w)`` summed over the words;
  taps outside the image contribute 0 (:func:`~qsrbench.kernels.reference.binary_conv2d`). The
  popcount is the SWAR bit trick on uint32 (Triton has no portable popcount op).

**Where they run.** On CUDA tensors the kernels are compiled by Triton and autotuned over a few
tile shapes (tensor-core int8 ``tl.dot``). On CPU tensors the same kernel source runs in Triton's
interpreter (``triton.runtime.interpreter``: numpy, one program at a time), which is how CI checks
them bit-exact on small shapes without a GPU; it is for checking, not for speed (the CPU kernels
of this package are :mod:`~qsrbench.kernels.int8_conv` and :mod:`~qsrbench.kernels.xnor_cpu`).
Triton is optional (``pip install qsrbench[gpu]``; the test extra installs it for CI):
:func:`triton_unavailable` says why not where it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import torch

from .int8_conv import INT32_MAX, _pair
from .packing import pack_bits, pack_int4

__all__ = ["Requant", "PackedWeight", "pack_weight", "conv2d_int", "xnor_conv2d", "xnor_conv2d_packed",
           "triton_unavailable"]

try:
    import triton
    import triton.language as tl
except ImportError as exc:  # optional dependency
    triton, tl, _IMPORT_ERROR = None, None, exc
else:
    _IMPORT_ERROR = None

ACTS = {None: 0, "relu": 1, "leaky_relu": 2, "prelu": 2}
INTERPRETER_TILE = dict(BM=32, BN=16, BK=32)  # small tiles: the interpreter's shapes are small
CUDA_TILES = [  # (BM, BN, BK, warps, stages): int8 tensor-core tiles (BK a multiple of 32)
    (128, 64, 64, 4, 3), (64, 64, 64, 4, 3), (128, 128, 32, 8, 3), (64, 32, 64, 4, 2), (32, 32, 64, 2, 2)]


def triton_unavailable() -> str | None:
    """Why the Triton kernels cannot run here (None when they can)."""
    if triton is None:
        return f"triton is not installed ({_IMPORT_ERROR}); pip install 'qsrbench[gpu]'"
    return None


def _require_triton() -> None:
    why = triton_unavailable()
    if why:
        raise RuntimeError(why)


@dataclass(frozen=True)
class Requant:
    """The fused epilogue's parameters (see :func:`qsrbench.kernels.reference.requantize`):
    ``s_w``, ``bias`` and ``slope`` per output channel (1-D) or scalars; ``residual`` a real
    tensor shaped like the output (NHWC); ``act`` None, "relu", "leaky_relu" or "prelu"."""

    s_x: float
    s_w: object
    s_out: float
    z_out: int
    qmin: int
    qmax: int
    bias: object = None
    act: str | None = None
    slope: object = 0.01
    residual: torch.Tensor | None = None


@dataclass(frozen=True)
class PackedWeight:
    """Weights laid out for the implicit GEMM: ``data`` (groups, K, C_out/groups) int8, or for
    int4 (groups, ceil(K/2), C_out/groups) uint8 packed along K; ``wsum`` (C_out,) int32 = Σ_K q_w."""

    data: torch.Tensor
    wsum: torch.Tensor
    bits: int
    groups: int
    kh: int
    kw: int
    cin_per_group: int
    cout: int

    @property
    def k(self) -> int:
        return self.kh * self.kw * self.cin_per_group

    def to(self, device) -> PackedWeight:
        return replace(self, data=self.data.to(device), wsum=self.wsum.to(device))


def pack_weight(q_w: torch.Tensor, groups: int = 1, bits: int = 8) -> PackedWeight:
    """``q_w``: integer codes ``(C_out, C_in/groups, kh, kw)`` (a ``Conv2d`` weight's layout),
    symmetric: int8 in [-127, 127] (``bits = 8``) or in [-8, 7] (``bits = 4``)."""
    if q_w.dtype.is_floating_point or q_w.dtype == torch.bool:
        raise TypeError(f"q_w must be an integer tensor, got {q_w.dtype}")
    if bits not in (4, 8):
        raise ValueError(f"the Triton conv takes 8- or 4-bit weights, not {bits}")
    cout, cg, kh, kw = q_w.shape
    if cout % groups:
        raise ValueError(f"{cout} output channels do not split into {groups} groups")
    lo, hi = (-8, 7) if bits == 4 else (-128, 127)
    if q_w.numel() and (int(q_w.min()) < lo or int(q_w.max()) > hi):
        raise ValueError(f"{bits}-bit weight codes must lie in [{lo}, {hi}]")
    k, cog = kh * kw * cg, cout // groups
    if k * 255 * 127 > INT32_MAX:
        raise ValueError(f"reduction length {k} can overflow the int32 accumulator")
    taps = q_w.permute(0, 2, 3, 1).reshape(groups, cog, k)  # (g, cout_g, K), channels innermost
    data = (pack_int4(taps) if bits == 4 else taps.to(torch.int8)).transpose(1, 2).contiguous()
    wsum = q_w.to(torch.int32).reshape(cout, -1).sum(1, dtype=torch.int32)
    return PackedWeight(data, wsum, bits, groups, kh, kw, cg, cout)


def _out_size(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _vec64(v, n: int, device) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=torch.float64, device=device).flatten()
    return t.expand(n).contiguous() if t.numel() == 1 else t.contiguous()


@lru_cache(maxsize=None)
def _kernel(name: str, cuda: bool):
    """The kernel ``name`` of :mod:`.triton_src`: compiled (autotuned for the int GEMM) for CUDA
    tensors, in Triton's interpreter for CPU tensors."""
    from triton.runtime.interpreter import InterpretedFunction

    from . import triton_src

    fn = getattr(triton_src, name)
    if not cuda:
        return InterpretedFunction(fn)
    jitted = triton.jit(fn)
    if name != "igemm_conv":
        return jitted
    configs = [triton.Config(dict(BM=bm, BN=bn, BK=bk), num_warps=w, num_stages=s)
               for bm, bn, bk, w, s in CUDA_TILES]
    return triton.autotune(configs, key=["M", "COG", "K"])(jitted)


def _epilogue(rq: Requant | None, cout: int, out_shape, device):
    """(ep, s_w, bias, slope, residual) tensors and the constexpr flags of the epilogue."""
    dummy = torch.zeros(1, dtype=torch.float64, device=device)
    if rq is None:
        return (dummy,) * 5, dict(EPI=False, ACT=0, HAS_BIAS=False, HAS_RES=False), (0, 0, 0)
    if rq.act not in ACTS:
        raise ValueError(f"unknown activation {rq.act!r} (None, 'relu', 'leaky_relu', 'prelu')")
    if not (rq.s_out > 0 and rq.s_out != float("inf")):
        raise ValueError(f"output scale must be positive and finite, got {rq.s_out}")
    ep = torch.tensor([float(rq.s_x), float(rq.s_out)], dtype=torch.float64, device=device)
    bias = dummy if rq.bias is None else _vec64(rq.bias, cout, device)
    slope = _vec64(rq.slope, cout, device) if ACTS[rq.act] == 2 else dummy
    res = dummy
    if rq.residual is not None:
        if tuple(rq.residual.shape) != tuple(out_shape):
            raise ValueError(f"residual shape {tuple(rq.residual.shape)} is not the output's {tuple(out_shape)}")
        res = rq.residual.to(device=device, dtype=torch.float64).contiguous()
    flags = dict(EPI=True, ACT=ACTS[rq.act], HAS_BIAS=rq.bias is not None, HAS_RES=rq.residual is not None)
    return (ep, _vec64(rq.s_w, cout, device), bias, slope, res), flags, (int(rq.z_out), int(rq.qmin), int(rq.qmax))


def conv2d_int(q_x: torch.Tensor, z_x: int, weight: PackedWeight, stride=1, padding=0, dilation=1,
               requant: Requant | None = None) -> torch.Tensor:
    """Integer convolution of NHWC activation codes ``q_x`` (uint8, or any integer dtype holding
    0..255) with a :func:`pack_weight` weight: the int32 accumulator ``Σ (q_x - z_x)·q_w``
    (N, H', W', C_out), or with ``requant`` the next layer's codes (int32 tensor, same shape)."""
    _require_triton()
    if q_x.dtype.is_floating_point or q_x.dim() != 4:
        raise TypeError(f"q_x must be NHWC integer codes, got {q_x.dtype} of shape {tuple(q_x.shape)}")
    if not 0 <= int(z_x) <= 255:
        raise ValueError(f"activation zero point must be in [0, 255], got {z_x}")
    n, h, w, cin = q_x.shape
    if cin != weight.cin_per_group * weight.groups:
        raise ValueError(f"input has {cin} channels; the weight expects {weight.cin_per_group * weight.groups}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ho, wo = _out_size(h, weight.kh, sh, ph, dh), _out_size(w, weight.kw, sw, pw, dw)
    device, cout, cog = q_x.device, weight.cout, weight.cout // weight.groups
    out = torch.empty((n, ho, wo, cout), dtype=torch.int32, device=device)
    tensors, flags, (z_out, qmin, qmax) = _epilogue(requant, cout, out.shape, device)
    x = q_x.to(torch.uint8).contiguous()
    args = (x, weight.data.to(device), weight.wsum.to(device), out, *tensors,
            n * ho * wo, h, w, cin, ho, wo, cout, weight.cin_per_group, cog, weight.k, (weight.k + 1) // 2,
            weight.kw, sh, sw, ph, pw, dh, dw, int(z_x), z_out, qmin, qmax)
    grid = lambda t: (triton.cdiv(n * ho * wo, t["BM"]), triton.cdiv(cog, t["BN"]), weight.groups)  # noqa: E731
    consts = dict(W4=weight.bits == 4, **flags)
    if device.type == "cuda":  # no FMA contraction: the float64 epilogue rounds as the reference
        _kernel("igemm_conv", True)[grid](*args, **consts, enable_fp_fusion=False)
    else:
        _kernel("igemm_conv", False)[grid(INTERPRETER_TILE)](*args, **consts, **INTERPRETER_TILE)
    return out


def xnor_conv2d(sign_x: torch.Tensor, sign_w: torch.Tensor, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Accumulator ``Σ sign_x · sign_w`` over the taps inside the image (int32, NHWC) of ±1
    activations ``sign_x`` (N, H, W, C_in) and ±1 weights ``sign_w`` (C_out, C_in, kh, kw), packed
    here into sign words (:func:`~qsrbench.kernels.packing.pack_bits`) for :func:`xnor_conv2d_packed`."""
    for t, name in ((sign_x, "sign_x"), (sign_w, "sign_w")):
        if t.numel() and not bool(((t == 1) | (t == -1)).all()):
            raise ValueError(f"{name} must hold only -1 and +1")
    if sign_w.shape[1] != sign_x.shape[-1]:
        raise ValueError(f"input has {sign_x.shape[-1]} channels; the weight expects {sign_w.shape[1]}")
    return xnor_conv2d_packed(pack_bits(sign_x), pack_bits(sign_w.permute(0, 2, 3, 1)).to(sign_x.device),
                              sign_x.shape[-1], stride, padding, dilation)


def xnor_conv2d_packed(x_bits: torch.Tensor, w_bits: torch.Tensor, cin: int, stride=1, padding=0,
                       dilation=1) -> torch.Tensor:
    """The popcount kernel on packed sign words: ``x_bits`` (N, H, W, words) int32, ``w_bits``
    (C_out, kh, kw, words) int32, ``cin`` the channels they hold; int32 accumulator (N, H', W', C_out)."""
    _require_triton()
    n, h, w, words = x_bits.shape
    cout, kh, kw, w_words = w_bits.shape
    if w_words != words or not 0 < cin <= 32 * words:
        raise ValueError(f"{words} input words and {w_words} weight words cannot hold {cin} channels")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    ho, wo = _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw)
    out = torch.empty((n, ho, wo, cout), dtype=torch.int32, device=x_bits.device)
    args = (x_bits.contiguous(), w_bits.contiguous(), out, n * ho * wo, h, w, words, cin, ho, wo, cout,
            kh, kw, sh, sw, ph, pw, dh, dw)
    grid = lambda t: (triton.cdiv(n * ho * wo, t["BM"]), triton.cdiv(cout, t["BN"]))  # noqa: E731
    cuda = x_bits.device.type == "cuda"
    tiles = dict(BM=64, BN=64) if cuda else dict(BM=32, BN=16)
    _kernel("xnor_conv", cuda)[grid(tiles)](*args, **tiles)
    return out
