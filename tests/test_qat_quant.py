"""QAT quantizers: gradients of both PAMS α forms against finite differences of their
straight-through surrogates, and the clip's data initialisation against the batch statistic.

Oracle for a quantizer with a straight-through rounding: freeze the rounding residual
``r = round(v) - v`` at the point of evaluation; the surrogate ``(v(α) + r) · α / q`` (released
code: the STE passes the gradient through ``v``) or ``clamp(x, -α, α)`` (PACT form: the rounded
value is treated as the clipped value) is then smooth in α and x, and central finite differences
of it, computed in float64 away from the clip boundary, are what autograd must return.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qsrbench.quant.learned import pams_quant
from qsrbench.quant.qat import LearnedClip, batch_max_abs, pams_quant_released

H = 1e-6


def _points(seed=0, n=64, alpha=1.3):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, generator=g, dtype=torch.float64) * 4 - 2) * alpha  # inside and outside
    x = x[(x.abs() - alpha).abs() > 1e-3]  # away from the kink at |x| = α
    return x, torch.tensor(alpha, dtype=torch.float64)


def _released_surrogate(x, alpha, bits, r):
    q = 2 ** (bits - 1) - 1
    v = torch.clamp(x, -alpha, alpha) * q / alpha
    return (v + r) * alpha / q


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_released_alpha_and_input_gradients_match_finite_differences(bits):
    x, alpha = _points()
    q = 2 ** (bits - 1) - 1
    v = torch.clamp(x, -alpha, alpha) * q / alpha
    r = torch.round(v) - v
    xg, ag = x.clone().requires_grad_(True), alpha.clone().requires_grad_(True)
    out = pams_quant_released(xg, ag, bits)
    assert torch.equal(out.detach(), pams_quant(x, alpha, bits))  # same forward as the PACT form
    w = torch.linspace(0.5, 1.5, len(x), dtype=torch.float64)  # a weighted sum as the loss
    (out * w).sum().backward()
    fd_alpha = ((_released_surrogate(x, alpha + H, bits, r) - _released_surrogate(x, alpha - H, bits, r))
                * w).sum() / (2 * H)
    torch.testing.assert_close(ag.grad, fd_alpha, rtol=1e-6, atol=1e-7)
    fd_x = (_released_surrogate(x + H, alpha, bits, r) - _released_surrogate(x - H, alpha, bits, r)) / (2 * H)
    torch.testing.assert_close(xg.grad, fd_x * w, rtol=1e-6, atol=1e-7)
    inside = x.abs() < alpha
    assert inside.any() and (~inside).any()
    assert (ag.grad != ((x.abs() >= alpha) * torch.sign(x) * w).sum())  # the rounding term counts


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_pact_form_alpha_gradient_matches_finite_differences(bits):
    x, alpha = _points(seed=1)
    ag = alpha.clone().requires_grad_(True)
    pams_quant(x, ag, bits).sum().backward()
    fd = ((torch.clamp(x, -(alpha + H), alpha + H) - torch.clamp(x, -(alpha - H), alpha - H)).sum()
          / (2 * H))
    torch.testing.assert_close(ag.grad, fd, rtol=1e-6, atol=1e-7)


def test_released_gradient_matches_the_authors_expression_under_autograd():
    """Second oracle: autograd through ``round(clamp(x, -α, α)·q/α)·α/q`` with only the rounding
    straight-through (the released code's form, ``model/quant_ops.py``)."""
    x, alpha = _points(seed=2, n=200)
    q = 2 ** 3 - 1
    a1 = alpha.clone().requires_grad_(True)
    act = torch.max(torch.min(x, a1), -a1) * q / a1
    ((torch.round(act) - act).detach() + act).mul(a1 / q).sum().backward()
    a2 = alpha.clone().requires_grad_(True)
    pams_quant_released(x, a2, 4).sum().backward()
    torch.testing.assert_close(a2.grad, a1.grad)


def test_clip_initialisation_is_the_batch_statistic_then_quantizes():
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(3, 4, 5, 5, generator=g) * (i + 1) for i in range(3)]
    per_sample_max = [np.abs(b.numpy()).reshape(3, -1).max(axis=1).mean() for b in batches]
    q = LearnedClip(4, init_steps=3, decay=0.0).train()  # init_mode "bypass"
    for i, b in enumerate(batches):
        out = q(b)
        assert torch.equal(out, b)  # bypassed while initialising
        assert q.alpha.item() == pytest.approx(per_sample_max[i], rel=1e-6)
    assert int(q.seen) == 3 and not q.initializing
    out = q(batches[0])
    assert torch.equal(out, pams_quant(batches[0], q.alpha.detach(), 4))
    ema = LearnedClip(4, init_steps=2, decay=0.5).train()
    ema(batches[0])
    ema(batches[1])
    assert ema.alpha.item() == pytest.approx(0.5 * per_sample_max[0] + 0.5 * per_sample_max[1], rel=1e-6)
    assert batch_max_abs(batches[2]).item() == pytest.approx(per_sample_max[2], rel=1e-6)


def test_clip_state_round_trips_and_eval_needs_initialisation():
    q = LearnedClip(8, init_steps=1).train()
    q(torch.ones(2, 1, 2, 2) * 3)
    fresh = LearnedClip(8, init_steps=1)
    fresh.load_state_dict(q.state_dict())
    assert fresh.alpha.item() == 3.0 and int(fresh.seen) == 1
    with pytest.raises(RuntimeError, match="before its clip was initialised"):
        LearnedClip(8).eval()(torch.ones(1))
    with pytest.raises(ValueError, match="unknown form"):
        LearnedClip(8, form="lsq")


@pytest.mark.parametrize("form", ["pams", "pams-pact", "signed-range", "unsigned-range"])
def test_a_clip_set_from_an_all_zero_input_stays_finite(form):
    q = LearnedClip(4, form=form, init_steps=1).train()
    q(torch.zeros(2, 3, 4, 4))  # e.g. a ReLU output that is dead for the first batch
    assert q.alpha.item() == 0.0
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = q(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all() and torch.isfinite(q.alpha.grad)


def test_pams_warmup_quantizes_without_clipping_with_the_batch_statistic():
    """The PAMS code's first epoch: α := batch mean of per-sample max |x|, then
    round(x·q/α)·α/q without clipping; α's gradient is Σ (round(v) - v)/q over all x."""
    x = torch.tensor([[0.5, -3.0, 1.2], [2.0, 0.1, -0.7]], dtype=torch.float64)
    q = LearnedClip(4, form="pams", init_steps=1, init_mode="unclipped").double().train()
    out = q(x)
    alpha = (3.0 + 2.0) / 2
    v = x * 7 / alpha
    assert q.alpha.item() == alpha
    torch.testing.assert_close(out, torch.round(v) * alpha / 7)
    assert out.abs().max() > alpha  # not clipped
    out.sum().backward()
    torch.testing.assert_close(q.alpha.grad, ((torch.round(v) - v) / 7).sum())
    with pytest.raises(ValueError, match="not available"):
        LearnedClip(4, form="signed-range", init_mode="unclipped")
