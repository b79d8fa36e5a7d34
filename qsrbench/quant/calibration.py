"""Range calibration for post-training quantization: min-max, percentile, MSE-optimal.

Each function returns ``(lo, hi)`` tensors: scalars per tensor (``axis=None``) or one value per
channel along ``axis``. MSE search (as in Banner et al., "Post training 4-bit quantization of
convolutional networks for rapid deployment", NeurIPS 2019, and TensorRT's entropy/MSE
calibrators) scans clip ratios ``k / grid`` of the min-max range and keeps the one whose uniform
fake quantization of ``x`` has the lowest mean squared error.
"""

from __future__ import annotations

import torch

from .uniform import fake_quant, qparams_from_range

__all__ = ["minmax_range", "percentile_range", "mse_range", "CALIBRATIONS"]


def _channels(x: torch.Tensor, axis: int) -> torch.Tensor:
    return x.detach().transpose(0, axis).reshape(x.shape[axis], -1)


def minmax_range(x: torch.Tensor, axis: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if axis is None:
        return x.detach().min(), x.detach().max()
    c = _channels(x, axis)
    return c.min(dim=1).values, c.max(dim=1).values


def percentile_range(x: torch.Tensor, pct: float = 99.99, axis: int | None = None,
                     max_samples: int = 1 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``100 - pct`` and ``pct`` percentiles (over at most ``max_samples`` evenly spaced values)."""
    if not 50 < pct <= 100:
        raise ValueError(f"pct must be in (50, 100], got {pct}")
    q = torch.tensor([1 - pct / 100, pct / 100], dtype=torch.float32)
    rows = x.detach().reshape(1, -1) if axis is None else _channels(x, axis)
    if rows.shape[1] > max_samples:
        rows = rows[:, :: rows.shape[1] // max_samples + 1]
    lo, hi = torch.quantile(rows.float(), q, dim=1)
    return (lo[0], hi[0]) if axis is None else (lo, hi)


def _dequantize64(rows: torch.Tensor, qp) -> torch.Tensor:
    """Fake quantization of float64 ``rows`` on ``qp``'s float32 grid, kept in float64."""
    q = torch.clamp(torch.round(rows * qp.view(torch.reciprocal(qp.scale), rows).double())
                    + qp.view(qp.zero_point, rows), qp.qmin, qp.qmax)
    return (q - qp.view(qp.zero_point, rows)) * qp.view(qp.scale, rows).double()


def mse_range(x: torch.Tensor, bits: int, symmetric: bool = True, axis: int | None = None,
              grid: int = 100, max_samples: int = 1 << 16,
              chunk_values: int = 1 << 23) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipping range among ``k/grid`` x min-max (k = 1..grid) that minimizes the squared
    quantization error. The candidates scale the exact min-max range; the error is measured on
    at most ``max_samples`` values per row, drawn without replacement by a fixed-seed
    permutation (deterministic; calibration activations run to millions of values).

    The errors are float64 means over float64 values, evaluated for a block of candidates at once
    (``chunk_values`` bounds the block's size), and ties go to the smallest ``k``: the chosen
    range does not depend on the thread count or the summation order of the float32 model that
    produced ``x`` beyond its last bits (run the calibration forward in float64 for that:
    :func:`qsrbench.quant.modules.calibrate`)."""
    lo, hi = minmax_range(x, axis)
    rows = x.detach().reshape(1, -1) if axis is None else _channels(x, axis)
    if rows.shape[1] > max_samples:
        pick = torch.randperm(rows.shape[1], generator=torch.Generator().manual_seed(0))[:max_samples]
        rows = rows[:, pick]
    rows = rows.to(torch.float64)
    lo_r, hi_r = lo.reshape(-1).double(), hi.reshape(-1).double()
    n_rows, ratios = rows.shape[0], torch.arange(1, grid + 1, dtype=torch.float64) / grid
    per_block = max(1, chunk_values // rows.numel())
    errors = []
    for start in range(0, grid, per_block):
        r = ratios[start:start + per_block, None]  # (k, 1)
        qp = qparams_from_range((lo_r * r).reshape(-1), (hi_r * r).reshape(-1), bits,
                                symmetric=symmetric, axis=0)
        block = rows.repeat(len(r), 1)  # (k * rows, values)
        err = ((_dequantize64(block, qp) - block) ** 2).mean(dim=1)
        errors.append(err.reshape(len(r), n_rows))
    best = ratios[torch.cat(errors).argmin(dim=0)]  # first minimum: the smallest k among ties
    best_lo, best_hi = (lo_r * best).to(lo.dtype), (hi_r * best).to(hi.dtype)
    return (best_lo[0], best_hi[0]) if axis is None else (best_lo, best_hi)


CALIBRATIONS = {"minmax": minmax_range, "percentile": percentile_range, "mse": mse_range}
