"""Integer execution with the layers joined on their codes: the PTQ-on-integers baseline
(:mod:`reference.ptq_int`) after :func:`qsrbench.kernels.code_chain.chain_codes`.

Where one integer convolution's output feeds only the next one's input (directly, through a
ReLU / LeakyReLU / PReLU, through a pixel shuffle, summed with a residual, or as a part of a
concatenation only the next one reads), the producer's fused requantization epilogue writes the consumer's
uint8 codes from its int32 accumulator (``clamp(round(act(acc · s_x · s_w + b) / s_next) + z_next)``,
float64 in the order of :func:`qsrbench.kernels.reference.requantize`) and no float tensor passes
between the two; everywhere else the model is the ``ptq-int`` one. The job scores the chained model
beside the same fake-quant simulation as ``ptq-int`` and records, in ``extra.integer_execution``,
besides ``ptq-int``'s fields, ``code_joins``: every join, ``"producer -> consumer"`` or ``"producer -[steps]-> consumer"`` (the
activation, ``pixel_shuffle``, ``add``, ``cat`` in data-flow order), and
``backend``: :data:`BACKEND` (the latency page's integer section names it).

What this measures against ``ptq-int``: how far computing the next layer's codes from the exact
accumulator (instead of re-quantizing a float32 tensor) moves the output; issue 16's bound is the
same (within one output step per pixel, 0.01 dB PSNR on Set5).

Reference: Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018, sections 2.2-2.4 (the requantization between
integer layers, activations fused into it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qsrbench.kernels.code_chain import chain_codes
from qsrbench.registry import register_method

from .ptq_int import PTQInt, PTQIntParams


BACKEND = "harness kernels, joined on codes"


class PTQIntChainParams(PTQIntParams):
    name: Literal["ptq-int-chain"] = Field(description="uniform PTQ on integer kernels, layers joined on their codes")


@register_method
class PTQIntChain(PTQInt):
    name = "ptq-int-chain"
    Params = PTQIntChainParams
    citation = "integer-only inference with fused requantization (Jacob et al., CVPR 2018)"

    def __init__(self) -> None:
        super().__init__()
        self._joins: dict[tuple, list[str]] = {}

    def build(self, spec, scale, ctx, variant=None):
        model, joins = chain_codes(super().build(spec, scale, ctx, variant))
        self._joins[(scale, variant)] = joins
        return model

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        info = result.extra["integer_execution"]
        info["code_joins"] = self._joins[(job.scale, job.variant)]
        info["backend"] = BACKEND
        return result
