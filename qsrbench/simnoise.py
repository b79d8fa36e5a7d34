"""The numerical noise of a fake-quantized model's score: how far its PSNR moves when only the
last bits of the arithmetic change.

A fake-quantized network rounds every quantized layer's input to its grid. Its float32
convolutions differ in their last bits between machines, kernels and thread counts (summation
order), and wherever a value sits that close to a rounding boundary it lands one quantization
step away; at 4 bits one step is a large change, and it propagates. The PSNR of a 4-bit model is
therefore a chaotic function of float32 rounding: measured here, IMDN x2 W4A4 (MSE calibration,
Set5) scored 35.3243 dB at 1 thread and 35.3257 dB at 2 on one machine and 35.3496 dB on another
machine of the same type, with identical calibrated ranges (the calibration runs in float64).
No tolerance below that spread can hold across machines, so it is measured, not assumed.

:func:`jitter_scores` re-scores a model ``repeats`` times with its LR input multiplied by
``1 + u`` (``u`` uniform in ``[-rel, rel]``, default ``rel = 2**-22``: one or two float32 ulps),
a perturbation that changes nothing a float64 or a continuous model would notice and that
stands in for the last-bit differences between machines. :func:`noise_summary` gives the
sample standard deviation of those PSNRs and their range; :data:`NOISE_BAND` is how many such
standard deviations a golden's tolerance must span: the difference of two independent noisy
scores has standard deviation ``sqrt(2) σ``, and a gate at 4 of those (``4 sqrt(2) σ ≈ 5.7 σ``)
false-alarms with probability about 6e-5 under normality.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .evaluate import evaluate_sr

__all__ = ["JITTER_REL", "NOISE_BAND", "InputJitter", "jitter_scores", "noise_summary",
           "tolerance_needed"]

JITTER_REL = 2.0 ** -22
NOISE_BAND = 4.0 * math.sqrt(2.0)


class InputJitter(nn.Module):
    """``net(x · (1 + u))`` with ``u ~ U[-rel, rel]`` drawn per element from a seeded generator."""

    def __init__(self, net: nn.Module, seed: int, rel: float = JITTER_REL):
        super().__init__()
        self.net, self.rel = net, float(rel)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.rand(x.shape, generator=self.generator, dtype=torch.float64).to(x.device)
        return self.net(x * (1.0 + self.rel * (2.0 * u - 1.0)).to(x.dtype))


def jitter_scores(model: nn.Module, data, scale: int, protocol, *, repeats: int, seed: int = 0,
                  rel: float = JITTER_REL, device: str | torch.device = "cpu") -> list[float]:
    """PSNR (dB, the protocol's channel) of ``model`` on ``data`` under ``repeats`` input jitters
    (seeds ``seed .. seed + repeats - 1``)."""
    if repeats < 0:
        raise ValueError(f"repeats must be >= 0, got {repeats}")
    return [float(evaluate_sr(InputJitter(model, seed + k, rel), data, scale, protocol,
                              device=device, ssim=False).psnr) for k in range(repeats)]


def noise_summary(psnr: float, jittered: list[float], rel: float = JITTER_REL) -> dict:
    """What a record keeps: the plain score, the jittered ones, their sample sd and range (dB)."""
    values = np.asarray([psnr, *jittered], np.float64)
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"metric": "psnr", "rel": rel, "repeats": len(jittered), "jittered": list(jittered),
            "sd": sd, "range": float(values.max() - values.min())}


def tolerance_needed(summary: dict) -> float:
    """The smallest golden tolerance (dB) the measured noise allows: :data:`NOISE_BAND` · sd, and
    never less than the range actually seen."""
    return max(NOISE_BAND * summary["sd"], summary["range"])
