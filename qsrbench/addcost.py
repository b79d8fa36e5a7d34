"""BitOps of element-wise additions of quantized operands (fully quantized models' residual adds).

Convention (the harness's; the quantized-SR papers count conv/linear BitOps only and do not
state one for adds): an addition of two ``b``-bit integer operands costs ``b`` BitOps per output
element (one full adder per bit) and no MACs. Additions of full-precision operands are not
counted, as everywhere else in :mod:`qsrbench.bitops`. The elements are those of one LR input of
the given shape, propagated through the traced model on the meta device (no memory, no time).
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .bitops import LayerCost

__all__ = ["AddCost", "add_nodes", "add_costs"]

ADDS = (operator.add, torch.add, operator.iadd)


@dataclass(frozen=True)
class AddCost(LayerCost):
    """One addition node: ``elements`` output elements of ``weight_bits``-bit operands."""

    elements: int = 0

    @property
    def bitops(self) -> int:
        return self.elements * self.weight_bits


def add_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """The tensor additions of a traced model, in graph order."""
    return [n for n in gm.graph.nodes
            if (n.op == "call_function" and n.target in ADDS)
            or (n.op == "call_method" and n.target in ("add", "add_"))]


def add_costs(model: nn.Module, input_shape: tuple[int, ...], bits: int,
              skip: set[str] = frozenset()) -> list[AddCost]:
    """One :class:`AddCost` per addition of ``model`` (traced by ``torch.fx``) whose node name is
    not in ``skip``, at ``bits`` per operand, for one input of ``input_shape``."""
    meta = copy.deepcopy(model).to("meta")
    gm = fx.symbolic_trace(meta)
    ShapeProp(gm).propagate(torch.empty(input_shape, device="meta"))
    out = []
    for node in add_nodes(gm):
        if node.name in skip:
            continue
        shape = node.meta["tensor_meta"].shape
        out.append(AddCost(f"add:{node.name}", "add", 0, bits, bits, int(torch.Size(shape).numel())))
    return out
