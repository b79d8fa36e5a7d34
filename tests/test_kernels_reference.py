"""Storage formats and the integer reference of qsrbench.kernels, against hand values, exhaustive
small-integer enumerations and plain Python loops (independent of torch's convolution)."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from qsrbench.kernels import (binary_conv2d, binary_dot, dequantize, int_conv2d, pack_bits, pack_int4,
                              popcount32, requantize, unpack_bits, unpack_int4)
from qsrbench.quant.uniform import QParams, to_int


# --- packing ---------------------------------------------------------------------------------
def test_int4_bytes_by_hand():
    assert pack_int4(torch.tensor([1, -1])).tolist() == [0xF1]  # low nibble 1, high nibble -1 = 0xF
    assert pack_int4(torch.tensor([-8, 7, 3])).tolist() == [0x78, 0x03]  # odd length: zero pad
    assert pack_int4(torch.tensor([[0, 0], [7, 7]])).tolist() == [[0x00], [0x77]]


def test_int4_round_trip_every_pair():
    vals = torch.tensor(list(itertools.product(range(-8, 8), repeat=2))).flatten()  # 256 pairs
    packed = pack_int4(vals)
    assert packed.dtype == torch.uint8 and packed.numel() == 256
    assert sorted(packed.tolist()) == list(range(256))  # a bijection onto the bytes
    assert torch.equal(unpack_int4(packed, vals.numel()), vals.to(torch.int8))


def test_int4_rejects_out_of_range_and_floats():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4(torch.tensor([8]))
    with pytest.raises(TypeError):
        pack_int4(torch.tensor([1.0]))


def test_bits_by_hand():
    # +1, -1, +1 then 29 padding +1 bits: 0xFFFFFFFD, i.e. -3 as int32
    assert pack_bits(torch.tensor([1, -1, 1])).tolist() == [-3]
    assert pack_bits(torch.tensor([-1] * 32)).tolist() == [0]
    assert pack_bits(torch.tensor([1] + [-1] * 31)).tolist() == [1]
    assert pack_bits(torch.tensor([-1] * 31 + [1])).tolist() == [-(2 ** 31)]  # bit 31 only
    with pytest.raises(ValueError, match="-1, \\+1"):
        pack_bits(torch.tensor([1, 0, -1]))


@pytest.mark.parametrize("n", [1, 10, 32, 33])
def test_bits_round_trip(n):
    if n <= 10:
        signs = torch.tensor(list(itertools.product([-1, 1], repeat=n)))  # every vector
    else:
        signs = torch.randint(0, 2, (500, n), generator=torch.Generator().manual_seed(n)) * 2 - 1
    packed = pack_bits(signs)
    assert packed.dtype == torch.int32 and packed.shape[-1] == (n + 31) // 32
    assert torch.equal(unpack_bits(packed, n), signs.to(torch.int8))


def test_popcount_against_python():
    rng = random.Random(0)
    words = [0, -1, -(2 ** 31), 2 ** 31 - 1, 1, 0x0F0F0F0F] + [rng.randrange(-(2 ** 31), 2 ** 31) for _ in range(500)]
    got = popcount32(torch.tensor(words, dtype=torch.int32)).tolist()
    assert got == [bin(w & 0xFFFFFFFF).count("1") for w in words]


@pytest.mark.parametrize("n", [1, 3, 6])
def test_binary_dot_every_pair_of_short_vectors(n):
    vecs = torch.tensor(list(itertools.product([-1, 1], repeat=n)))
    a, b = pack_bits(vecs), pack_bits(vecs)
    got = binary_dot(a[:, None, :], b[None, :, :], n)
    expected = torch.tensor([[sum(x * y for x, y in zip(u, v)) for v in vecs.tolist()] for u in vecs.tolist()])
    assert torch.equal(got.to(torch.int64), expected)


def test_binary_dot_across_words():
    g = torch.Generator().manual_seed(1)
    u, v = (torch.randint(0, 2, (20, 70), generator=g) * 2 - 1 for _ in range(2))
    got = binary_dot(pack_bits(u), pack_bits(v), 70)
    assert got.tolist() == [int((x * y).sum()) for x, y in zip(u, v)]


# --- integer convolution -----------------------------------------------------------------------
def _loop_conv(qx, qw, zx, stride, pad, dil, groups):
    """Σ (q_x - z_x) q_w by explicit Python loops (taps outside the image contribute 0)."""
    n, cin, h, w = qx.shape
    cout, cg, kh, kw = qw.shape
    ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = torch.zeros(n, cout, ho, wo, dtype=torch.int64)
    x, wt = qx.tolist(), qw.tolist()
    per_group = cout // groups
    for b, co, i, j in itertools.product(range(n), range(cout), range(ho), range(wo)):
        s = 0
        for ci, ky, kx in itertools.product(range(cg), range(kh), range(kw)):
            y, xx = i * stride - pad + ky * dil, j * stride - pad + kx * dil
            if 0 <= y < h and 0 <= xx < w:
                s += (x[b][(co // per_group) * cg + ci][y][xx] - zx) * wt[co][ci][ky][kx]
        out[b, co, i, j] = s
    return out


@pytest.mark.parametrize("cin,cout,groups,k,stride,pad,dil,zx", [
    (3, 4, 1, 3, 1, 1, 1, 0), (4, 4, 4, 3, 2, 1, 1, 128), (4, 6, 2, 3, 1, 2, 2, 7), (2, 3, 1, 1, 1, 0, 1, 255),
])
def test_int_conv_matches_python_loops(cin, cout, groups, k, stride, pad, dil, zx):
    g = torch.Generator().manual_seed(cin * 100 + cout)
    qx = torch.randint(0, 256, (2, cin, 6, 5), generator=g)
    qw = torch.randint(-127, 128, (cout, cin // groups, k, k), generator=g)
    got = int_conv2d(qx, qw, zx, stride, pad, dil, groups)
    assert got.dtype == torch.int64
    assert torch.equal(got, _loop_conv(qx, qw, zx, stride, pad, dil, groups))


def test_int_conv_every_4bit_product():
    """A 1x1 conv of one pixel: every (q_x, q_w) with q_x in 0..15 (zero point 8), q_w in -8..7."""
    qx = torch.arange(16).reshape(16, 1, 1, 1)
    for wv in range(-8, 8):
        got = int_conv2d(qx, torch.tensor([[[[wv]]]]), z_x=8).flatten().tolist()
        assert got == [(x - 8) * wv for x in range(16)]


def test_int_conv_refuses_inexact_shapes():
    qx = torch.full((1, 1, 1, 1), 2 ** 30, dtype=torch.int64)
    with pytest.raises(ValueError, match="2\\^53"):
        int_conv2d(qx, torch.full((1, 1, 1, 1), 2 ** 30, dtype=torch.int64))
    with pytest.raises(TypeError, match="integer"):
        int_conv2d(qx.float(), torch.ones(1, 1, 1, 1, dtype=torch.int64))


def test_binary_conv_border_counts_by_hand():
    """All-ones 3x3 kernel over an all-ones 3x3 image, padding 1: 4 taps in a corner, 6 on an
    edge, 9 in the centre (padded taps count 0, not -1 or +1)."""
    got = binary_conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    assert got.tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    flip = torch.ones(1, 1, 3, 3)
    flip[0, 0, 1, 1] = -1
    assert binary_conv2d(flip, torch.ones(1, 1, 3, 3), padding=1)[0, 0, 1, 1] == 7  # 8 - 1
    with pytest.raises(ValueError, match="-1 and \\+1"):
        binary_conv2d(torch.zeros(1, 1, 3, 3), torch.ones(1, 1, 3, 3))


# --- requantization ----------------------------------------------------------------------------
def test_requantize_by_hand():
    """Dyadic scales, so every value below is exact in float64 and the ties are real ties."""
    acc = torch.tensor([[[[10]], [[-10]]]])  # two channels; 10 · 0.5 · 0.25 = 1.25
    # channel 0: 1.25 + 0.25 = 1.5 → / 0.5 = 3 → + 3 = 6; channel 1: -1.25 / 0.5 = -2.5 → -2 (half to even) + 3 = 1
    q = requantize(acc, 0.5, torch.tensor([0.25, 0.25]), 0.5, 3, 0, 255, bias=torch.tensor([0.25, 0.0]))
    assert q.flatten().tolist() == [6, 1]
    assert requantize(acc, 0.5, 0.25, 0.5, 3, 0, 255).flatten().tolist() == [5, 1]  # 2.5 → 2 (half to even)
    assert requantize(acc, 0.5, 0.25, 0.5, 3, 0, 255, act="relu").flatten().tolist() == [5, 3]
    # leaky, slope 0.25: -1.25 → -0.3125; / 0.0625 = -5 → + 10 = 5
    assert requantize(acc, 0.5, 0.25, 0.0625, 10, 0, 255, act="leaky_relu", slope=0.25).flatten().tolist() == [30, 5]
    # prelu per channel: slopes 0, 0.5 → -0.625 / 0.5 = -1.25 → -1 + 3 = 2
    assert requantize(acc, 0.5, 0.25, 0.5, 3, 0, 255, act="prelu", slope=torch.tensor([0.0, 0.5])).flatten().tolist() == [5, 2]
    # residual 0.5 after the activation: 1.25 + 0.5 = 1.75 / 0.5 = 3.5 → 4 (half to even)
    assert requantize(acc[:, :1], 0.5, 0.25, 0.5, 0, -128, 127, residual=torch.tensor(0.5)).item() == 4
    assert requantize(acc * 1000, 0.5, 0.25, 0.5, 0, -128, 127).flatten().tolist() == [127, -128]  # clamped
    with pytest.raises(ValueError, match="activation"):
        requantize(acc, 1.0, 1.0, 1.0, 0, 0, 255, act="gelu")


def test_integer_layer_equals_the_fake_quant_layer_in_float64():
    """The integer path (codes → accumulator → requantize) against the fake-quant definition
    (dequantize → float64 conv → the harness's to_int): equal codes, since both are exact."""
    g = torch.Generator().manual_seed(3)
    qx = torch.randint(0, 256, (2, 4, 7, 7), generator=g)
    qw = torch.randint(-127, 128, (5, 4, 3, 3), generator=g)
    s_x, z_x = 0.0123, 37
    s_w = torch.rand(5, generator=g, dtype=torch.float64) * 0.01 + 1e-3
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    s_out, z_out = 0.37, 11
    acc = int_conv2d(qx, qw, z_x, padding=1)
    got = requantize(acc, s_x, s_w, s_out, z_out, 0, 255, bias=bias, act="relu")
    real = torch.nn.functional.conv2d(dequantize(qx, s_x, z_x), dequantize(qw.transpose(0, 1), s_w).transpose(0, 1),
                                      bias, padding=1).clamp_min(0)
    qp = QParams(torch.tensor(s_out, dtype=torch.float64), torch.tensor(z_out), 8, 0, 255)
    expected = torch.clamp(torch.round(real / s_out) + z_out, 0, 255).to(torch.int64)
    assert torch.equal(got, expected)
    # the harness's float32 to_int agrees except where y / s_out falls within float32 rounding of .5
    close = (to_int(real.float(), qp) - got).abs()
    assert int(close.max()) <= 1 and float((close > 0).float().mean()) < 0.01


# --- int8 kernel (torch._int_mm) -------------------------------------------------------------
@pytest.mark.parametrize("n,cin,cout,groups,side,k,stride,pad,dil,zx", [
    (1, 3, 8, 1, 9, 3, 1, 1, 1, 0), (2, 8, 8, 8, 8, 3, 1, 1, 1, 128), (2, 8, 12, 4, 7, 3, 2, 1, 1, 255),
    (1, 16, 16, 1, 6, 1, 1, 0, 1, 17), (1, 6, 6, 1, 10, 3, 1, 2, 2, 200), (1, 4, 4, 1, 2, 3, 1, 1, 1, 3),
    (3, 5, 7, 1, 5, 5, 1, 2, 1, 90),
])
def test_int8_kernel_bit_exact_against_the_reference(n, cin, cout, groups, side, k, stride, pad, dil, zx):
    from qsrbench.kernels.int8_conv import int8_conv2d

    g = torch.Generator().manual_seed(side * 31 + cin)
    qx = torch.randint(0, 256, (n, cin, side, side), generator=g, dtype=torch.int64).to(torch.uint8)
    qw = torch.randint(-127, 128, (cout, cin // groups, k, k), generator=g).to(torch.int8)
    got = int8_conv2d(qx, zx, qw, stride, pad, dil, groups)
    assert got.dtype == torch.int32
    assert torch.equal(got.to(torch.int64), int_conv2d(qx, qw, zx, stride, pad, dil, groups))


def test_int8_kernel_extremes_and_errors():
    from qsrbench.kernels.int8_conv import int8_conv2d

    qx = torch.full((1, 64, 3, 3), 255, dtype=torch.uint8)
    qw = torch.full((2, 64, 3, 3), -127, dtype=torch.int8)
    qw[1] = 127
    got = int8_conv2d(qx, 0, qw, padding=1)[0, :, 1, 1]  # 576 taps of 255 · ∓127
    assert got.tolist() == [-576 * 255 * 127, 576 * 255 * 127]
    with pytest.raises(ValueError, match="zero point"):
        int8_conv2d(qx, 256, qw)
    with pytest.raises(ValueError, match="overflow"):
        int8_conv2d(torch.zeros(1, 8000, 3, 3, dtype=torch.uint8), 0, torch.zeros(1, 8000, 3, 3, dtype=torch.int8))


@pytest.mark.parametrize("cin,cout,groups,k,stride,pad,opad,dil,zx", [
    (3, 4, 1, 3, 2, 1, 1, 1, 0), (4, 6, 2, 3, 2, 1, 0, 1, 128), (2, 3, 1, 4, 2, 1, 0, 1, 7),
    (4, 4, 4, 3, 3, 2, 2, 2, 255), (2, 2, 1, 1, 1, 0, 0, 1, 9), (2, 3, 1, 5, 2, 0, 1, 1, 3),
])
def test_int8_transposed_conv_equals_the_exact_reference(cin, cout, groups, k, stride, pad, opad, dil, zx):
    """The int8 kernel's transposed convolution (spread, pad, flipped kernel) against the float64
    reference of the same integers and, for the first case, hand loops of the scatter definition."""
    from qsrbench.kernels.int8_conv import int8_conv_transpose2d
    from qsrbench.kernels.reference import int_conv_transpose2d

    g = torch.Generator().manual_seed(cin * 10 + k)
    qx = torch.randint(0, 256, (2, cin, 5, 4), generator=g)
    qw = torch.randint(-127, 128, (cin, cout // groups, k, k), generator=g)
    ref = int_conv_transpose2d(qx, qw, zx, stride, pad, opad, groups, dil)
    got = int8_conv_transpose2d(qx.to(torch.uint8), zx, qw.to(torch.int8), stride, pad, opad, groups, dil)
    assert got.dtype == torch.int32 and torch.equal(got.to(torch.int64), ref)
    if (cin, k, stride) == (3, 3, 2):  # scatter: out[o, i*s - p + ky, j*s - p + kx] += (x - z) w
        out = torch.zeros_like(ref)
        for b, ci, i, j, co, ky, kx in itertools.product(range(2), range(cin), range(5), range(4), range(cout),
                                                         range(k), range(k)):
            y, xx = i * stride - pad + ky, j * stride - pad + kx
            if 0 <= y < out.shape[2] and 0 <= xx < out.shape[3]:
                out[b, co, y, xx] += (int(qx[b, ci, i, j]) - zx) * int(qw[ci, co, ky, kx])
        assert torch.equal(out, ref)
