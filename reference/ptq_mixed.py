"""Mixed-precision post-training quantization of a fixed SR model: per-layer bits chosen by
single-layer sensitivity under a BitOps budget (the mixed-precision baseline QuantNAS compares
its searched networks with).

Shvetsov et al., "QuantNAS for super resolution" (IEEE Access 2024, arXiv 2208.14839) claim
"a better PSNR/BitOps trade-off than uniform or mixed precision quantization of fixed
architectures"; this module is the second kind of baseline, built the simplest standard way (no
code copied; the idea of ranking layers by the error each one causes when it alone is quantized
is the sensitivity analysis of Wu et al., "Integer Quantization for Deep Learning Inference",
arXiv 2004.09602, Sec. 5, there used to leave layers unquantized; HAWQ, Dong et al. ICCV 2019,
ranks by Hessian traces instead):

1. **Sensitivity** of each quantized layer ℓ: the model with *only* ℓ quantized at the spec's
   (low) bits, every other layer FP, calibrated like PTQ (:func:`qsrbench.quant.modules.calibrate`,
   the variant's granularity and calibration); its output's mean squared error against the FP
   model's on the calibration patches (``calib_set``, LR patches of the training set T91; never a
   test set), in float64, in the model's output units. Every layer's input range comes from one
   calibration pass with FP weights (the inputs the single-layer models feed it; equal to
   calibrating each, tested), so each layer costs one scoring pass.
2. **Allocation** (:func:`allocate`): every layer starts at the low bits; layers are promoted to
   ``high_bits`` (weights and activations) greedily by sensitivity per extra BitOps, largest first,
   each only if the total stays within the budget ``low + budget · (high − low)`` (the BitOps of
   the all-low and all-high networks, first and last layers FP in both); a layer that does not
   fit is skipped and smaller ones are still tried (greedy knapsack).
3. The mixed network is quantized and calibrated as PTQ (same calibration data) and scored in
   float64 (``eval_dtype``).

One spec sweeps granularity × calibration × budget; each is a variant
``"<granularity>, <calibration>, budget <b>"``. Records carry ``extra.mixed_precision`` (mean bits
over the quantized layers, unweighted, and the bits of each) and ``extra.allocation`` (budget,
high bits, each layer's sensitivity, the promoted layers in order). Sensitivities are computed
once per scale, granularity and calibration and shared by the budgets.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field

from qsrbench.bitops import REFERENCE_LR
from qsrbench.errors import QsrbenchError
from qsrbench.models import RangeAdapter, create_model
from qsrbench.quant.config import LayerBits, QuantConfig, TensorQuant
from qsrbench.quant.convert import QuantLayer, quantize_model
from qsrbench.quant.modules import UniformQuantizer, calibrate, make_quantizer
from qsrbench.registry import models, register_method
from qsrbench.simnoise import Float64Eval

from .fp import model_layer_costs, pretrained
from .ptq import PTQ, PTQParams

__all__ = ["PTQMixed", "PTQMixedParams", "allocate", "output_mse"]


class PTQMixedParams(PTQParams):
    name: Literal["ptq-mixed"] = Field(description=(
        "mixed-precision PTQ: sensitivity-ordered bits under a BitOps budget"))
    high_bits: int = Field(8, ge=2, le=16, description="bits (weights and activations) of a promoted layer")
    sensitivity_images: int | None = Field(None, ge=1, description=(
        "calibration patches that rank the layers (the first ones; None: all calib_images)"))
    budgets: list[float] = Field([0.25], min_length=1, description=(
        "BitOps budgets as fractions of the way from the all-low to the all-high network (one variant each)"))


def allocate(sensitivity: dict[str, float], extra_bitops: dict[str, int], cap: int) -> list[str]:
    """Layers to promote, in promotion order: by ``sensitivity / extra_bitops`` descending (ties:
    name), each while the running sum of ``extra_bitops`` stays ≤ ``cap``; layers that do not fit
    are skipped."""
    order = sorted(sensitivity, key=lambda n: (-sensitivity[n] / max(extra_bitops[n], 1), n))
    chosen, spent = [], 0
    for name in order:
        if spent + extra_bitops[name] <= cap:
            chosen.append(name)
            spent += extra_bitops[name]
    return chosen


@torch.no_grad()
def output_mse(model: torch.nn.Module, reference: list[torch.Tensor], batches: list[torch.Tensor]) -> float:
    """Mean squared difference of ``model``'s float64 outputs from ``reference`` over ``batches``."""
    model = model.to(torch.float64).eval()
    total, count = 0.0, 0
    for x, ref in zip(batches, reference):
        d = model(x.to(torch.float64)) - ref
        total += float(d.pow(2).sum())
        count += d.numel()
    return total / count


