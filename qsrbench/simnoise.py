"""The numerical noise of a fake-quantized model's score: how far its PSNR moves when only the
last bits of the arithmetic change.

A fake-quantized network rounds every quantized layer's input to its grid. Its float32
convolutions differ in their last bits between machines, kernels and thread counts (summation
order), and wherever a value sits that close to a rounding boundary it lands one quantization
step away; at 4 bits one step is a large change, and it propagates. The PSNR of a 4-bit model is
therefore a chaotic function of float32 rounding: measured here, IMDN x2 W4A4 (MSE calibration,
Set5) scored 35.3243 dB at 1 thread and 35.3257 dB at 2 on one machine and 35.3496 dB on another
machine of the same type, with identical calibrated ranges (the calibration runs in float64).
Perturbing every convolution's output by 1e-5 (a different kernel's accumulation error) moved
RFDN x4 W4A4 (min-max) over 20.307-20.394 dB, where last-bit input jitter moved it not at all and
another machine scored 20.331 against 20.387 here: the noise depends on the kernels a machine picks.

The remedy is :class:`Float64Eval`: the fake-quantized network runs in float64 (its input and
output stay float32). Rounding differences then sit near 1e-16 of a value instead of 1e-7, a
rounding boundary is essentially never straddled, and the score is the same at any thread count
(IMDN x2 W4A4, MSE: 35.2921 dB at 1 and 2 threads) and on any machine, at about 5x the forward
time of float32 on a CPU. Its score differs from a float32 forward by that noise (35.29 vs
35.32-35.35 dB here): it is the simulation's value, the float32 ones are samples around it.

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

__all__ = ["JITTER_REL", "NOISE_BAND", "Float64Eval", "InputJitter", "jitter_scores", "noise_summary",
           "tolerance_needed"]

JITTER_REL = 2.0 ** -22
NOISE_BAND = 4.0 * math.sqrt(2.0)


class Float64Eval(nn.Module):
    """``net`` (converted to float64 in place) applied to float32 inputs: float64 inside, the
    output cast back to the input's dtype; the wrapped network is ``net``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(torch.float64)).to(x.dtype)


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
