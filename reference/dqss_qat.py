"""DQSS in quantization-aware training mode: the strategy relaxations (α, β) and the network's
weights and quantizer parameters updated together, in one forward-backward pass per iteration
(first-order, single level), then the argmax strategies derived and scored.

Li, Yan, Chen, "Differentiable Search for Finding Optimal Quantization Strategy" (DQSS; arXiv
2404.08010v2): "we update the hyper-parameters and the network parameters in a single
forward-backward pass". The relaxed layers, candidate strategies, calibration and derivation are
:mod:`reference.dqss`'s; the training is the harness's loop (:mod:`qsrbench.train`): L1 to the HR
patches, Adam; α, β, LSQ steps and PACT/PAMS clips form the quantizer group (``quant_lr``, no
weight decay).

Choices made where the paper could not be read here (see :mod:`reference.dqss`): the network is
scored after derivation without further fine-tuning (the relaxed network's weights were trained
under the mixture, so the derived one can lose accuracy: the record keeps the validation PSNR of
the relaxed network in ``extra.train.history`` for comparison); the paper's adjustment "to avoid
the potential under-fitting problem" is unknown and not modelled.
"""

from __future__ import annotations

import copy
from typing import Literal

from pydantic import Field
from torch import nn

from qsrbench.quant.composite import CompositeQuantConv2d
from qsrbench.quant.size import ModelSize
from qsrbench.registry import models, register_method
from qsrbench.train.method import TrainedSRMethod, TrainParams

from .dqss import (DQSS, DQSSParams, calib_set_problems, calibrate_composites, derive, make_composites,
                   searchable_layers, strategies_for, strategy_problems, strategy_summary)
from .fp import pretrained
from .ptq import PTQ

__all__ = ["DQSSQAT", "DQSSQATParams"]


class DQSSQATParams(DQSSParams, TrainParams):
    name: Literal["dqss-qat"] = Field(description="DQSS, quantization-aware mode (strategies and weights together)")
    mode: Literal["qat"] = Field("qat", description="architecture and weights in one forward-backward pass")
    search_steps: Literal[None] = Field(None, description="not used: the relaxations train with the weights")
    search_lr: Literal[None] = Field(None, description="not used: α and β take [method.train] quant_lr")
    train_quantizers: Literal[True] = Field(True, description="quantizer parameters always train in QAT mode")
    search_dtype: Literal[None] = Field(None, description="not used: the relaxations train in the training loop's float32")


@register_method
class DQSSQAT(TrainedSRMethod):
    name = "dqss-qat"
    Params = DQSSQATParams
    citation = "Li, Yan, Chen, DQSS (arXiv 2404.08010), QAT mode"
    variants = DQSS.variants  # the search and the fixed baselines
    layer_costs = DQSS.layer_costs  # the same layers at the same bits as PTQ mode and uniform PTQ

    def __init__(self) -> None:
        super().__init__()
        self.facts: dict[tuple, dict] = {}

    @classmethod
    def check_spec(cls, spec):
        """The training table's checks and the strategy search's (shared bits, strategies
        supporting them, a training calibration set)."""
        return super().check_spec(spec) + calib_set_problems(spec) + strategy_problems(spec)

    @classmethod
    def data_sets(cls, spec):
        return [*super().data_sets(spec), spec.method.calib_set]

    def initial_model(self, spec, scale, ctx, variant):
        """The pretrained network with composites on the PTQ layers, calibrated (network range)."""
        fp = pretrained(spec, scale, ctx).eval()
        k = models.get(spec.model.name).input_range / 255
        acts, weights = strategies_for(spec.method, variant)
        qnet = copy.deepcopy(fp)
        layers = make_composites(qnet, searchable_layers(fp, spec.bits.weight, spec.method.keep_fp), acts, weights,
                                 spec.bits.weight)
        calibrate_composites(fp, layers, [x * k for x in PTQ._calibration_batches(self, spec, scale, ctx)])
        return qnet

    def is_quant_param(self, name: str) -> bool:
        return name.rsplit(".", 1)[-1] in ("alpha", "beta", "step")

    def build(self, spec, scale, ctx, variant=None):
        scored = super().build(spec, scale, ctx, variant)
        net = self.trained[(scale, variant)].model
        layers = {n: m for n, m in net.named_modules() if isinstance(m, CompositeQuantConv2d)}
        acts, weights = strategies_for(spec.method, variant)
        self.facts[(scale, variant)] = {"variant": variant, "layers": derive(net, layers, acts, weights)}
        self.sizes[(scale, variant)] = _derived_size(net, spec.bits.weight, set(layers))
        return scored

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        result.extra["strategies"] = strategy_summary(self.facts[(job.scale, job.variant)])
        return result


def _derived_size(net: nn.Module, bits: int, quantized: set[str]) -> ModelSize:
    """:mod:`qsrbench.quant.size`'s convention: the derived layers' conv weights at ``bits``."""
    modules = dict(net.named_modules())
    ids = {id(modules[n].conv.weight) for n in quantized}
    count = sum(p.numel() for p in net.parameters())
    total = sum(p.numel() * (bits if id(p) in ids else 32) for p in net.parameters())
    return ModelSize(count, total, 32 * count)

