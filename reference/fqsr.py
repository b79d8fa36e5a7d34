"""FQSR: a fully quantized SR network trained with a quantization-aware calibration loss.

Wang, Chen, Zhuang, Shen, "Fully Quantized Image Super-Resolution Networks", ACM MM 2021
(arXiv 2011.14265). Checked against the authors' code, billhhh/FQSR @ 24cb67a:
``src/models/quant.py`` (``custom_conv``, ``custom_eltwise``, ``init_based_on_warmup``,
``quantization_value``), ``src/models/dorefa.py`` (the quantizer), ``config/edsr-policy.txt``
(what stays FP, ``quant_loss_alpha``), ``src/trainer.py`` (the loss). Written from the
equations; no code copied. The paper's text beyond its abstract could not be read here, so every
detail below is the released code's.

* **Everything quantized**: every conv's weight and input, both operands of every residual
  addition and the upsampler input (the harness converter's ``quantize_skips`` /
  ``quantize_upsampler_input`` path, operands at ``skip_bits``), except the **declared FP ends**:
  the RGB input of the first conv (its weight is quantized) and the additions between the last
  conv and the output (PAN's bilinear image skip, EDSR's mean shift; the code's policy files
  disable the long skip and the last conv's output quantizer).
* **Quantizer** (:func:`~qsrbench.quant.qat.range_quant`): one learnable clip ``c`` per tensor,
  ``2^b`` levels evenly over ``[-|c|, |c|]``, straight-through rounding, the clip's gradient by
  autograd. (The code also quantizes each conv's output and shares one quantizer between the two
  operands of an add; here the next layer's input quantizer plays the output's role and each
  operand has its own.)
* **Clip initialisation**: for the first ``clip_init_steps`` training calls (code: ``--stable``
  20) each quantizer passes its input through and sets ``c`` to the arithmetic mean of the
  tensors' max |x| (weights too).
* **Calibration loss**: ``calibration_weight`` (code: ``quant_loss_alpha`` 0.3) times the sum
  over quantizers of ``mean |Q(x) - x|``, not detached (it trains weights and clips), added to L1.
* **BitOps**: convs at their bits (the first conv's RGB input at 32); each quantized residual
  addition at the skip bits, ``b`` BitOps per element (:mod:`qsrbench.addcost`).
* **Training** (code): from the FP weights; Adam, lr 1e-4 for weights and clips alike, cosine to 0
  over all iterations — set in each spec's ``[method.train]``.
"""

from __future__ import annotations

import operator
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import fx, nn

from qsrbench.addcost import add_costs
from qsrbench.bitops import REFERENCE_LR
from qsrbench.errors import QsrbenchError
from qsrbench.models import create_model
from qsrbench.quant.config import LayerBits, QuantConfig, TensorQuant
from qsrbench.quant.convert import QuantLayer, quantize_model
from qsrbench.quant.qat import LearnedClip
from qsrbench.registry import register_method
from qsrbench.train.method import TrainedSRMethod, TrainParams

from .fp import model_layer_costs, pretrained

__all__ = ["FQSR", "FQSRParams", "fp_output_ends", "output_tail"]


class FQSRParams(TrainParams):
    name: Literal["fqsr"] = Field(description="FQSR fully quantized SR (Wang et al., ACM MM 2021)")
    skip_bits: int | None = Field(None, ge=2, le=16, description=(
        "bits of residual-add operands and the upsampler input (default: the activation bits)"))
    quantize_skips: bool = Field(True, description="quantize both operands of every residual add")
    clip_init_steps: int = Field(20, ge=1, description="training calls each quantizer is bypassed while its clip is set")
    calibration_weight: float = Field(0.3, ge=0, description="weight of the quantization calibration loss")


def _config(spec) -> QuantConfig:
    m = spec.method
    return QuantConfig(weight=TensorQuant(bits=spec.bits.weight), activation=TensorQuant(bits=spec.bits.activation),
                       keep_fp=[], layers={"first": LayerBits(activation=32)},
                       quantize_skips=m.quantize_skips, quantize_upsampler_input=True,
                       skip_bits=m.skip_bits)


def _make(params: FQSRParams):
    def make(tq: TensorQuant, role: str) -> nn.Module:
        return LearnedClip(tq.bits, form="signed-range", init_steps=params.clip_init_steps, decay=None,
                           statistic="max-abs", track_error=True)

    return make