def _parse(variant: str) -> tuple[str, str, float]:
    granularity, calibration, budget = variant.split(", ")
    return granularity, calibration, float(budget.removeprefix("budget "))


@register_method
class PTQMixed(PTQ):
    name = "ptq-mixed"
    Params = PTQMixedParams
    citation = "mixed-precision PTQ by single-layer sensitivity (Wu et al. 2020, arXiv 2004.09602)"

    def __init__(self) -> None:
        super().__init__()
        self._sensitivity: dict[tuple, dict[str, float]] = {}
        self._promoted: dict[tuple, list[str]] = {}

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        low = max(spec.bits.weight, spec.bits.activation)
        if spec.method.high_bits <= low:
            problems.append(("method.high_bits", f"must exceed the spec's bits ({low}) to promote a layer"))
        bad = [b for b in spec.method.budgets if not 0 < b < 1]
        if bad:
            problems.append(("method.budgets", f"each budget is a fraction in (0, 1), got {bad}"))
        return problems

    def variants(self, spec):
        return [f"{g}, {c}, budget {b:g}" for g in spec.method.granularity for c in spec.method.calibration
                for b in spec.method.budgets]

    def _mixed_config(self, spec, granularity: str, promoted=(), keep_fp=None) -> QuantConfig:
        high = spec.method.high_bits
        return QuantConfig(
            weight=TensorQuant(bits=spec.bits.weight, granularity=granularity, symmetric=True),
            activation=TensorQuant(bits=spec.bits.activation, granularity="per-tensor", symmetric=False),
            keep_fp=spec.method.keep_fp if keep_fp is None else keep_fp,
            layers={n: LayerBits(weight=high, activation=high) for n in promoted})

    def _layer_bits(self, spec, scale, granularity, promoted=()) -> dict[str, tuple[int, int]]:
        _, plan = quantize_model(create_model(spec.model.name, scale),
                                 self._mixed_config(spec, granularity, promoted), make_quantizer)
        return {n: p.bits for n, p in plan.items()}

    def _costs(self, spec, scale, bits: dict[str, tuple[int, int]], lr_size=REFERENCE_LR):
        return model_layer_costs(spec, scale, lambda name, m: bits.get(name, (32, 32)), lr_size)

    def _sensitivities(self, spec, scale, ctx, granularity, calibration) -> dict[str, float]:
        key = (scale, granularity, calibration)
        if key in self._sensitivity:
            return self._sensitivity[key]
        rng = models.get(spec.model.name).input_range
        fp = pretrained(spec, scale, ctx).eval()
        batches = self._calibration_batches(spec, scale, ctx)[:spec.method.sensitivity_images]
        fp64 = RangeAdapter(copy.deepcopy(fp), rng).to(torch.float64).eval()
        with torch.no_grad():
            reference = [fp64(b.to(torch.float64)) for b in batches]
        names = [n for n, b in self._layer_bits(spec, scale, granularity).items() if b != (32, 32)]
        ranges = self._fp_input_ranges(spec, fp, rng, batches, calibration)
        out = {}
        for name in names:
            only = self._mixed_config(spec, granularity, keep_fp=[n for n in names if n != name] + spec.method.keep_fp)
            qnet, _ = quantize_model(copy.deepcopy(fp), only, make_quantizer)
            for m in qnet.modules():  # what calibrate() sets: the weights' range method too
                if isinstance(m, UniformQuantizer):
                    m.calibration = calibration
            qnet.get_submodule(name).input_q.qparams = ranges[name]
            out[name] = output_mse(RangeAdapter(qnet, rng).eval(), reference, batches)
        self._sensitivity[key] = out
        return out

    def _fp_input_ranges(self, spec, fp, rng, batches, calibration) -> dict:
        """Every quantized layer's calibrated input range, from one calibration pass of the model
        with FP weights and every activation quantizer observing (passing its input through): the
        input each single-layer model feeds that layer, so the ranges are those a calibration of
        each single-layer model would find (tested equal), for one pass instead of one per layer."""
        cfg = self._mixed_config(spec, "per-tensor").model_copy(update={"weight": TensorQuant(bits=32)})
        acts, _ = quantize_model(copy.deepcopy(fp), cfg, make_quantizer)
        calibrate(RangeAdapter(acts, rng).eval(), batches, calibration)
        return {n: m.input_q.qparams for n, m in acts.named_modules() if isinstance(m, QuantLayer)}

    def _allocation(self, spec, scale, ctx, variant) -> list[str]:
        if (scale, variant) not in self._promoted:
            granularity, calibration, budget = _parse(variant)
            sens = self._sensitivities(spec, scale, ctx, granularity, calibration)
            low_bits = self._layer_bits(spec, scale, granularity)
            high_bits = self._layer_bits(spec, scale, granularity, promoted=list(sens))
            low = {c.name: c.bitops for c in self._costs(spec, scale, low_bits)}
            high = {c.name: c.bitops for c in self._costs(spec, scale, high_bits)}
            cap = int(budget * (sum(high.values()) - sum(low.values())))
            self._promoted[(scale, variant)] = allocate(sens, {n: high[n] - low[n] for n in sens}, cap)
        return self._promoted[(scale, variant)]

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """The allocated network's per-layer costs (known once the job has built its model: the
        allocation comes from calibration data)."""
        if (scale, variant) not in self._promoted:
            raise QsrbenchError(f"{spec.source}: ptq-mixed chooses each layer's bits from calibration data "
                                "when the job runs; its records hold them (extra.mixed_precision)")
        granularity, _, _ = _parse(variant)
        return self._costs(spec, scale, self._layer_bits(spec, scale, granularity, self._promoted[(scale, variant)]),
                           lr_size)

    def build(self, spec, scale, ctx, variant=None):
        granularity, calibration, _ = _parse(variant)
        promoted = self._allocation(spec, scale, ctx, variant)
        qnet, _ = quantize_model(pretrained(spec, scale, ctx), self._mixed_config(spec, granularity, promoted),
                                 make_quantizer)
        model = RangeAdapter(qnet, models.get(spec.model.name).input_range).eval()
        model = calibrate(model, self._calibration_batches(spec, scale, ctx), calibration, ctx.progress)
        return Float64Eval(model) if spec.method.eval_dtype == "float64" else model

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        granularity, calibration, budget = _parse(job.variant)
        promoted = self._promoted[(job.scale, job.variant)]
        bits = {n: b[0] for n, b in self._layer_bits(spec, job.scale, granularity, promoted).items() if b != (32, 32)}
        if not bits:
            raise QsrbenchError(f"{spec.source}: no quantized layer left to allocate bits to")
        result.extra["mixed_precision"] = {"mean_bits": sum(bits.values()) / len(bits), "layers": bits}
        result.extra["allocation"] = {
            "budget": budget, "high_bits": spec.method.high_bits, "promoted": promoted,
            "sensitivity": self._sensitivity[(job.scale, granularity, calibration)]}
        return result
