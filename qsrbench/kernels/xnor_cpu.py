"""1-bit convolution on this CPU: bit-packed XNOR / popcount (a small C++ extension).

torch has no popcount operator, so this is the one native piece of the harness
(``csrc/xnor_conv.cpp``): binary activations (``sign(x)``, ``sign(0) = +1``, as
:func:`qsrbench.quant.binary_layers.sign_ste`) and binary weights with a per-output-channel scale
(``mean|W| · sign(W)``, :func:`qsrbench.quant.binary.binarize`), 64 channels per 64-bit word, so
one tap of one output channel is ``C - 2 · popcount(x_bits XOR w_bits)``; taps outside the image
contribute 0 (the zero padding of :func:`qsrbench.kernels.reference.binary_conv2d`, the oracle).
The integer accumulator is exact; the fused epilogue returns ``acc · scale[c] + bias[c]`` in
float32, computed as two roundings (multiply, then add: compiled with ``-ffp-contract=off``), so
it equals torch's ``acc.float() * scale + bias`` bit for bit.

Any groups = 1, dilation = 1 convolution with square stride and padding (1x1 and 3x3 are the
shapes of the shipped models and the NAS cells); the output is an NCHW tensor in channels-last
memory. Two paths with identical results: AVX-512 (VPOPCNTDQ: 8 output channels per instruction,
up to 64 accumulators and the epilogue in registers; sign packing 16 pixels per compare), chosen
at run time when the CPU has it, and a portable scalar loop (``portable=True`` forces it).

The extension is compiled once per torch version into the user cache
(``<cache>/torch_extensions/``, :func:`qsrbench.data.root.cache_dir`) with
:func:`torch.utils.cpp_extension.load` (a C++ compiler and ninja needed);
:func:`kernel_unavailable` says why it cannot be built, so tests skip with that reason.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import torch
from torch import nn

from ..data.root import cache_dir
from ..errors import QsrbenchError

__all__ = ["kernel_unavailable", "load_kernel", "pack_signs", "pack_weight_signs", "xnor_conv2d",
           "XnorConv2d", "has_avx512", "measured_clock_ghz"]

SOURCE = Path(__file__).with_name("csrc") / "xnor_conv.cpp"
FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off"]


def kernel_unavailable() -> str | None:
    """Why the extension cannot be built here (no compiler, no ninja), or None."""
    from torch.utils.cpp_extension import is_ninja_available

    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        return "no C++ compiler on PATH (c++, g++ or clang++)"
    if not is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    return None


@functools.lru_cache(maxsize=None)
def load_kernel():
    """The compiled extension (built on first use, then loaded from the user cache)."""
    why = kernel_unavailable()
    if why:
        raise QsrbenchError(f"the 1-bit CPU kernel cannot be built: {why}")
    from torch.utils.cpp_extension import load

    tag = torch.__version__.replace("+", "_").replace(".", "_")
    build = cache_dir() / "torch_extensions" / f"xnor_conv_{tag}"
    build.mkdir(parents=True, exist_ok=True)
    return load(name="qsrbench_xnor_conv", sources=[str(SOURCE)], build_directory=str(build),
                extra_cflags=FLAGS, extra_ldflags=["-fopenmp"], verbose=False)


def has_avx512() -> bool:
    """Whether the AVX-512 paths (F, VL and VPOPCNTDQ) run on this CPU."""
    return bool(load_kernel().has_avx512())


def measured_clock_ghz(adds: int = 200_000_000) -> float:
    """This core's clock while busy (GHz), from the thread CPU time of a chain of ``adds``
    dependent integer adds (one cycle each; time descheduled does not count): the clock a
    peak-throughput figure should use (it includes boost, which the nominal ``cpu MHz`` does not)."""
    return float(load_kernel().dependent_add_hz(int(adds))) / 1e9


def pack_signs(x: torch.Tensor, portable: bool = False) -> torch.Tensor:
    """Sign bits of a float NCHW tensor as int64 words ``[N, H, W, ceil(C / 64)]``: bit c of a
    word is ``not (x >= 0)`` for channel c (so -1 for negatives and NaN, +1 for zeros, as
    ``torch.where(x >= 0, 1, -1)``); unused bits 0."""
    if x.dim() != 4:
        raise ValueError(f"pack_signs expects an NCHW tensor, got shape {tuple(x.shape)}")
    return load_kernel().pack_signs(x.detach().float().contiguous(), 1 if portable else 0)


def pack_weight_signs(weight: torch.Tensor) -> torch.Tensor:
    """Sign bits of a conv weight ``[Cout, Cin, kh, kw]`` as int64 words ``[kh, kw, words, Cout]``."""
    if weight.dim() != 4:
        raise ValueError(f"pack_weight_signs expects a 4-d conv weight, got shape {tuple(weight.shape)}")
    return pack_signs(weight).permute(1, 2, 3, 0).contiguous()


def xnor_conv2d(x_bits: torch.Tensor, w_bits: torch.Tensor, in_channels: int, height: int, width: int,
                stride: int = 1, padding: int = 0, scale: torch.Tensor | None = None,
                bias: torch.Tensor | None = None, portable: bool = False) -> torch.Tensor:
    """``acc · scale + bias`` (float32, NCHW view of channels-last memory) of packed inputs
    (:func:`pack_signs`) and packed weights (:func:`pack_weight_signs`); ``acc`` is the exact
    ±1 accumulator. Without ``scale`` and ``bias`` the result is ``acc`` itself (exact in float32
    while ``|acc| < 2^24``)."""
    cout = w_bits.shape[3]
    scale = torch.ones(cout) if scale is None else scale.detach().float().reshape(-1)
    bias = torch.zeros(cout) if bias is None else bias.detach().float().reshape(-1)
    out = load_kernel().xnor_conv2d(x_bits, w_bits, int(in_channels), int(height), int(width), int(stride),
                                    int(padding), scale, bias, 1 if portable else 0)
    return out.permute(0, 3, 1, 2)


def _square(v, what: str, name: str) -> int:
    v = (v, v) if isinstance(v, int) else tuple(v)
    if len(set(v)) != 1:
        raise QsrbenchError(f"{name}: the 1-bit kernel needs a square {what}, got {v}")
    return int(v[0])


class XnorConv2d(nn.Module):
    """A binary-input :class:`~qsrbench.quant.binary_layers.BinaryConv2d` run on the packed kernel:
    ``conv(sign(x), mean|W| · sign(W)) + bias`` with the sum done in integers."""

    def __init__(self, conv: nn.Conv2d, name: str = "conv"):
        super().__init__()
        from ..quant.binary import binary_scale

        if getattr(conv, "binary_input", None) is not True:
            raise QsrbenchError(f"{name}: only binary-input BinaryConv2d layers run on the 1-bit kernel")
        if conv.groups != 1 or _square(conv.dilation, "dilation", name) != 1 or conv.padding_mode != "zeros":
            raise QsrbenchError(f"{name}: the 1-bit kernel needs groups=1, dilation=1 and zero padding")
        if isinstance(conv.padding, str):
            raise QsrbenchError(f"{name}: padding must be explicit integers, got {conv.padding!r}")
        self.in_channels = conv.in_channels
        self.stride = _square(conv.stride, "stride", name)
        self.padding = _square(conv.padding, "padding", name)
        w = conv.weight.detach().float()
        self.register_buffer("weight_bits", pack_weight_signs(w))
        self.register_buffer("scale", binary_scale(w, 0).reshape(-1).clone())
        self.register_buffer("bias", torch.zeros(w.shape[0]) if conv.bias is None else conv.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return xnor_conv2d(pack_signs(x), self.weight_bits, self.in_channels, x.shape[2], x.shape[3],
                           self.stride, self.padding, self.scale, self.bias)
