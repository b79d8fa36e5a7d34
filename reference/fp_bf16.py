"""The full-precision checkpoint run under bfloat16 autocast: the accuracy side of the latency
page's ``bf16 eager`` backend (issue 16, item 5: PSNR on Set5 per backend).

The network of :mod:`reference.fp` (same checkpoint, same :class:`~qsrbench.models.RangeAdapter`)
runs inside ``torch.autocast(<device>, dtype=torch.bfloat16)``: convolutions and linear layers
take bfloat16 operands (8-bit significand) and return bfloat16, so the elementwise operations
between them (adds, activations, attention products, pixel shuffle) run on bfloat16 tensors too;
the output is cast back to float32 before the harness rounds it to pixels. This is the
construction ``suites/test_model_latency.py`` times as ``bf16 eager`` (:class:`Autocast` there
and here), so the latency row and this record describe the same computation.

BitOps: every multiply-accumulate at 16 x 16 bits (the counter's MACs x weight bits x activation
bits convention), so specs of this method state ``bits = 16 / 16``. A bfloat16 MAC is not an
integer operation; the count only places it between fp32 (32 x 32) and int8 (8 x 8).
No paper: a reference point for the quantized backends (CPU autocast, PyTorch documentation,
"Automatic Mixed Precision", CPU ops that autocast to lower precision).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from qsrbench.bitops import REFERENCE_LR
from qsrbench.methods import SRMethod
from qsrbench.models import RangeAdapter
from qsrbench.registry import models, register_method
from qsrbench.spec import MethodParams

from .fp import model_layer_costs, pretrained

BF16_BITS = 16  # weight and activation bits of a bfloat16 MAC in the BitOps convention


class Autocast(nn.Module):
    """``net`` under ``torch.autocast(device, dtype)``; returns float32 whatever ``net`` returns."""

    def __init__(self, net: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.net, self.dtype = net, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            y = self.net(x)
        return y.float()


class FPBF16Params(MethodParams):
    """No parameters besides the name: the checkpoint as is, under bfloat16 autocast."""

    name: Literal["fp-bf16"] = Field(description="the full-precision checkpoint run under bfloat16 autocast")


@register_method
class FPBF16(SRMethod):
    name = "fp-bf16"
    Params = FPBF16Params
    citation = "the full-precision checkpoint under bfloat16 autocast (PyTorch AMP); no paper"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if (spec.bits.weight, spec.bits.activation) != (BF16_BITS, BF16_BITS):
            problems.append(("bits", f"the fp-bf16 method runs at {BF16_BITS}/{BF16_BITS} bits (bfloat16 operands)"))
        return problems

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        return model_layer_costs(spec, scale, lambda name, module: (BF16_BITS, BF16_BITS), lr_size)

    def build(self, spec, scale, ctx, variant=None):
        net = Autocast(pretrained(spec, scale, ctx))
        return RangeAdapter(net, models.get(spec.model.name).input_range)
