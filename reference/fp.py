"""Full-precision baseline: a registered SR model evaluated as is, optionally from a checkpoint.

The checkpoint (``[model] weights``, a path relative to the weights root ``$QSRBENCH_WEIGHTS``,
default ``<data root>/../weights``, or absolute) is loaded with ``weights_only=True`` and strict
key/shape checks. The network runs in its own pixel range behind a
:class:`~qsrbench.models.RangeAdapter`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from torch import nn

from qsrbench.bitops import layer_costs, total_bitops
from qsrbench.methods import SRMethod
from qsrbench.models import RangeAdapter, create_model
from qsrbench.models.weights import load_checkpoint
from qsrbench.registry import models, register_method
from qsrbench.spec import MethodParams


REFERENCE_LR = (180, 320)  # MACs/BitOps are reported for a 320x180 LR input (720p HR at x4)


class FPParams(MethodParams):
    """The FP baseline has no parameters besides its name."""

    name: Literal["fp"]


def weights_path(ref: str, data_root: Path | None) -> Path:
    """Resolve a spec's weights path: absolute, else under ``$QSRBENCH_WEIGHTS`` or ``<data root>/../weights``."""
    path = Path(ref)
    if path.is_absolute():
        return path
    root = os.environ.get("QSRBENCH_WEIGHTS")
    base = Path(root) if root else (Path(data_root).parent / "weights" if data_root else Path("weights"))
    return base / path


def pretrained(spec, scale: int, ctx) -> nn.Module:
    """The spec's model for ``scale``, with its checkpoint loaded when the spec names one."""
    net = create_model(spec.model.name, scale)
    if spec.model.weights:
        load_checkpoint(net, weights_path(spec.model.weights, ctx.data_root))
    return net


def model_cost(spec, scale: int, bits_for=None) -> tuple[int, int]:
    """``(MACs, BitOps)`` of the spec's model on a :data:`REFERENCE_LR` input."""
    costs = layer_costs(create_model(spec.model.name, scale), (1, 3, *REFERENCE_LR), bits_for)
    return sum(c.macs for c in costs), total_bitops(costs)


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

    def cost(self, spec, scale, variant):
        return model_cost(spec, scale)

    def build(self, spec, scale, ctx, variant=None):
        return RangeAdapter(pretrained(spec, scale, ctx), models.get(spec.model.name).input_range)
