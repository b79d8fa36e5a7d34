"""Full-precision training of an SR model in the harness: the teachers and starting points of the
QAT methods' full tier (EDSR-baseline, EDSR, RDN, SRResNet trained on DIV2K), and a plain L1
baseline for any registered model.

The network is built with ``torch.manual_seed(spec.seed)`` (PyTorch's default initialisation of
each layer) or, when the spec names weights, from that checkpoint (fine-tuning); it is trained by
:func:`qsrbench.train.loop.train_loop` with L1 in [0, 255] pixel units. Recipes follow the
models' papers and are set in each spec's ``[method.train]``: Lim et al., "Enhanced Deep
Residual Networks for Single Image Super-Resolution", CVPRW 2017 (EDSR; 300k iterations of 16
HR patches of 96/144/192 pixels at x2/x3/x4, Adam lr 1e-4 halved every 200k); Zhang et al., RDN,
CVPR 2018 (patches of 32 LR pixels, lr 1e-4 halved every 200 epochs). The trained weights stay in
the run folder (``model.pt``, a state dict of the bare network); the QAT specs of the full tier
name them as ``[model] weights`` once copied into the weights folder.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from qsrbench.bitops import REFERENCE_LR
from qsrbench.registry import register_method
from qsrbench.train.method import TrainedSRMethod, TrainParams

from .fp import model_layer_costs, pretrained

__all__ = ["FPTrain", "FPTrainParams"]


class FPTrainParams(TrainParams):
    name: Literal["fp-train"] = Field(description="full-precision L1 training in the harness")


@register_method
class FPTrain(TrainedSRMethod):
    name = "fp-train"
    Params = FPTrainParams
    citation = "full-precision L1 training (EDSR recipe, Lim et al. 2017)"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.bits.weight != 32 or spec.bits.activation != 32:
            problems.append(("bits", "fp-train trains at 32/32 bits; use a QAT method (pams, fqsr)"))
        return problems

    def initial_model(self, spec, scale, ctx, variant):
        torch.manual_seed(spec.seed)  # the default initialisation, reproducible
        return pretrained(spec, scale, ctx)

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        return model_layer_costs(spec, scale, None, lr_size)
