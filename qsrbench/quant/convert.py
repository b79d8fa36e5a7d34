"""Turn an FP model into a fake-quant model from a :class:`~qsrbench.quant.config.QuantConfig`.

Each conv/linear layer of the plan is replaced by a :class:`QuantLayer` that fake-quantizes its
weight with a weight quantizer and its *input* with an activation quantizer (the convention of
PAMS, FQSR and DQSS: the activation bits of a layer are those of its input). Layers the plan keeps
in full precision are left untouched.

With ``quantize_skips`` / ``quantize_upsampler_input`` (FQSR, Wang et al. 2021), the model is
traced with ``torch.fx`` and an activation quantizer is inserted on every input of each residual
addition and on the input of every ``PixelShuffle``, so that no full-precision tensor is left
between quantized layers. A model that torch.fx cannot trace gets a clear error.

Quantizers come from ``make_quantizer(tensor_quant, role)``, ``role`` being ``"weight"``,
``"activation"`` (a layer's input) or ``"skip"`` (an addition operand or upsampler input, at
``skip_bits``); it returns an ``nn.Module`` mapping a tensor to its fake-quantized value.
The trace treats each :class:`QuantLayer` as a leaf, so quantizers with Python-level state trace.
State-dict keys change (``layer`` → ``layer.layer``): load checkpoints before converting.
"""

from __future__ import annotations

import operator
from typing import Callable

import torch
from torch import fx, nn

from ..errors import QsrbenchError
from .config import QUANTIZABLE, LayerPlan, QuantConfig, TensorQuant, resolve_plan

__all__ = ["QuantLayer", "MakeQuantizer", "quantize_model", "execution_order"]

MakeQuantizer = Callable[[TensorQuant, str], nn.Module]


class QuantLayer(nn.Module):
    """A conv or linear layer whose weight and input are fake-quantized."""

    def __init__(self, layer: nn.Module, weight_q: nn.Module | None, input_q: nn.Module | None):
        super().__init__()
        self.layer = layer
        self.weight_q = weight_q if weight_q is not None else nn.Identity()
        self.input_q = input_q if input_q is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_q(x)
        w = self.weight_q(self.layer.weight)
        layer = self.layer
        if isinstance(layer, nn.Linear):
            return nn.functional.linear(x, w, layer.bias)
        if isinstance(layer, nn.ConvTranspose2d):
            return nn.functional.conv_transpose2d(x, w, layer.bias, layer.stride, layer.padding,
                                                  layer.output_padding, layer.groups, layer.dilation)
        return layer._conv_forward(x, w, layer.bias)


def execution_order(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Names of conv/linear layers in the order a forward pass calls them (meta device)."""
    order: list[str] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args, n=n: order.append(n))
             for n, m in model.named_modules() if isinstance(m, QUANTIZABLE)]
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
    return list(dict.fromkeys(order))


def _set_child(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


class _QuantLeafTracer(fx.Tracer):
    """Traces through the model's own modules but not into a :class:`QuantLayer` (its quantizers
    hold Python-level state, e.g. a clip's initialisation counter, that a trace cannot follow)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QuantLayer) or super().is_leaf_module(m, qualname)


def _quantize_graph_inputs(model: nn.Module, config: QuantConfig, make: MakeQuantizer) -> nn.Module:
    try:
        tracer = _QuantLeafTracer()
        gm = fx.GraphModule(model, tracer.trace(model), type(model).__name__)
    except Exception as exc:  # noqa: BLE001 - fx raises many kinds of errors
        raise QsrbenchError(f"quantize_skips / quantize_upsampler_input need a torch.fx-traceable "
                            f"model; {type(model).__name__} is not: {exc}") from None
    count = 0
    skip = config.activation.model_copy(update={"bits": config.skip_bits or config.activation.bits})

    def insert(node: fx.Node, arg: fx.Node) -> None:
        nonlocal count
        name = f"act_q{count}"
        count += 1
        gm.add_submodule(name, make(skip, "skip"))
        with gm.graph.inserting_before(node):
            q = gm.graph.call_module(name, (arg,))
        node.replace_input_with(arg, q)

    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        is_add = node.op == "call_function" and node.target in (operator.add, torch.add, operator.iadd)
        is_add |= node.op == "call_method" and node.target in ("add", "add_")
        is_shuffle = node.op == "call_module" and isinstance(modules.get(node.target), nn.PixelShuffle)
        if (is_add and config.quantize_skips) or (is_shuffle and config.quantize_upsampler_input):
            for arg in [a for a in node.args if isinstance(a, fx.Node)]:
                insert(node, arg)
    gm.recompile()
    return gm


def quantize_model(model: nn.Module, config: QuantConfig, make: MakeQuantizer, *,
                   input_shape: tuple[int, ...] = (1, 3, 16, 16)) -> tuple[nn.Module, dict[str, LayerPlan]]:
    """A fake-quant copy-in-place of ``model`` and the per-layer plan it follows.

    Layers the forward never calls (e.g. CARN-M's upsamplers of the other scales) are left FP:
    an activation quantizer there could never be calibrated.
    """
    order = execution_order(model, input_shape)
    plan = resolve_plan(model, config, order)
    executed = set(order)
    for name, p in plan.items():
        if name not in executed:
            plan[name] = LayerPlan(name, None, None)
            continue
        if p.weight is None and p.activation is None:
            continue
        layer = model.get_submodule(name)
        weight_q = make(p.weight, "weight") if p.weight else None
        if isinstance(layer, nn.ConvTranspose2d) and getattr(weight_q, "axis", None) == 0:
            weight_q.axis = 1  # a transposed conv's weight is (in, out, k, k): per output channel
        _set_child(model, name, QuantLayer(
            layer, weight_q, make(p.activation, "activation") if p.activation else None))
    if config.quantize_skips or config.quantize_upsampler_input:
        model = _quantize_graph_inputs(model, config, make)
    return model, plan