def _is_conv(gm: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(gm.get_submodule(node.target), (QuantLayer, nn.Conv2d))


def output_tail(gm: fx.GraphModule) -> list[fx.Node]:
    """The nodes between the last conv(s) and the output: walking back from the output through
    every node that is not a conv, an input or a constant."""
    tail, todo, seen = [], [n for n in gm.graph.nodes if n.op == "output"], set()
    while todo:
        node = todo.pop()
        if node in seen or node.op in ("placeholder", "get_attr") or _is_conv(gm, node):
            continue
        seen.add(node)
        tail.append(node)
        todo += list(node.all_input_nodes)
    return tail


def fp_output_ends(gm: fx.GraphModule) -> list[str]:
    """Replace by identities the inserted quantizers of the output tail; returns their names."""
    freed = sorted(n.target for n in output_tail(gm)
                   if n.op == "call_module" and n.target.startswith("act_q"))
    for name in freed:
        setattr(gm, name, nn.Identity())
    return freed


def _student(spec, net: nn.Module) -> nn.Module:
    model, _ = quantize_model(net, _config(spec), _make(spec.method))
    if not isinstance(model, fx.GraphModule):
        raise QsrbenchError("FQSR: the converter returned no graph; quantize_upsampler_input is always on")
    fp_output_ends(model)
    model.recompile()
    return model


@register_method
class FQSR(TrainedSRMethod):
    name = "fqsr"
    Params = FQSRParams
    citation = "Wang, Chen, Zhuang, Shen, FQSR, ACM MM 2021 (arXiv 2011.14265)"

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.model is not None and not spec.model.weights:
            problems.append(("model.weights", "FQSR starts from the FP model: give its weights"))
        for field in ("weight", "activation"):
            if not 2 <= getattr(spec.bits, field) <= 16:
                problems.append((f"bits.{field}", "FQSR quantizes every layer at 2 to 16 bits"))
        if spec.model is not None and spec.method.quantize_skips and not problems:
            if not _has_residual_add(spec):
                problems.append(("method.quantize_skips", f"model {spec.model.name!r} has no residual "
                                 "addition to quantize; set quantize_skips = false"))
        return problems

    def is_quant_param(self, name: str) -> bool:
        return name.endswith(".alpha")

    def initial_model(self, spec, scale, ctx, variant):
        return _student(spec, pretrained(spec, scale, ctx))

    def objective(self, spec, scale, ctx, model, range_factor):
        weight = spec.method.calibration_weight
        quantizers = [m for m in model.modules() if isinstance(m, LearnedClip)]

        def objective(net, lr, hr):
            l1 = F.l1_loss(net(lr / range_factor) * range_factor, hr)
            errors = [q.last_error for q in quantizers if q.last_error is not None]
            if weight == 0 or not errors:
                return l1, {"l1": float(l1.detach())}
            calib = torch.stack(errors).sum()
            return l1 + weight * calib, {"l1": float(l1.detach()), "calibration": float(calib.detach())}

        return objective

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """Every conv at the spec's bits, the first conv's input (the RGB image) at 32 bits; with
        quantized skips, every residual addition outside the output tail at the skip bits
        (:mod:`qsrbench.addcost`: ``b`` BitOps per element, no MACs)."""
        _, plan = quantize_model(create_model(spec.model.name, scale), _config(spec), _make(spec.method))
        costs = model_layer_costs(spec, scale, lambda name, m: plan[name].bits if name in plan else (32, 32),
                                  lr_size)
        if spec.method.quantize_skips:
            net = create_model(spec.model.name, scale)
            tail = {n.name for n in output_tail(fx.symbolic_trace(net))}
            channels = 1 if spec.protocol.domain == "y" else 3
            costs += add_costs(net, (1, channels, *lr_size), spec.method.skip_bits or spec.bits.activation, tail)
        return costs


def _is_add(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in (operator.add, torch.add)


def _has_residual_add(spec) -> bool:
    """Whether the FP model has an addition outside its output tail."""
    try:
        gm = fx.symbolic_trace(create_model(spec.model.name, spec.scales[0]))
    except Exception:  # noqa: BLE001 - the converter reports an untraceable model itself
        return True
    tail = set(output_tail(gm))
    return any(_is_add(n) and n not in tail for n in gm.graph.nodes)
