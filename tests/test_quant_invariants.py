"""Quantizer invariants, exhaustive small-bit checks against an independent integer reference, and
learned-parameter gradients against hand-derived formulas and finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qsrbench.errors import QsrbenchError
from qsrbench.quant import (binarize, dorefa_weight, fake_quant, from_int, lsq_quant, mse_range,
                            pact, pams_quant, percentile_range, minmax_range, qparams_from_range,
                            quant_noise, to_int)
from qsrbench.quant.invariants import (assert_quantizer_invariants, check_integer_form,
                                       check_per_channel, check_quantizer)
from qsrbench.quant.modules import UniformQuantizer, get_quantizer


def dense(lo: float, hi: float, n: int = 4097) -> torch.Tensor:
    """A dense sweep over 1.5x the range, with the range ends and zero included exactly."""
    span = hi - lo
    x = torch.linspace(lo - 0.25 * span, hi + 0.25 * span, n)
    return torch.cat([x, torch.tensor([lo, hi, 0.0, -0.0])])


def ref_symmetric(x: np.ndarray, bits: int, bound: float) -> np.ndarray:
    """Independent reference: narrow signed grid, step bound/(2^(b-1)-1), round half to even of
    x times the float32 reciprocal of the step (ATen's fake-quant arithmetic)."""
    qmax = 2 ** (bits - 1) - 1
    s = np.float32(bound) / np.float32(qmax)
    inv = np.float32(1) / s
    return (np.clip(np.round(x.astype(np.float32) * inv), -qmax, qmax) * s).astype(np.float32)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_symmetric_uniform_exhaustive(bits):
    qp = qparams_from_range(torch.tensor(-1.5), torch.tensor(1.5), bits, symmetric=True)
    x = dense(-1.5, 1.5)
    y = fake_quant(x, qp)
    assert np.array_equal(y.numpy(), ref_symmetric(x.numpy(), bits, 1.5))
    step = 1.5 / (2 ** (bits - 1) - 1)
    assert_quantizer_invariants(lambda t: fake_quant(t, qp), x, bits=bits, lo=-1.5, hi=1.5,
                                step=step, zero_exact=True)
    assert not check_integer_form(lambda t: fake_quant(t, qp), lambda t: to_int(t, qp),
                                  lambda q: from_int(q, qp), x)
    codes = to_int(x, qp)
    assert codes.min() == -(2 ** (bits - 1) - 1) and codes.max() == 2 ** (bits - 1) - 1


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_affine_uniform_exhaustive(bits):
    lo, hi = -0.3, 1.2  # the range contains 0, so zero is exact
    qp = qparams_from_range(torch.tensor(lo), torch.tensor(hi), bits, symmetric=False)
    s = np.float32((hi - lo) / (2**bits - 1))
    zp = np.clip(np.round(0 - np.float32(lo) / s), 0, 2**bits - 1)
    x = dense(lo, hi)
    want = ((np.clip(np.round(x.numpy() * (np.float32(1) / s)) + zp, 0, 2**bits - 1) - zp) * s).astype(np.float32)
    assert np.array_equal(fake_quant(x, qp).numpy(), want)
    lo_q, hi_q = float((0 - zp) * s), float((2**bits - 1 - zp) * s)
    assert_quantizer_invariants(lambda t: fake_quant(t, qp), x, bits=bits, lo=lo_q, hi=hi_q,
                                step=float(s), zero_exact=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=1, max_size=64),
       st.integers(2, 8), st.floats(0.05, 50))
def test_uniform_invariants_property(values, bits, bound):
    qp = qparams_from_range(torch.tensor(-bound), torch.tensor(bound), bits, symmetric=True)
    x = torch.tensor(values + [bound, -bound, 0.0], dtype=torch.float32)
    step = float(qp.scale)
    assert not check_quantizer(lambda t: fake_quant(t, qp), x, bits=bits, lo=-step * qp.qmax,
                               hi=step * qp.qmax, step=step, zero_exact=True)


