"""1-bit layers: a binarized conv equals sign(W) · per-channel mean|W| convolved with x, exactly
(the hand construction below uses only torch.sign, abs and mean); binary inputs; swapping the
convs of a DARTS operation; BitOps at 1 bit from the existing counter."""

from __future__ import annotations

import torch
from torch import nn

from qsrbench.bitops import layer_costs
from qsrbench.nas.ops import make_op
from qsrbench.quant.binary_layers import BinaryConv2d, binarize_convs, sign_ste


def test_binary_conv_equals_sign_times_scale_convolved_exactly():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False).double()
    x = torch.randn(2, 4, 7, 5, dtype=torch.float64)
    w = conv.weight.detach()
    sign = torch.where(w >= 0, 1.0, -1.0).double()
    scale = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    want = nn.functional.conv2d(x, sign * scale, padding=1)
    got = BinaryConv2d.from_conv(conv)(x)
    assert torch.equal(got, want)
    xb = torch.where(x >= 0, 1.0, -1.0).double()
    assert torch.equal(BinaryConv2d.from_conv(conv, binary_input=True)(x),
                       nn.functional.conv2d(xb, sign * scale, padding=1))
    # integer form: ±1 inputs and ±1 weights sum to integers (exact in float64), times the
    # channel's scale equal to the binarized conv up to the rounding of the scaled sums
    raw = nn.functional.conv2d(xb, sign, padding=1)
    assert torch.equal(raw, raw.round())
    torch.testing.assert_close(raw * scale.view(1, -1, 1, 1),
                               BinaryConv2d.from_conv(conv, binary_input=True)(x), rtol=0, atol=1e-12)


def test_sign_ste_gradient_is_clipped():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.7, 1.5], requires_grad=True)
    sign_ste(x).sum().backward()
    assert sign_ste(x.detach()).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_binarized_darts_op_keeps_bn_and_counts_one_bit():
    op = binarize_convs(make_op("sep_conv_3x3", 8, 1, affine=True))
    convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(isinstance(m, BinaryConv2d) for m in convs)  # depthwise and pointwise
    assert sum(isinstance(m, nn.BatchNorm2d) for m in op.modules()) == 2
    costs = layer_costs(op, (1, 8, 6, 6), lambda name, m: m.bits)
    assert all((c.weight_bits, c.activation_bits) == (1, 32) for c in costs)
    # depthwise 3x3 on 8 ch: 36 x 8 x 9 MACs, pointwise 8 -> 8: 36 x 64; twice (two DilConvs)
    assert sum(c.macs for c in costs) == 2 * (36 * 8 * 9 + 36 * 64)
    assert sum(c.bitops for c in costs) == 2 * (36 * 8 * 9 + 36 * 64) * 32
    out = op(torch.randn(2, 8, 6, 6))
    assert out.shape == (2, 8, 6, 6)
