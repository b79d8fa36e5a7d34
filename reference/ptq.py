"""Uniform post-training quantization (PTQ) of a pretrained SR model: the baseline of every
quantized-SR paper (PAMS, FQSR, DQSS compare against it).

Weights are fake-quantized per tensor or per output channel with a range from the weights
themselves; activations (each quantized layer's input) get a range calibrated on LR patches of
T91 (bicubic-downscaled by the MATLAB-exact imresize), by min-max, percentile (99.99) or
MSE-optimal clipping. First and last layers stay in full precision unless the spec's
``[method] keep_fp`` says otherwise. One spec sweeps granularity × calibration; each combination
is a record *variant* ``"<granularity>, <calibration>"``. Bits come from the spec's ``bits``.

The scoring forward runs in float64 by default (``eval_dtype``; :mod:`qsrbench.simnoise`): in
float32 a 4-bit model's PSNR moves by hundredths of a dB between machines and thread counts (a
value near a rounding boundary lands one step away), more than any useful golden tolerance.
Calibration runs in float64 in either case. With ``noise_repeats = k`` each job also scores its
model k times under last-bit input jitter and records the PSNR spread (``extra.simulation_noise``),
a measure of how sensitive the float32 simulation would be.

References: Krishnamoorthi, "Quantizing deep convolutional networks for efficient inference: a
whitepaper", arXiv 1806.08342 (per-channel weights, calibration); Banner et al., NeurIPS 2019
(MSE clipping); Li et al., PAMS, ECCV 2020, Table 2 (PTQ baselines of SR models).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

import numpy as np
import torch

from qsrbench.data.imresize import imresize
from qsrbench.data.root import data_root_origin
from qsrbench.methods import SRMethod
from qsrbench.models import RangeAdapter, create_model
from qsrbench.quant.config import QuantConfig, TensorQuant
from qsrbench.quant.convert import quantize_model
from qsrbench.quant.modules import calibrate, make_quantizer
from qsrbench.registry import datasets, models, register_method
from qsrbench.simnoise import Float64Eval, jitter_scores, noise_summary
from qsrbench.spec import MethodParams

from qsrbench.bitops import REFERENCE_LR

from .fp import model_layer_costs, pretrained

Granularity = Literal["per-tensor", "per-channel"]
Calibration = Literal["minmax", "percentile", "mse"]


class PTQParams(MethodParams):
    name: Literal["ptq"] = Field(description="uniform post-training quantization")
    granularity: list[Granularity] = Field(["per-channel"], description="weight ranges per tensor or per output channel (one variant each)")
    calibration: list[Calibration] = Field(["minmax"], description="activation range calibrations (one variant each)")
    calib_set: str = Field("T91", description="HR set whose bicubic LR patches calibrate the activations")
    calib_images: int = Field(8, ge=1, description="calibration images (the first of the set)")
    calib_patch: int = Field(64, ge=8, description="LR patch side, pixels")
    keep_fp: list[str] = Field(["first", "last"], description="layers left in full precision (names, or 'first'/'last')")
    eval_dtype: Literal["float32", "float64"] = Field("float64", description=(
        "arithmetic of the scoring forward: float64 makes 4-bit scores independent of the machine "
        "and thread count (qsrbench.simnoise.Float64Eval); float32 is 5x faster on a CPU"))
    noise_repeats: int = Field(0, ge=0, le=32, description=(
        "extra scorings under last-bit input jitter whose PSNR spread is recorded as the "
        "simulation noise (qsrbench.simnoise; 0: not measured)"))


def _variant(granularity: str, calibration: str) -> str:
    return f"{granularity}, {calibration}"


@register_method
class PTQ(SRMethod):
    name = "ptq"
    Params = PTQParams
    citation = "uniform PTQ baseline (Krishnamoorthi 2018; Banner et al. 2019)"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.bits.weight == 32 and spec.bits.activation == 32:
            problems.append(("bits", "PTQ needs weight or activation bits below 32"))
        if spec.model is not None and not spec.model.weights:
            problems.append(("model.weights", "PTQ quantizes a pretrained model: give its weights"))
        return problems

    @classmethod
    def data_sets(cls, spec):
        return [*spec.datasets, spec.method.calib_set]

    def variants(self, spec):
        return [_variant(g, c) for g in spec.method.granularity for c in spec.method.calibration]

    def _config(self, spec, variant: str) -> QuantConfig:
        granularity, _ = variant.split(", ")
        return QuantConfig(
            weight=TensorQuant(bits=spec.bits.weight, granularity=granularity, symmetric=True),
            activation=TensorQuant(bits=spec.bits.activation, granularity="per-tensor", symmetric=False),
            keep_fp=spec.method.keep_fp)

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """Quantized layers at the spec's bits, the ``keep_fp`` layers at 32/32."""
        _, plan = quantize_model(create_model(spec.model.name, scale), self._config(spec, variant),
                                 make_quantizer)
        return model_layer_costs(spec, scale, lambda name, m: plan[name].bits if name in plan else (32, 32),
                                 lr_size)

    def _calibration_batches(self, spec, scale, ctx) -> list[torch.Tensor]:
        data = datasets.get(spec.method.calib_set).load(
            ctx.data_root, [scale], verify=ctx.verify, max_images=spec.method.calib_images,
            origin=data_root_origin(ctx.data_root_arg))
        p, rng, out = spec.method.calib_patch, np.random.default_rng(spec.seed), []
        for img in data.images:
            hr = img.hr_for(scale)
            if hr.shape[0] == 1:
                hr = hr.expand(3, -1, -1)
            lr = imresize(hr.contiguous(), 1.0 / scale).to(torch.float32)
            top = int(rng.integers(0, max(1, lr.shape[-2] - p + 1)))
            left = int(rng.integers(0, max(1, lr.shape[-1] - p + 1)))
            out.append(lr[None, :, top:top + p, left:left + p])
        return out

    def build(self, spec, scale, ctx, variant=None):
        info = models.get(spec.model.name)
        qnet, _ = quantize_model(pretrained(spec, scale, ctx), self._config(spec, variant), make_quantizer)
        _, calibration = variant.split(", ")
        model = RangeAdapter(qnet, info.input_range).eval()
        model = calibrate(model, self._calibration_batches(spec, scale, ctx), calibration, ctx.progress)
        return Float64Eval(model) if spec.method.eval_dtype == "float64" else model

    def run_job(self, spec, job, ctx):
        """The harness's scoring, plus the simulation noise when ``noise_repeats`` asks for it."""
        result = super().run_job(spec, job, ctx)
        if spec.method.noise_repeats:
            model = self.model_for(spec, job.scale, ctx, job.variant)
            data = ctx.dataset(job.dataset, spec.scales, spec.budget.max_images)
            jittered = jitter_scores(model, data, job.scale, spec.protocol, repeats=spec.method.noise_repeats,
                                     seed=spec.seed, device=ctx.device)
            result.extra["simulation_noise"] = noise_summary(result.metrics["psnr"], jittered)
        return result