def _ties(scale: torch.Tensor, qmin: int, qmax: int, zp: int = 0) -> torch.Tensor:
    """Every exact half-step (k + 1/2)·scale of the grid, and one beyond each end."""
    k = torch.arange(qmin - zp - 1, qmax - zp + 1, dtype=torch.float32)
    return (k + 0.5) * scale


@pytest.mark.parametrize("bits", [4, 8])
def test_fake_quant_matches_torch_per_tensor_on_ties(bits):
    """Bit for bit equal to ``torch.fake_quantize_per_tensor_affine`` (the convention the
    docstring promises), on every exact tie of 200 random grids and on random values. Dividing
    by the scale instead of multiplying by its float32 reciprocal differs at some ties."""
    g = torch.Generator().manual_seed(bits)
    mismatches_of_division = 0
    for symmetric in (True, False):
        for _ in range(100):
            lo = -float(torch.rand(1, generator=g)) * 3 - 1e-3
            hi = float(torch.rand(1, generator=g)) * 3 + 1e-3
            qp = qparams_from_range(torch.tensor(lo), torch.tensor(hi), bits, symmetric=symmetric)
            scale, zp = float(qp.scale), int(qp.zero_point)
            x = torch.cat([_ties(qp.scale, qp.qmin, qp.qmax, zp), torch.randn(2000, generator=g) * hi])
            want = torch.fake_quantize_per_tensor_affine(x, scale, zp, qp.qmin, qp.qmax)
            assert torch.equal(fake_quant(x, qp), want)
            divided = (torch.clamp(torch.round(x / qp.scale) + zp, qp.qmin, qp.qmax) - zp) * qp.scale
            mismatches_of_division += int((divided != want).sum())
    assert mismatches_of_division > 0  # the ties do exercise the convention


@pytest.mark.parametrize("axis", [0, 1])
def test_fake_quant_matches_torch_per_channel_on_ties(axis):
    g = torch.Generator().manual_seed(axis)
    bits, channels = 4, 16
    bound = torch.rand(channels, generator=g) * 2 + 1e-3
    qp = qparams_from_range(-bound, bound, bits, symmetric=True, axis=axis)
    ties = torch.stack([_ties(s, qp.qmin, qp.qmax) for s in qp.scale])  # (channels, 16)
    x = torch.cat([ties, torch.randn(channels, 500, generator=g)], dim=1)
    x = x if axis == 0 else x.T.contiguous()
    want = torch.fake_quantize_per_channel_affine(x, qp.scale, qp.zero_point.to(torch.int32),
                                                  axis, qp.qmin, qp.qmax)
    assert torch.equal(fake_quant(x, qp), want)


def test_per_channel_equals_per_tensor_by_channel():
    w = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    lo, hi = minmax_range(w, axis=0)
    qp = qparams_from_range(lo, hi, 4, symmetric=True, axis=0)

    def per_tensor(c):
        qpc = qparams_from_range(lo[c], hi[c], 4, symmetric=True)
        return lambda t: fake_quant(t, qpc)

    assert not check_per_channel(lambda t: fake_quant(t, qp), per_tensor, w, axis=0)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_pams_exhaustive_and_alpha_gradient(bits):
    alpha = torch.tensor(1.2, requires_grad=True)
    x = dense(-1.2, 1.2)
    y = pams_quant(x, alpha, bits)
    assert np.array_equal(y.detach().numpy(), ref_symmetric(x.numpy(), bits, 1.2))
    assert_quantizer_invariants(lambda t: pams_quant(t, alpha.detach(), bits), x, bits=bits,
                                lo=-1.2, hi=1.2, step=1.2 / (2 ** (bits - 1) - 1), zero_exact=True)
    # dL/dα for L = sum(y): PACT-style STE, sign(x) for |x| >= α, 0 inside.
    y.sum().backward()
    want = float(torch.sign(x[x.abs() >= 1.2]).sum())
    assert alpha.grad.item() == pytest.approx(want)
    # finite differences agree where the STE is exact: every |x| > α moves with α one for one
    far = torch.tensor([-3.0, 2.5, 4.0])
    h = 1e-3
    fd = (pams_quant(far, torch.tensor(1.2 + h), bits).sum()
          - pams_quant(far, torch.tensor(1.2 - h), bits).sum()) / (2 * h)
    assert fd.item() == pytest.approx(float(torch.sign(far).sum()), abs=1e-3)


