"""MSE range calibration: the vectorized float64 search against the per-candidate loop it replaced.

``test_mse_range_speed[<impl>-<case>]`` times both on the data a PTQ calibration sees: a
per-tensor activation sample (65,536 values, the cap of :func:`qsrbench.quant.mse_range`) and
a per-channel weight (64 output channels of 64x3x3). The loop (:func:`mse_range_loop`, the
implementation until this benchmark was added: one fake quantization per candidate ratio in
float32) is kept here as the reference. Both must choose ranges of the same quality: the
vectorized one's float64 squared error is never above the loop's choice (it picks the exact
minimum of the same candidates; the loop's float32 means can miss it by a rounding).
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.quant import fake_quant, minmax_range, mse_range, qparams_from_range


def mse_range_loop(x, bits, symmetric=True, axis=None, grid=100, max_samples=1 << 16):
    """The former implementation: candidates k/grid of min-max, one at a time, float32 errors."""
    lo, hi = minmax_range(x, axis)
    rows = x.detach().reshape(1, -1) if axis is None else x.detach().transpose(0, axis).reshape(x.shape[axis], -1)
    if rows.shape[1] > max_samples:
        pick = torch.randperm(rows.shape[1], generator=torch.Generator().manual_seed(0))[:max_samples]
        rows = rows[:, pick]
    lo_r, hi_r = lo.reshape(-1), hi.reshape(-1)
    best_err = torch.full_like(lo_r, float("inf"))
    best_lo, best_hi = lo_r.clone(), hi_r.clone()
    for k in range(1, grid + 1):
        r = k / grid
        qp = qparams_from_range(lo_r * r, hi_r * r, bits, symmetric=symmetric, axis=0)
        err = ((fake_quant(rows, qp) - rows) ** 2).mean(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_lo = torch.where(better, lo_r * r, best_lo)
        best_hi = torch.where(better, hi_r * r, best_hi)
    return (best_lo[0], best_hi[0]) if axis is None else (best_lo, best_hi)


def _cases():
    g = torch.Generator().manual_seed(0)
    act = torch.relu(torch.randn(1 << 16, generator=g)) ** 1.5  # a heavy-tailed activation sample
    weight = torch.randn(64, 64, 3, 3, generator=g) * 0.05
    return {"activation-per-tensor": (act, dict(symmetric=False, axis=None)),
            "weight-per-channel": (weight, dict(symmetric=True, axis=0))}


CASES = _cases()


def _error(x, lo, hi, bits, symmetric, axis):
    rows = x.reshape(1, -1) if axis is None else x.transpose(0, axis).reshape(x.shape[axis], -1)
    qp = qparams_from_range(lo.reshape(-1), hi.reshape(-1), bits, symmetric=symmetric, axis=0)
    return ((fake_quant(rows.double(), qp) - rows.double()) ** 2).mean(dim=1)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("impl", ["vectorized", "loop"])
def test_mse_range_speed(benchmark, impl, case):
    x, kw = CASES[case]
    fn = mse_range if impl == "vectorized" else mse_range_loop
    lo, hi = benchmark.pedantic(fn, args=(x, 4), kwargs=kw, rounds=3, iterations=1)
    benchmark.extra_info.update({"impl": impl, "case": case, "values": x.numel()})
    ref_lo, ref_hi = mse_range_loop(x, 4, **kw)
    assert torch.all(_error(x, lo, hi, 4, **kw) <= _error(x, ref_lo, ref_hi, 4, **kw) * (1 + 1e-6))
