"""Full-precision baseline: a registered SR model evaluated as is, optionally from a checkpoint.

The checkpoint (``[model] weights``, a path relative to the weights root ``$QSRBENCH_WEIGHTS``,
default ``<data root>/../weights``, or absolute) is loaded with ``weights_only=True`` and strict
key/shape checks. The network runs in its own pixel range behind a
:class:`~qsrbench.models.RangeAdapter`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from torch import nn

from qsrbench.bitops import REFERENCE_LR, layer_costs
from qsrbench.methods import SRMethod
from qsrbench.models import RangeAdapter, create_model
from qsrbench.models.weights import load_checkpoint, require_weights
from qsrbench.registry import models, register_method
from qsrbench.spec import MethodParams



class FPParams(MethodParams):
    """The FP baseline has no parameters besides its name."""

    name: Literal["fp"] = Field(description="the full-precision model as is")


def pretrained(spec, scale: int, ctx) -> nn.Module:
    """The spec's model for ``scale``, with its checkpoint loaded when the spec names one."""
    net = create_model(spec.model.name, scale)
    if spec.model.weights:
        load_checkpoint(net, require_weights(spec.model.weights, ctx.data_root))
    return net


def model_layer_costs(spec, scale: int, bits_for=None, lr_size=REFERENCE_LR):
    """Per-layer costs of the spec's model for one ``lr_size`` (h, w) LR input."""
    channels = 1 if spec.protocol.domain == "y" else 3
    return layer_costs(create_model(spec.model.name, scale), (1, channels, *lr_size), bits_for)


@register_method
class FP(SRMethod):
    name = "fp"
    Params = FPParams
    citation = "full-precision baseline (the model's own paper)"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.bits.weight != 32 or spec.bits.activation != 32:
            problems.append(("bits", "the fp method runs at 32/32 bits; use a quantization method"))
        return problems

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        return model_layer_costs(spec, scale, None, lr_size)

    def build(self, spec, scale, ctx, variant=None):
        return RangeAdapter(pretrained(spec, scale, ctx), models.get(spec.model.name).input_range)
