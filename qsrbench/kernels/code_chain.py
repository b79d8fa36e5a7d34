"""Integer layers joined on their codes: the fused requantization epilogue on the CPU (issue 16, item 1).

After :func:`~qsrbench.kernels.integer_model.integerize`, every integer layer hands the next one a
float32 tensor (``acc · s_x · s_w[c] + bias``) and the next one quantizes it again. Where the only
consumer of a layer's output is another integer layer's input, directly or through one elementwise
activation (ReLU, LeakyReLU, PReLU), :func:`chain_codes` joins the two the way an integer-only
engine does (Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018, sections 2.2-2.4): the producer's epilogue turns its
int32 accumulator straight into the consumer's input codes,

    q_next = clamp(round(act(acc · s_x · s_w[c] + bias[c]) / s_next) + z_next, qmin, qmax)   (uint8)

and the consumer convolves those codes as they come; the activation node leaves the graph. No
float tensor passes between the two layers. The epilogue runs in float64 in the order of
:func:`qsrbench.kernels.reference.requantize` (``(acc · s_x) · s_w``, then bias, activation,
division by ``s_next``, round half to even, clamp), so its codes equal the reference's bit for bit
(tested); the Triton kernels' epilogue follows the same order. A fixed-point multiplier and shift
(gemmlowp) would replace the float64 scale on hardware without a double unit; the codes differ from
these only where a value lies within float64 rounding of a boundary.

Against the fake-quant model the codes can differ by one where the fake model's float32 output
rounds to the other side of a code boundary (it computes ``round(y32 · (1/s_next)_32)``); the whole
model stays within one output step (tested on IMDN, CARN-M, PAN, RFDN).

Two reorderings keep the codes exact beyond a plain pair. A **pixel shuffle** only moves values, so
it moves codes: the producer emits codes per its own channels and the shuffle remaps them (an
activation after a shuffle is moved into the producer's epilogue when it is the same for every
channel: ReLU, LeakyReLU; a PReLU after a shuffle ends the chain). A **concatenation** whose only
user is an integer conv is quantized by that conv's one per-tensor quantizer, so its codes are the
concatenation of its parts' codes: every part that is a joinable producer's output emits the
consumer's codes (scale and zero point) and the concatenation joins uint8 tensors. A **residual
add** whose only user is the consumer (``conv(x)`` [+ activation] ``+ r``, with no shuffle between)
moves into the producer's epilogue: the producer takes ``r`` (a float tensor, computed as the model
computes it) and adds it after the activation, as :func:`qsrbench.kernels.reference.requantize`
does with ``residual``; an activation after the add is not joined (the epilogue's order is
activation, then residual).

What is chained is decided on a ``torch.fx`` trace with the integer layers as leaves; a model fx
cannot trace is left as it is (:func:`chain_codes` says why). Layers stay unchained where an output
feeds several consumers (a channel split feeding two branches, a sum read by several layers), where a
concatenation has a part that is not an integer conv's output, where a module is called more than
once, and around linear layers (their rows are not images).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from .integer_model import IntegerConv2d, IntegerLinear

__all__ = ["ChainedConv", "Epilogue", "chain_codes"]


@dataclass(frozen=True)
class Epilogue:
    """The consumer's codes: scale ``s_out`` and zero point ``z_out`` of its input quantizer, the
    code range, and the activation between the layers (``act`` None, ``"relu"``,
    ``"leaky_relu"`` or ``"prelu"``; ``slope`` a float or a per-channel float64 tensor)."""

    s_out: float
    z_out: int
    qmin: int
    qmax: int
    act: str | None = None
    slope: float | torch.Tensor = 0.0


class ChainedConv(nn.Module):
    """An integer conv that takes codes (``takes_codes``) and/or emits the next layer's codes
    (``epilogue``); otherwise it computes what its :class:`IntegerConv2d` computes."""

    def __init__(self, layer: IntegerConv2d, takes_codes: bool = False, epilogue: Epilogue | None = None):
        super().__init__()
        self.layer, self.takes_codes, self.epilogue = layer, takes_codes, epilogue

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        layer = self.layer
        acc = layer.accumulate(x if self.takes_codes else layer.codes(x))
        return layer.rescale(acc) if self.epilogue is None else self._emit(acc, residual)

    def _emit(self, acc: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 codes of the consumer from the int32 accumulator (float64, the reference's order;
        ``residual``, a real-valued tensor, added after the activation)."""
        e, layer = self.epilogue, self.layer
        y = acc.to(torch.float64) * layer.input_scale * layer.weight_scale.reshape(1, -1, 1, 1)
        if layer.bias is not None:
            y = y + layer.bias.to(torch.float64).reshape(1, -1, 1, 1)
        if e.act == "relu":
            y = y.clamp_min(0.0)
        elif e.act is not None:
            slope = e.slope.reshape(1, -1, 1, 1) if isinstance(e.slope, torch.Tensor) else e.slope
            y = torch.where(y >= 0, y, y * slope)
        if residual is not None:
            y = y + residual.to(torch.float64)
        return torch.clamp(torch.round(y / e.s_out) + e.z_out, e.qmin, e.qmax).to(torch.uint8)


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (IntegerConv2d, ChainedConv)) or super().is_leaf_module(m, qualname)