def test_pact_exhaustive_and_alpha_gradient():
    alpha = torch.tensor(2.0, requires_grad=True)
    x = dense(0.0, 2.0)
    y = pact(x, alpha, 3)
    s = np.float32(2.0) / np.float32(7)
    want = (np.round(np.clip(x.numpy(), 0, 2.0) / s) * s).astype(np.float32)
    assert np.allclose(y.detach().numpy(), want, atol=1e-6)
    assert_quantizer_invariants(lambda t: pact(t, alpha.detach(), 3), x, bits=3, lo=0.0, hi=2.0,
                                step=float(s), zero_exact=True)
    y.sum().backward()
    assert alpha.grad.item() == float((x >= 2.0).sum())  # PACT Eq. 3: 1 where x >= α


def test_lsq_forward_and_step_gradient_by_hand():
    step = torch.tensor(0.5, requires_grad=True)
    x = torch.tensor([-3.0, -0.6, 0.1, 0.74, 2.0])  # 3 bits signed: Qn = -4, Qp = 3
    y = lsq_quant(x, step, 3, grad_scale=False)
    # v = x/s = [-6, -1.2, 0.2, 1.48, 4] → clamp [-4, 3] → round → [-4, -1, 0, 1, 3]
    assert y.tolist() == pytest.approx([-2.0, -0.5, 0.0, 0.5, 1.5])
    y.sum().backward()
    # ∂ŷ/∂s: Qn below, round(v) - v inside, Qp above: -4 + (-1 + 1.2) + (0 - 0.2) + (1 - 1.48) + 3
    assert step.grad.item() == pytest.approx(-4 + 0.2 - 0.2 - 0.48 + 3)
    xs = x.clone().requires_grad_(True)
    lsq_quant(xs, step.detach(), 3).sum().backward()
    assert xs.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    g = torch.tensor(0.5, requires_grad=True)
    lsq_quant(x, g, 3, grad_scale=True).sum().backward()
    assert g.grad.item() == pytest.approx(step.grad.item() / math.sqrt(5 * 3))


def test_lsq_step_gradient_matches_finite_differences_away_from_ties():
    x = torch.tensor([0.3, -0.45, 0.9, -5.0, 5.0])
    step = 0.37
    h = 1e-4
    # Between rounding boundaries round(v) is locally constant, so d/ds [round(x/s)·s] = round(x/s)
    # exactly; LSQ's (round(v) - v) adds the -v term of its STE. Compare the clipped elements
    # (exact) and the inside ones against the formula.
    fd = (lsq_quant(x, torch.tensor(step + h), 3).sum() - lsq_quant(x, torch.tensor(step - h), 3).sum()) / (2 * h)
    assert fd.item() == pytest.approx(sum(round(v / step) if -4 < v / step < 3 else
                                          (-4 if v / step <= -4 else 3) for v in x.tolist()), abs=1e-2)


def test_binarize_scale_and_ste():
    w = torch.tensor([[[[0.5]], [[-1.5]]], [[[0.0]], [[-0.25]]]])  # 2 output channels
    b = binarize(w, axis=0)
    # channel 0: mean|w| = (0.5 + 1.5)/2 = 1.0; channel 1: (0 + 0.25)/2 = 0.125; sign(0) = +1
    assert b.flatten().tolist() == [1.0, -1.0, 0.125, -0.125]
    wg = torch.tensor([0.5, -1.5, 2.0, -0.2], requires_grad=True)
    binarize(wg, axis=None, ste="clipped").sum().backward()
    scale = float(torch.tensor([0.5, 1.5, 2.0, 0.2]).mean())
    assert wg.grad.tolist() == pytest.approx([scale, 0.0, 0.0, scale])
    assert torch.unique(binarize(torch.randn(64), axis=None)).numel() == 2


