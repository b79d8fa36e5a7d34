"""The Triton kernels (qsrbench/kernels/triton_conv.py), bit-exact against the integer reference.

Run on CPU tensors, i.e. in Triton's interpreter (the same kernel source a GPU compiles). Oracles:
:mod:`qsrbench.kernels.reference` (float64 convolution of the integer values, exact below 2^53;
its requantize in float64), and a requantization example computed by hand. Shapes are small (the
interpreter runs numpy per program) but cover odd sizes, padding, stride 2, dilation, groups,
depthwise, int4 with an odd reduction length, and extreme codes.
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.kernels.packing import unpack_int4
from qsrbench.kernels.reference import binary_conv2d, int_conv2d, requantize
from qsrbench.kernels.triton_conv import (Requant, conv2d_int, pack_weight, triton_unavailable,
                                          xnor_conv2d)

pytestmark = pytest.mark.skipif(triton_unavailable() is not None, reason=str(triton_unavailable()))
# CPU tensors run in Triton's interpreter (CI); "cuda" compiles the same kernels (.ci/gpu-check)
DEVICES = [pytest.param("cpu", id="interpreter"), pytest.param("cuda", id="cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: no CUDA device")
    return request.param


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1)


def _codes(gen, n, cin, h, w, cout, cg, k, bits):
    lo, hi = (-8, 7) if bits == 4 else (-127, 127)
    q_x = torch.randint(0, 256, (n, cin, h, w), generator=gen, dtype=torch.int32)
    q_w = torch.randint(lo, hi + 1, (cout, cg, k, k), generator=gen, dtype=torch.int32)
    return q_x, q_w


CASES = {  # n, cin, cout, h, w, k, stride, pad, dilation, groups, bits
    "3x3": (1, 16, 16, 9, 9, 3, 1, 1, 1, 1, 8),
    "odd-stride2": (2, 5, 7, 7, 11, 3, 2, 1, 1, 1, 8),
    "1x1": (1, 24, 40, 6, 5, 1, 1, 0, 1, 1, 8),
    "groups4": (1, 12, 8, 8, 8, 3, 1, 1, 1, 4, 8),
    "depthwise": (1, 6, 6, 7, 7, 3, 1, 1, 1, 6, 8),
    "dilated": (1, 8, 8, 10, 10, 3, 1, 2, 2, 1, 8),
    "int4": (1, 16, 16, 9, 9, 3, 1, 1, 1, 1, 4),
    "int4-odd-K": (1, 7, 9, 5, 6, 3, 2, 1, 1, 1, 4),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_int_conv_is_bit_exact(case, device):
    n, cin, cout, h, w, k, s, p, d, g, bits = CASES[case]
    gen = torch.Generator().manual_seed(list(CASES).index(case))
    q_x, q_w = _codes(gen, n, cin, h, w, cout, cin // g, k, bits)
    z_x = int(torch.randint(0, 256, (1,), generator=gen))
    got = conv2d_int(_nhwc(q_x).to(device), z_x, pack_weight(q_w, g, bits), s, p, d)
    want = _nhwc(int_conv2d(q_x, q_w, z_x, s, p, d, g))
    assert got.dtype == torch.int32 and torch.equal(got.cpu().to(torch.int64), want)


@pytest.mark.parametrize("x_code,z_x,w_code", [(255, 0, -128), (0, 255, 127), (255, 255, 1), (0, 0, 0), (1, 0, 1)])
def test_extreme_codes(x_code, z_x, w_code):
    q_x = torch.full((1, 32, 5, 5), x_code, dtype=torch.int32)
    q_w = torch.full((16, 32, 3, 3), w_code, dtype=torch.int32)
    got = conv2d_int(_nhwc(q_x), z_x, pack_weight(q_w), 1, 1)
    assert torch.equal(got.to(torch.int64), _nhwc(int_conv2d(q_x, q_w, z_x, 1, 1)))


def test_int4_packing_round_trips_along_k():
    q_w = torch.randint(-8, 8, (6, 5, 3, 3), generator=torch.Generator().manual_seed(3))
    packed = pack_weight(q_w, 1, 4)
    assert packed.data.dtype == torch.uint8 and packed.data.shape == (1, 23, 6)  # ceil(45 / 2)
    taps = unpack_int4(packed.data.transpose(1, 2), packed.k)  # (1, cout, K)
    assert torch.equal(taps[0].to(torch.int32), q_w.permute(0, 2, 3, 1).reshape(6, 45))
    assert torch.equal(packed.wsum, q_w.reshape(6, -1).sum(1).to(torch.int32))


def test_requant_hand_example():
    """1x1 conv, one channel, weight 1, z_x 0: acc = q_x = 1, 3, 5, 250; s_x·s_w = 0.5, s_out 1:
    y = 0.5, 1.5, 2.5, 125 → half to even 0, 2, 2, 125; + z_out 3 → 3, 5, 5, 128; qmax 127 → 127."""
    q_x = torch.tensor([1, 3, 5, 250], dtype=torch.int32).reshape(1, 1, 4, 1)  # NHWC
    out = conv2d_int(q_x, 0, pack_weight(torch.ones(1, 1, 1, 1, dtype=torch.int32)),
                     requant=Requant(s_x=0.5, s_w=1.0, s_out=1.0, z_out=3, qmin=0, qmax=127))
    assert out.flatten().tolist() == [3, 5, 5, 127]


@pytest.mark.parametrize("act", [None, "relu", "leaky_relu", "prelu"])
@pytest.mark.parametrize("residual", [False, True])
def test_fused_epilogue_is_bit_exact(act, residual, device):
    gen = torch.Generator().manual_seed(7)
    q_x, q_w = _codes(gen, 1, 16, 6, 7, 16, 16, 3, 8)
    z_x, cout = 117, 16
    s_w = torch.rand(cout, generator=gen, dtype=torch.float64) * 1e-2 + 1e-4
    bias = torch.randn(cout, generator=gen, dtype=torch.float64)
    slope = torch.rand(cout, generator=gen, dtype=torch.float64) if act == "prelu" else 0.01
    res = torch.randn(1, 6, 7, cout, generator=gen, dtype=torch.float64) if residual else None
    rq = Requant(s_x=0.0123, s_w=s_w, s_out=0.0371, z_out=9, qmin=0, qmax=255, bias=bias, act=act,
                 slope=slope, residual=res)
    got = conv2d_int(_nhwc(q_x).to(device), z_x, pack_weight(q_w), 1, 1, requant=rq).cpu()
    acc = int_conv2d(q_x, q_w, z_x, 1, 1)
    want = requantize(acc, 0.0123, s_w, 0.0371, 9, 0, 255, bias=bias, act=act, slope=slope,
                      residual=None if res is None else res.permute(0, 3, 1, 2))
    assert torch.equal(got.to(torch.int64), _nhwc(want))
    assert len(got.unique()) > 20  # a real spread of codes, not a constant


@pytest.mark.parametrize("cin,k,stride,pad", [(40, 3, 1, 1), (32, 1, 1, 0), (64, 3, 2, 1), (7, 3, 1, 0)])
def test_xnor_conv_is_bit_exact(cin, k, stride, pad, device):
    gen = torch.Generator().manual_seed(cin * 10 + k)
    sx = torch.randint(0, 2, (2, cin, 6, 7), generator=gen) * 2 - 1
    sw = torch.randint(0, 2, (5, cin, k, k), generator=gen) * 2 - 1
    got = xnor_conv2d(_nhwc(sx).to(device), sw, stride, pad).cpu()
    assert torch.equal(got.to(torch.int64), _nhwc(binary_conv2d(sx, sw, stride, pad)))


@pytest.mark.parametrize("call,match", [
    (lambda: pack_weight(torch.full((2, 2, 1, 1), 8), bits=4), r"\[-8, 7\]"),
    (lambda: pack_weight(torch.zeros(2, 2, 1, 1, dtype=torch.int32), bits=2), "8- or 4-bit"),
    (lambda: pack_weight(torch.zeros(3, 2, 1, 1, dtype=torch.int32), groups=2), "groups"),
    (lambda: conv2d_int(torch.zeros(1, 2, 2, 3, dtype=torch.int32), 300,
                        pack_weight(torch.zeros(2, 3, 1, 1, dtype=torch.int32))), "zero point"),
    (lambda: conv2d_int(torch.zeros(1, 2, 2, 4, dtype=torch.int32), 0,
                        pack_weight(torch.zeros(2, 3, 1, 1, dtype=torch.int32))), "channels"),
    (lambda: xnor_conv2d(torch.zeros(1, 2, 2, 3), torch.ones(2, 3, 1, 1)), "-1 and \\+1"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