def _activation(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[str, float | torch.Tensor] | None:
    """``(act, slope)`` of an elementwise activation node of one tensor argument, else None."""
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.ReLU):
            return "relu", 0.0
        if isinstance(m, nn.LeakyReLU):
            return "leaky_relu", float(m.negative_slope)
        if isinstance(m, nn.PReLU):
            return "prelu", m.weight.detach().to(torch.float64).reshape(-1)
    if node.op == "call_function" and node.target in (torch.relu, F.relu, torch.relu_):
        return "relu", 0.0
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return "relu", 0.0
    if node.op == "call_function" and node.target is F.leaky_relu:
        slope = node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
        return ("leaky_relu", float(slope)) if isinstance(slope, (int, float)) else None
    return None


def _is_conv(node: fx.Node, modules: dict[str, nn.Module], calls: dict[str, int]) -> bool:
    m = modules.get(node.target) if node.op == "call_module" else None
    return isinstance(m, IntegerConv2d) and not isinstance(m, IntegerLinear) and calls[node.target] == 1


def _is_shuffle(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], nn.PixelShuffle)
    return node.op == "call_function" and node.target in (F.pixel_shuffle, torch.pixel_shuffle)


def _is_cat(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in (torch.cat, torch.concat) and len(node.args) >= 1
            and isinstance(node.args[0], (list, tuple)) and all(isinstance(a, fx.Node) for a in node.args[0]))


def _is_add(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in (operator.add, torch.add) and not node.kwargs
            and len(node.args) == 2 and all(isinstance(a, fx.Node) for a in node.args))


Feed = tuple[fx.Node, "fx.Node | None", list[str], "fx.Node | None"]


def _feed(node: fx.Node, modules, calls) -> Feed | None:
    """``(producer, activation node or None, steps, residual node or None)`` where ``node`` is an
    integer conv's output reached through at most one elementwise activation and any pixel
    shuffles (:func:`_walk`), or the sum of such an output (without shuffles) and another tensor,
    the residual, which the producer's epilogue adds after its activation as
    :func:`qsrbench.kernels.reference.requantize` does; None otherwise."""
    if not _is_add(node):
        return _walk(node, modules, calls)
    if len(node.users) != 1 or node.args[0] is node.args[1]:  # t + t: the producer would be its own residual
        return None
    for part, other in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
        feed = _walk(part, modules, calls)
        if feed is not None and "pixel_shuffle" not in feed[2]:
            return feed[0], feed[1], feed[2] + ["add"], other
    return None