def test_binarize_1d_per_channel_scales_each_element():
    """A 1-D tensor binarized along axis 0 has one channel per element: scale |w_i|, so the
    output is w itself (the bug: the mean over the whole tensor)."""
    w = torch.tensor([0.5, -2.0, 0.25])
    assert binarize(w, axis=0).tolist() == [0.5, -2.0, 0.25]
    assert binarize(w, axis=-1).tolist() == [0.5, -2.0, 0.25]
    assert binarize(w, axis=None).tolist() == pytest.approx([0.916667, -0.916667, 0.916667], abs=1e-6)


def test_dorefa_weight_levels():
    w = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    for k in (2, 3, 4):
        y = dorefa_weight(w, k)
        levels = torch.unique(y)
        assert levels.numel() <= 2**k and y.abs().max() <= 1.0
        n = 2**k - 1
        assert torch.allclose((levels + 1) / 2 * n, torch.round((levels + 1) / 2 * n), atol=1e-5)
    assert torch.unique(dorefa_weight(w, 1)).numel() == 2


def test_quant_noise_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(100_000)
    n = quant_noise(x, 0.2, generator=g)
    assert n.abs().max() <= 0.1
    # U(-0.1, 0.1): mean 0 (sd of the sample mean 0.2/sqrt(12·1e5) ≈ 1.8e-4), variance 0.04/12
    assert abs(n.mean().item()) < 1e-3
    assert n.var().item() == pytest.approx(0.04 / 12, rel=0.02)


def test_calibrations():
    x = torch.cat([torch.linspace(-1, 1, 10001), torch.tensor([50.0])])  # one outlier
    assert minmax_range(x)[1].item() == 50.0
    assert percentile_range(x, 99.9)[1].item() < 1.01
    lo, hi = mse_range(x, 4, symmetric=True)
    assert hi.item() < 50.0  # clipping the outlier lowers the MSE at 4 bits
    lo_c, hi_c = minmax_range(torch.tensor([[1.0, -2.0], [3.0, 0.5]]), axis=0)
    assert lo_c.tolist() == [-2.0, 0.5] and hi_c.tolist() == [1.0, 3.0]


def test_ptq_activation_quantizer_observes_then_freezes():
    q = UniformQuantizer(8, symmetric=False, axis=None, calibration="minmax")
    with pytest.raises(QsrbenchError, match="before calibration"):
        q(torch.ones(2))
    q.observing = True
    q(torch.tensor([0.0, 2.0]))
    q(torch.tensor([-1.0, 1.0]))
    q.freeze()
    assert q(torch.tensor([-1.0, 2.0])).tolist() == pytest.approx([-1.0, 2.0], abs=3 / 255 / 2)


@pytest.mark.parametrize("bits", [0, 33, -1, 2.5, True])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        qparams_from_range(torch.tensor(-1.0), torch.tensor(1.0), bits)


def test_unknown_quantizer_suggests():
    with pytest.raises(QsrbenchError, match="did you mean 'pams'"):
        get_quantizer("pamz")


def test_the_checker_reports_a_quantizer_without_gradient_path():
    """A quantizer that detaches its output is a violation to report, not an exception."""
    x = dense(-1.0, 1.0, 257)
    q = lambda t: fake_quant(t.detach(), qparams_from_range(torch.tensor(-1.0), torch.tensor(1.0), 4))  # noqa: E731
    assert check_quantizer(q, x, bits=4, lo=-1.0, hi=1.0) == ["no gradient reaches the input"]


def test_the_checker_catches_a_broken_quantizer():
    """A floor-based 'quantizer' violates the step/2 bound; a non-idempotent one is caught too."""
    x = dense(-1.0, 1.0)
    floor_q = lambda t: torch.clamp(torch.floor(t / 0.25), -4, 4) * 0.25  # noqa: E731
    assert any("step/2" in p for p in check_quantizer(floor_q, x, bits=4, lo=-1, hi=1, step=0.25,
                                                      gradient=False))
    shrink = lambda t: torch.round(t * 0.9 / 0.25) * 0.25  # noqa: E731
    assert any("idempotent" in p for p in check_quantizer(shrink, x, bits=8, lo=-1, hi=1,
                                                          gradient=False))
