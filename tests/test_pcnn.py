"""PCNN's projection (qsrbench/quant/pcnn.py) against independent oracles: the forward with W = 1
equals XNOR with one scale per tensor (``binarize(C, axis=None)``); the DBPP backward equals autograd
of an explicit surrogate (the clipped straight-through term ``Σ δĈ · clamp(W∘C, −1, 1)`` plus the
projection loss ``λ/2 ||Ĉ − W∘(C + ηδĈ)||²`` with Ĉ and δĈ held constant), itself checked by finite
differences; the loss by hand; the layer is a 1-bit conv for the BitOps counter and learns its W."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qsrbench.quant.binary import binarize
from qsrbench.quant.binary_layers import BinaryConv2d, layer_bits
from qsrbench.quant.pcnn import PCNNConv2d, is_projection_param, pcnn_convs, pcnn_project, projection_loss


def _kernels(seed=0, shape=(4, 3, 3, 3), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * 0.8, 0.5 + torch.rand(shape[2:], generator=g, dtype=dtype)


def test_forward_with_unit_projection_is_xnor_per_tensor():
    c, _ = _kernels()
    out = pcnn_project(c, torch.ones(3, 3, dtype=c.dtype))
    assert torch.equal(out, binarize(c, axis=None))
    assert torch.equal(out.abs().unique(), c.abs().mean().reshape(1))


def test_forward_rules_mean_and_elementwise():
    c, w = _kernels()
    w[0, 0] = -1.0  # one negative entry: the elementwise rule flips that position's sign
    mean_rule = pcnn_project(c, w, forward="mean")
    elem_rule = pcnn_project(c, w, forward="elementwise")
    a = c.abs().mean()
    assert torch.equal(mean_rule, a * torch.where(w.mean() * c >= 0, 1.0, -1.0).to(c.dtype))
    assert torch.equal(elem_rule[..., 0, 0], -mean_rule[..., 0, 0])
    assert torch.equal(elem_rule[..., 1:, :], mean_rule[..., 1:, :])
    with pytest.raises(ValueError, match="forward must be"):
        pcnn_project(c, w, forward="max")
    with pytest.raises(ValueError, match="does not match kernels"):
        pcnn_project(c, torch.ones(5, 5, dtype=c.dtype))


def _surrogate(c, w, c_hat, g, lam, eta):
    """The loss whose autograd gradient DBPP prescribes (module docstring), Ĉ and δĈ constant."""
    ste = (g * torch.clamp(w * c, -1.0, 1.0)).sum()
    return ste + 0.5 * lam * (c_hat - w * (c + eta * g)).pow(2).sum()


@pytest.mark.parametrize("lam,eta,rule", [(0.0, 0.0, "mean"), (1e-1, 0.0, "mean"), (0.5, 0.3, "mean"),
                                          (0.5, 0.3, "elementwise")])
def test_backward_equals_autograd_of_the_dbpp_surrogate(lam, eta, rule):
    c, w = _kernels(1)
    g = torch.randn(c.shape, generator=torch.Generator().manual_seed(2), dtype=c.dtype)  # δĈ
    c1, w1 = c.clone().requires_grad_(), w.clone().requires_grad_()
    c_hat = pcnn_project(c1, w1, lam, eta, rule)
    c_hat.backward(g)
    c2, w2 = c.clone().requires_grad_(), w.clone().requires_grad_()
    _surrogate(c2, w2, c_hat.detach(), g, lam, eta).backward()
    assert torch.allclose(c1.grad, c2.grad, rtol=1e-12, atol=1e-12)
    assert torch.allclose(w1.grad, w2.grad, rtol=1e-12, atol=1e-12)
    assert ((w * c).abs() > 1).any() and ((w * c).abs() <= 1).any()  # both sides of the clip exercised


def test_surrogate_gradient_matches_finite_differences():
    c, w = _kernels(3, shape=(2, 2, 3, 3))
    g = torch.randn(c.shape, generator=torch.Generator().manual_seed(4), dtype=c.dtype)
    c_hat = pcnn_project(c, w).detach()
    lam, eta = 0.7, 0.2
    w1 = w.clone().requires_grad_()
    _surrogate(c, w1, c_hat, g, lam, eta).backward()
    h = 1e-6
    for idx in [(0, 0), (1, 2), (2, 1)]:
        wp, wm = w.clone(), w.clone()
        wp[idx] += h
        wm[idx] -= h
        fd = (_surrogate(c, wp, c_hat, g, lam, eta) - _surrogate(c, wm, c_hat, g, lam, eta)) / (2 * h)
        assert float(fd) == pytest.approx(float(w1.grad[idx]), rel=1e-6, abs=1e-8)


def test_projection_loss_by_hand():
    c = torch.tensor([[[[0.5, -2.0]]]], dtype=torch.float64)
    w = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    c_hat = pcnn_project(c, w)  # a = 1.25; mean(W) = 1.5 > 0: signs of C → [1.25, -1.25]
    assert c_hat.flatten().tolist() == [1.25, -1.25]
    g = torch.tensor([[[[1.0, 1.0]]]], dtype=torch.float64)
    # λ/2 · ((1.25 − 1·(0.5 + 0.1))² + (−1.25 − 2·(−2 + 0.1))²) = 0.5 · (0.4225 + 6.5025) = 3.4625
    assert float(projection_loss(c, w, c_hat, g, lam=1.0, eta=0.1)) == pytest.approx(3.4625)


def test_the_layer_is_a_one_bit_conv_and_learns_its_projection():
    torch.manual_seed(0)
    net = pcnn_convs(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                   nn.Conv2d(8, 4, 3, padding=1)), lam=1e-3)
    convs = [m for m in net.modules() if isinstance(m, PCNNConv2d)]
    assert len(convs) == 2 and all(isinstance(m, BinaryConv2d) for m in convs)
    assert layer_bits("0", convs[0]) == (1, 32)
    assert [n for n, _ in net.named_parameters() if is_projection_param(n)] == ["0.projection", "3.projection"]
    x, y = torch.randn(16, 3, 8, 8), torch.randn(16, 4, 8, 8)
    ref = F.conv2d(x, binarize(convs[0].weight, axis=None), convs[0].bias, padding=1)
    assert torch.allclose(convs[0](x), ref, atol=1e-6)  # W = 1 at init: XNOR per tensor
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    start = [m.projection.detach().clone() for m in convs]
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(not torch.equal(s, m.projection) for s, m in zip(start, convs))
    assert losses[-1] < losses[0]


def test_only_binary_converts_the_binarized_convs_and_keeps_their_input_rule():
    torch.manual_seed(0)
    plain = nn.Conv2d(4, 4, 1)
    net = nn.Sequential(BinaryConv2d(3, 4, 3, padding=1, binary_input=True), plain,
                        nn.Sequential(BinaryConv2d(4, 4, 3, padding=1, binary_input=False)))
    w0 = net[0].weight.detach().clone()
    pcnn_convs(net, None, lam=2e-3, forward_mode="elementwise", only_binary=True)
    assert net[1] is plain and type(net[1]) is nn.Conv2d
    first, inner = net[0], net[2][0]
    assert isinstance(first, PCNNConv2d) and isinstance(inner, PCNNConv2d)
    assert (first.binary_input, inner.binary_input) == (True, False)
    assert (first.lam, first.forward_mode, inner.lam, inner.forward_mode) == (2e-3, "elementwise", 2e-3, "elementwise")
    assert torch.equal(first.weight, w0)
    forced = pcnn_convs(nn.Sequential(BinaryConv2d(3, 4, 3, binary_input=True)), binary_input=False, only_binary=True)
    assert forced[0].binary_input is False