def _walk(node: fx.Node, modules, calls) -> Feed | None:
    """The feed of ``node`` without a residual: every node on the way used once (``steps``: what
    lies between, in data-flow order). A per-channel activation (PReLU) after a shuffle does not
    commute with it and ends the walk."""
    act, steps = None, []
    while len(node.users) == 1:
        if _is_conv(node, modules, calls):
            return node, act, steps, None
        if len(node.all_input_nodes) != 1:
            return None
        kind = _activation(node, modules)
        if kind is not None and act is None:
            act = node
        elif not _is_shuffle(node, modules) or (act is not None and _activation(act, modules)[0] == "prelu"):
            return None
        steps.insert(0, kind[0] if kind is not None else "pixel_shuffle")
        node = node.all_input_nodes[0]
    return None


def _links(gm: fx.GraphModule) -> list[tuple[list[Feed], fx.Node, bool]]:
    """``(feeds, consumer, through_cat)`` for every integer conv whose input can come as codes: its
    one input is a joinable feed (:func:`_feed`), or a concatenation, used only by it, of joinable
    feeds (the consumer's per-tensor codes of a concatenation are the concatenation of its
    parts' codes)."""
    modules = dict(gm.named_modules())
    calls: dict[str, int] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    links = []
    for c in gm.graph.nodes:
        if not _is_conv(c, modules, calls) or len(c.args) != 1 or len(c.all_input_nodes) != 1:
            continue
        (n,) = c.all_input_nodes
        if _is_cat(n) and len(n.users) == 1:
            feeds = [_feed(part, modules, calls) for part in n.args[0]]
            if all(feeds) and len({f[0] for f in feeds}) == len(feeds):
                links.append((feeds, c, True))
        elif (feed := _feed(n, modules, calls)) is not None:
            links.append(([feed], c, False))
    return links


def chain_codes(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """``model`` (integerized) with every joinable pair of integer convs joined on codes, and the
    joins as ``"producer -> consumer"`` or ``"producer -[steps]-> consumer"`` (steps in data-flow
    order: the activation, ``pixel_shuffle``, ``add``, ``cat``) in graph order; ``model`` itself and a
    one-line reason where fx cannot trace it."""
    try:
        gm = fx.GraphModule(model, _LeafTracer().trace(model), type(model).__name__)
    except Exception as exc:  # noqa: BLE001 - fx raises many kinds of errors
        return model, [f"not chained: {type(model).__name__} is not torch.fx-traceable ({exc})"]
    modules = dict(gm.named_modules())
    emit: dict[str, Epilogue] = {}
    takes: set[str] = set()
    joins = []
    for feeds, c, through_cat in _links(gm):
        qp = modules[c.target].input_qparams
        for p, act, steps, residual in feeds:
            kind, slope = _activation(act, modules) if act is not None else (None, 0.0)
            emit[p.target] = Epilogue(float(qp.scale), int(qp.zero_point), int(qp.qmin), int(qp.qmax), kind, slope)
            steps = steps + ["cat"] if through_cat else steps
            joins.append(f"{p.target} -[{', '.join(steps)}]-> {c.target}" if steps else f"{p.target} -> {c.target}")
            if act is not None:
                act.replace_all_uses_with(act.all_input_nodes[0])
                gm.graph.erase_node(act)
            if residual is not None:  # the producer takes the residual, placed where the sum was
                (add,) = p.users
                add.prepend(p)
                p.args = (p.args[0], residual)
                add.replace_all_uses_with(p)
                gm.graph.erase_node(add)
        takes.add(c.target)
    for name in sorted(set(emit) | takes):
        parent, _, child = name.rpartition(".")
        owner = gm.get_submodule(parent) if parent else gm
        setattr(owner, child, ChainedConv(modules[name], name in takes, emit.get(name)))
    gm.graph.lint()
    gm.recompile()
    return gm, joins

