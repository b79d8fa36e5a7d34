"""Composite quantized convolution (qsrbench.quant.composite).

Oracles: the explicit sum of every branch convolution (I x J convs, float64), the single chosen
branch for one-hot relaxations, MACs and expected BitOps counted by hand on a 2-layer toy (and the
MACs against the harness's independent counter), finite differences for the logits' gradients.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qsrbench.bitops import count_macs
from qsrbench.errors import QsrbenchError
from qsrbench.quant.composite import CompositeQuantConv2d, branch_sum_conv2d, composite_conv2d, expected_bitops
from qsrbench.quant.modules import DoReFaWeight, LSQQuantizer, PACTQuantizer, PAMSQuantizer


def _candidates():
    acts = [PACTQuantizer(4, alpha=2.0), PAMSQuantizer(8, alpha=1.5), LSQQuantizer(2, signed=False)]
    weights = [DoReFaWeight(2), DoReFaWeight(4), LSQQuantizer(8)]
    return [q.double() for q in acts], [q.double() for q in weights]


def _data(groups=1):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 7, 6, generator=g, dtype=torch.float64) * 2
    w = torch.randn(6, 4 // groups, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    return x, w, b


@pytest.mark.parametrize("groups,stride,padding", [(1, 1, 1), (2, 2, 0), (1, 1, 2)])
def test_one_convolution_equals_the_sum_of_all_branches(groups, stride, padding):
    acts, weights = _candidates()
    x, w, b = _data(groups)
    for q in acts:
        q(x)  # LSQ initialises its step on the first call
    for q in weights:
        q(w)
    alpha = torch.softmax(torch.tensor([0.3, -1.0, 0.8], dtype=torch.float64), 0)
    beta = torch.softmax(torch.tensor([1.2, 0.1, -0.4], dtype=torch.float64), 0)
    conv = {"stride": stride, "padding": padding, "groups": groups}
    with torch.no_grad():
        got = composite_conv2d(x, w, b, acts, weights, alpha, beta, **conv)
        want = branch_sum_conv2d(x, w, b, acts, weights, torch.outer(alpha, beta), **conv)
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12 * float(want.abs().max()))
        # a joint that does not factor has cross terms the shortcut cannot express
        joint = torch.tensor([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0]], dtype=torch.float64)
        tied = branch_sum_conv2d(x, w, b, acts, weights, joint, **conv)
        assert not torch.allclose(tied, composite_conv2d(x, w, b, acts, weights, joint.sum(1), joint.sum(0), **conv))


def test_one_hot_is_exactly_the_chosen_branch():
    acts, weights = _candidates()
    x, w, b = _data()
    layer = CompositeQuantConv2d(nn.Conv2d(4, 6, 3, padding=1).double(), acts, weights)
    with torch.no_grad():
        layer.conv.weight.copy_(w)
        layer.conv.bias.copy_(b)
        layer.alpha.copy_(torch.tensor([0.0, 0.1, 2.0]))
        layer.beta.copy_(torch.tensor([0.0, 3.0, 0.5]))
        layer(x)  # LSQ steps initialised
        assert layer.choice() == (2, 1)
        layer.fix()
        assert torch.equal(layer(x), F.conv2d(acts[2](x), weights[1](w), b, padding=1))
        layer.fix(act=0, weight=2)
        assert torch.equal(layer(x), F.conv2d(acts[0](x), weights[2](w), b, padding=1))
    with pytest.raises(QsrbenchError, match=r"no candidate \(3, 0\)"):
        layer.fix(act=3, weight=0)


def test_expected_bitops_by_hand_on_a_two_layer_toy():
    """conv 3->4 3x3 pad 1 on 5x5: 4*25*3*9 = 2700 MACs; E[a] = 0.25*4 + 0.75*8 = 7,
    E[w] = 0.5*2 + 0.5*8 = 5 -> 94,500. conv 4->2 1x1: 2*25*4 = 200 MACs; a one-hot at 4 bits,
    E[w] = 0.2*4 + 0.8*8 = 7.2 -> 5,760. Total 100,260."""
    first = CompositeQuantConv2d(nn.Conv2d(3, 4, 3, padding=1), [PACTQuantizer(4), PACTQuantizer(8)],
                                 [DoReFaWeight(2), DoReFaWeight(8)])
    second = CompositeQuantConv2d(nn.Conv2d(4, 2, 1), [PACTQuantizer(4), PACTQuantizer(8)],
                                  [DoReFaWeight(4), DoReFaWeight(8)])
    with torch.no_grad():
        first.alpha.copy_(torch.log(torch.tensor([0.25, 0.75])))
        second.beta.copy_(torch.log(torch.tensor([0.2, 0.8])))
        second.alpha.copy_(torch.tensor([0.0, -1e4]))  # the activation one-hot at 4 bits
    net = nn.Sequential(first, second)
    net(torch.rand(2, 3, 5, 5))  # two images: MACs are per image
    assert (first.macs, second.macs) == (2700, 200)
    counted = count_macs(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 1)), (1, 3, 5, 5))
    assert sorted(counted.values()) == [200, 2700]
    total = first.expected_bitops() + second.expected_bitops()
    assert float(total.detach()) == pytest.approx(100_260, rel=1e-6)
    assert float(expected_bitops(10, [2, 4], torch.tensor([1.0, 0.0]), [8], torch.tensor([1.0]))) == 160


def test_logit_gradients_match_finite_differences():
    acts, weights = _candidates()
    layer = CompositeQuantConv2d(nn.Conv2d(4, 6, 3, padding=1), acts, weights).double()
    x, _, _ = _data()
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.3, -1.0, 0.8]))
        layer.beta.copy_(torch.tensor([1.2, 0.1, -0.4]))
        layer(x)
    loss = lambda: (layer(x) ** 2).mean() + 1e-6 * layer.expected_bitops()  # noqa: E731
    loss().backward()
    for p in (layer.alpha, layer.beta):
        for k in range(p.numel()):
            with torch.no_grad():
                p[k] += 1e-6
                up = float(loss())
                p[k] -= 2e-6
                down = float(loss())
                p[k] += 1e-6
            assert p.grad[k].item() == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)


def test_bad_candidates_are_one_line_errors():
    x, w = torch.rand(1, 2, 5, 5), torch.rand(3, 2, 3, 3)
    with pytest.raises(QsrbenchError, match="2 candidates but \\(3,\\) probabilities"):
        composite_conv2d(x, w, None, [nn.Identity(), nn.Identity()], [nn.Identity()],
                         torch.full((3,), 1 / 3), torch.ones(1))
    with pytest.raises(QsrbenchError, match="0 candidates"):
        composite_conv2d(x, w, None, [], [nn.Identity()], torch.ones(0), torch.ones(1))
    with pytest.raises(QsrbenchError, match=r"joint weights \(2, 2\) for 1 x 2 candidates"):
        branch_sum_conv2d(x, w, None, [nn.Identity()], [nn.Identity(), nn.Identity()], torch.full((2, 2), 0.25))
    layer = CompositeQuantConv2d(nn.Conv2d(2, 3, 3), [nn.Identity()], [LSQQuantizer(4, signed=True)])
    layer(x)
    with pytest.raises(QsrbenchError, match="candidate quantizer Identity has no bit-width"):
        layer.expected_bitops()
