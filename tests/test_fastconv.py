"""Dilated convolution by polyphase decomposition (qsrbench.fastconv) against ``F.conv2d``.

Oracle: ``torch.nn.functional.conv2d`` with the same arguments (oneDNN's direct dilated
convolution), in float64 so that the only difference the decomposition may make, the order of
the same float additions, stays far below the tolerance (1e-12 relative); gradients by autograd
through both. The cases sweep every branch: stride 1 (d x d phases), stride d (phase (0, 0)),
channels_last and contiguous inputs, depthwise and dense groups, and each fallback.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from qsrbench.fastconv import (MAX_PHASE_PIXELS, PhaseDilatedConv2d, dilated_conv2d, phase_decomposable,
                               takes_phase_path)
from qsrbench.nas.ops import make_op
from qsrbench.quant.binary_layers import BinaryConv2d, binarize_convs


def _both(x, w, b, stride, padding, dilation, groups):
    outs, grads = [], []
    for fn in (F.conv2d, dilated_conv2d):
        xx = x.detach().clone().requires_grad_()
        ww = w.detach().clone().requires_grad_()
        bb = None if b is None else b.detach().clone().requires_grad_()
        y = fn(xx, ww, bb, stride, padding, dilation, groups)
        g = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
        y.backward(g)
        outs.append(y)
        grads.append([xx.grad, ww.grad] + ([] if bb is None else [bb.grad]))
    return outs, grads


CASES = [  # (n, cin, cout, groups, side, k, dilation, stride)
    (2, 4, 4, 4, 8, 3, 2, 1), (2, 4, 4, 4, 8, 5, 2, 1), (2, 4, 4, 4, 8, 3, 2, 2),
    (2, 4, 4, 4, 9, 5, 2, 2), (2, 4, 4, 4, 7, 3, 2, 2), (1, 3, 6, 1, 12, 3, 3, 1),
    (1, 3, 6, 1, 12, 3, 3, 3), (2, 6, 4, 2, 6, 3, 2, 1), (3, 4, 4, 4, 4, 5, 2, 1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}o{}g{}s{}k{}d{}st{}".format(*c))
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_equals_conv2d_values_and_gradients(case, channels_last, bias):
    n, cin, cout, groups, side, k, d, stride = case
    gen = torch.Generator().manual_seed(sum(case))
    x = torch.randn(n, cin, side, side, generator=gen, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(cout, cin // groups, k, k, generator=gen, dtype=torch.float64)
    b = torch.randn(cout, generator=gen, dtype=torch.float64) if bias else None
    pad = d * (k - 1) // 2
    assert takes_phase_path(x, w.shape, stride, pad, d)  # the decomposition is what is tested
    (ref, got), (gref, ggot) = _both(x, w, b, stride, pad, d, groups)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    for a, e in zip(ggot, gref):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)
    if channels_last and stride == 1:
        assert got.is_contiguous(memory_format=torch.channels_last)
    if not channels_last:
        assert got.is_contiguous()


def test_phase_decomposable_by_hand():
    shape = (1, 4, 8, 8)
    w3, w5, w4 = (4, 1, 3, 3), (4, 1, 5, 5), (4, 1, 4, 4)
    assert phase_decomposable(shape, w3, 1, 2, 2)           # same padding, stride 1
    assert phase_decomposable(shape, w5, 2, 4, 2)           # stride = dilation
    assert not phase_decomposable(shape, w3, 1, 1, 1)       # no dilation
    assert not phase_decomposable(shape, w3, 1, 1, 2)       # not the same padding
    assert not phase_decomposable(shape, w3, 3, 2, 2)       # stride neither 1 nor d
    assert not phase_decomposable(shape, w4, 1, 3, 2)       # even kernel: no centre
    assert not phase_decomposable((1, 4, 9, 8), w3, 1, 2, 2)  # 9 rows do not split in 2 phases
    assert phase_decomposable((1, 4, 9, 9), w3, 2, 2, 2)    # ... but stride d reads phase (0, 0)
    assert not phase_decomposable(shape, w3, (1, 1), (2, 2), (2, 1))  # unequal dilations


def test_stride_one_decomposes_only_small_phases():
    w = (4, 1, 3, 3)
    side = 2 * int(MAX_PHASE_PIXELS ** 0.5)  # d = 2: phases of exactly MAX_PHASE_PIXELS pixels
    assert takes_phase_path(torch.zeros(1, 4, side, side), w, 1, 2, 2)
    assert not takes_phase_path(torch.zeros(1, 4, side + 2, side + 2), w, 1, 2, 2)
    assert takes_phase_path(torch.zeros(1, 4, 64, 64), w, 2, 2, 2)  # strided: always
    assert not takes_phase_path(torch.zeros(4, 8, 8), w, 1, 2, 2)  # unbatched input: F.conv2d


@pytest.mark.parametrize("stride,padding,dilation,side", [
    (1, 1, 1, 8), (1, 1, 2, 8), (3, 2, 2, 8), (1, 2, (2, 1), 8), (1, 2, 2, 16)])
def test_fallbacks_are_conv2d_bit_for_bit(stride, padding, dilation, side):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, side, side, generator=gen)
    w = torch.randn(4, 1, 3, 3, generator=gen)
    assert torch.equal(dilated_conv2d(x, w, None, stride, padding, dilation, 4),
                       F.conv2d(x, w, None, stride, padding, dilation, 4))


def test_module_keeps_conv2d_parameters_state_dict_and_macs():
    torch.manual_seed(0)
    for stride, side, outputs in ((2, 16, 8 * 8), (1, 8, 8 * 8)):  # both decomposed forms
        ref = nn.Conv2d(8, 8, 5, stride, 4, dilation=2, groups=8, bias=False)
        mod = PhaseDilatedConv2d(8, 8, 5, stride, 4, dilation=2, groups=8, bias=False)
        mod.load_state_dict(ref.state_dict())
        assert list(mod.state_dict()) == list(ref.state_dict())
        x = torch.randn(2, 8, side, side)
        assert takes_phase_path(x, mod.weight.shape, mod.stride, mod.padding, mod.dilation)
        counts = []
        for m in (ref, mod):
            with FlopCounterMode(display=False) as fc:
                y = m(x)
            counts.append(fc.get_total_flops())
        # the same multiply-adds: 2 flops * 2 images * 8 channels * 64 outputs * 25 taps
        assert counts[0] == counts[1] == 2 * 2 * 8 * outputs * 25
        torch.testing.assert_close(y, ref(x), rtol=1e-5, atol=1e-5)


def test_nas_dilated_op_and_its_binarized_form_use_the_decomposition():
    op = make_op("dil_conv_5x5", 8, 1, affine=True)
    depthwise = [m for m in op.modules() if isinstance(m, nn.Conv2d) and m.dilation == (2, 2)]
    assert len(depthwise) == 1 and isinstance(depthwise[0], PhaseDilatedConv2d)
    binary = binarize_convs(op)
    bconv = [m for m in binary.modules() if isinstance(m, BinaryConv2d) and m.dilation == (2, 2)]
    assert len(bconv) == 1 and isinstance(bconv[0], PhaseDilatedConv2d)
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    w = bconv[0].weight.double()
    scale = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = F.conv2d(x, scale * torch.where(w >= 0, 1.0, -1.0).double(), None, 1, 4, 2, 8)
    torch.testing.assert_close(bconv[0].double()(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d,k", list(itertools.product([2, 3], [3, 5])))
def test_every_output_pixel_reads_the_dilated_taps(d, k):
    """A one-hot input recovers the kernel at the dilated offsets (a hand-checkable picture)."""
    side = 4 * d * k
    x = torch.zeros(1, 1, side, side, dtype=torch.float64)
    x[0, 0, side // 2, side // 2] = 1.0
    w = torch.arange(1.0, k * k + 1, dtype=torch.float64).reshape(1, 1, k, k)
    y = dilated_conv2d(x, w, None, 1, d * (k - 1) // 2, d, 1)[0, 0]
    c = side // 2
    for i, j in itertools.product(range(k), range(k)):
        # y[c + d(r - i)] reads x at offset d(i - r): the kernel appears flipped about the centre
        r = (k - 1) // 2
        assert y[c + d * (r - i), c + d * (r - j)] == w[0, 0, i, j]
    assert torch.count_nonzero(y) == k * k
