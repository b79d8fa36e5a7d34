"""The bit-packed XNOR / popcount 1-bit convolution (qsrbench.kernels.xnor_cpu, csrc/xnor_conv.cpp).

Oracles: the exact ±1 accumulator of qsrbench.kernels.reference.binary_conv2d (a float64
convolution of ±1 integers: exact, see its docstring), counts by hand for constant inputs, and a
bit-by-bit Python reading of the packed words. Both code paths (AVX-512 VPOPCNTDQ where the CPU
has it, and the portable loop) are checked. Skipped with the reason where the extension cannot be
built (no compiler or ninja).
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.errors import QsrbenchError
from qsrbench.kernels.reference import binary_conv2d
from qsrbench.kernels.xnor_cpu import (XnorConv2d, has_avx512, kernel_unavailable, measured_clock_ghz, pack_signs,
                                       pack_weight_signs, xnor_conv2d)
from qsrbench.quant.binary_layers import BinaryConv2d

WHY = kernel_unavailable()
needs_kernel = pytest.mark.skipif(WHY is not None, reason=f"1-bit CPU kernel not buildable: {WHY}")


def _paths():
    return [True, False] if has_avx512() else [True]


def _signs(shape, g):
    return torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)


def _run(x, w, stride, padding, portable, scale=None, bias=None):
    return xnor_conv2d(pack_signs(x, portable), pack_weight_signs(w), x.shape[1], x.shape[2], x.shape[3], stride, padding,
                       scale, bias, portable=portable)


@needs_kernel
def test_packed_words_read_back_bit_by_bit():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 70, 3, 7, generator=g)  # 21 pixels: one 16-pixel vector block and a tail
    x[0, 3, 1, 1], x[1, 5, 2, 6], x[0, 64, 0, 0] = 0.0, -0.0, float("nan")
    for portable in _paths():
        words = pack_signs(x, portable)
        assert words.shape == (2, 3, 7, 2) and words.dtype == torch.int64
        for n, c, y, xx in [(0, 0, 0, 0), (0, 3, 1, 1), (1, 5, 2, 6), (1, 63, 2, 4), (0, 64, 0, 0), (0, 69, 2, 2)]:
            word = int(words[n, y, xx, c // 64]) & (2 ** 64 - 1)
            expected = int(not bool(x[n, c, y, xx] >= 0))  # 0 and -0.0 are +1 (bit clear), NaN -1
            assert (word >> (c % 64)) & 1 == expected, (portable, n, c, y, xx)
        # every bit: the words unpacked equal torch.where(x >= 0, 0, 1); the 58 unused bits clear
        shifts = torch.arange(64)
        bits = ((words.unsqueeze(-1) >> shifts) & 1).reshape(2, 3, 7, 128)
        assert torch.equal(bits[..., :70].permute(0, 3, 1, 2), torch.where(x >= 0, 0, 1))
        assert int(bits[..., 70:].sum()) == 0


@needs_kernel
@pytest.mark.parametrize("portable", [True, False])
@pytest.mark.parametrize("cin,cout,k,stride,padding,h,w", [
    (64, 64, 3, 1, 1, 9, 11), (1, 1, 3, 1, 1, 4, 4), (63, 7, 3, 2, 1, 7, 6), (65, 70, 3, 1, 0, 5, 8),
    (130, 16, 1, 1, 0, 3, 3), (64, 9, 1, 2, 0, 5, 5), (5, 8, 3, 2, 2, 6, 9), (128, 72, 3, 1, 1, 1, 1)])
def test_accumulator_equals_the_exact_integer_reference(portable, cin, cout, k, stride, padding, h, w):
    if not portable and not has_avx512():
        pytest.skip("this CPU has no AVX-512 VPOPCNTDQ")
    g = torch.Generator().manual_seed(cin * 1000 + cout)
    x, wt = _signs((2, cin, h, w), g), _signs((cout, cin, k, k), g)
    got = _run(x, wt, stride, padding, portable)
    ref = binary_conv2d(x.to(torch.int8), wt.to(torch.int8), stride, padding)
    assert got.shape == ref.shape
    assert torch.equal(got.to(torch.int64), ref)


@needs_kernel
@pytest.mark.parametrize("portable", [True, False])
def test_constant_inputs_by_hand(portable):
    if not portable and not has_avx512():
        pytest.skip("this CPU has no AVX-512 VPOPCNTDQ")
    # all +1 input, all -1 weights, 3x3 padding 1 on a 4x4 image: each output is -(valid taps)·C
    cin = 65
    x, w = torch.ones(1, cin, 4, 4), -torch.ones(8, cin, 3, 3)
    got = _run(x, w, 1, 1, portable)
    taps = torch.tensor([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=torch.float32)
    assert torch.equal(got[0, 3], -cin * taps)
    # zeros count as +1 (sign(0) = +1): the same as all ones
    assert torch.equal(_run(torch.zeros(1, cin, 4, 4), -w, 1, 1, portable)[0, 0], cin * taps)


@needs_kernel
def test_epilogue_equals_torch_two_roundings():
    g = torch.Generator().manual_seed(3)
    x, w = _signs((1, 64, 6, 7), g), _signs((24, 64, 3, 3), g)
    scale, bias = torch.rand(24, generator=g) * 0.1, torch.randn(24, generator=g)
    acc = _run(x, w, 1, 1, True)
    for portable in _paths():
        got = _run(x, w, 1, 1, portable, scale, bias)
        assert torch.equal(got, acc * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1))


@needs_kernel
def test_module_matches_the_binary_input_fake_conv():
    torch.manual_seed(0)
    fake = BinaryConv2d(64, 32, 3, stride=1, padding=1, bias=True, binary_input=True).eval()
    real = XnorConv2d(fake)
    x = torch.randn(2, 64, 10, 9)
    with torch.no_grad():
        a, b = fake(x), real(x)
    assert b.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(a, b, rtol=0, atol=1e-5 * float(a.abs().max()))


@needs_kernel
def test_unsupported_layers_are_named():
    dil = BinaryConv2d(8, 8, 3, padding=2, dilation=2, binary_input=True)
    with pytest.raises(QsrbenchError, match=r"cell\.op: the 1-bit kernel needs groups=1, dilation=1"):
        XnorConv2d(dil, "cell.op")
    with pytest.raises(QsrbenchError, match="only binary-input"):
        XnorConv2d(BinaryConv2d(8, 8, 3, binary_input=False), "head")
    with pytest.raises(QsrbenchError, match=r"square stride, got \(1, 2\)"):
        XnorConv2d(BinaryConv2d(8, 8, 3, stride=(1, 2), binary_input=True), "x")


@needs_kernel
def test_clock_estimate_is_a_plausible_cpu_clock():
    # a chain of dependent adds runs at one add per cycle: any x86 core of the last decade is
    # between 1 and 6 GHz; a miscounted chain (e.g. adds the compiler folded away) is far outside
    assert 1.0 < measured_clock_ghz(20_000_000) < 6.0


def test_a_missing_compiler_is_a_clear_error(monkeypatch):
    import qsrbench.kernels.xnor_cpu as xc

    monkeypatch.setattr(xc.shutil, "which", lambda name: None)
    assert kernel_unavailable() == "no C++ compiler on PATH (c++, g++ or clang++)"
    with pytest.raises(QsrbenchError, match="the 1-bit CPU kernel cannot be built: no C\\+\\+ compiler"):
        xc.load_kernel.__wrapped__()
