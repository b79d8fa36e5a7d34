"""MACs and BitOps per layer, counted by ``torch.utils.flop_counter`` on the meta device.

Conventions:

* a MAC is one multiply-accumulate of a convolution or a linear layer (``aten.convolution``,
  ``mm``/``addmm``/``bmm``); FlopCounterMode reports 2 FLOPs per MAC. Element-wise products,
  additions, pooling, activations and pixel shuffles are not counted (the convention of the
  quantized-SR papers, which count BitOps of conv/linear layers only);
* ``BitOps = MACs × weight bits × activation bits`` per layer; a layer left in full precision
  counts as 32 × 32 (as PAMS, FQSR and DQSS report it);
* counts are for one LR input of ``(1, C, h, w)``; the model is copied to the meta device, so
  any input size costs no memory and no time.

References: Li et al., PAMS, ECCV 2020 (BitOps of quantized SR); Wang et al., FQSR, 2021.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["LayerCost", "count_macs", "layer_costs", "total_bitops", "BitsFor", "REFERENCE_LR"]

BitsFor = Callable[[str, nn.Module], tuple[int, int]]
REFERENCE_LR = (180, 320)  # records report MACs/BitOps for a 180x320 (h x w) LR input: 720p HR at x4
COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


@dataclass(frozen=True)
class LayerCost:
    """One conv/linear layer: its MACs for the given input, its bits and its BitOps."""

    name: str
    kind: str
    macs: int
    weight_bits: int
    activation_bits: int

    @property
    def bitops(self) -> int:
        return self.macs * self.weight_bits * self.activation_bits


def _meta_copy(model: nn.Module) -> nn.Module:
    try:
        return copy.deepcopy(model).to("meta")
    except Exception:  # noqa: BLE001 - some modules cannot be deep-copied; count in place
        return model


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """MACs per leaf module name (its ``named_modules`` name) for one input of ``input_shape``."""
    meta = _meta_copy(model)
    device = next((p.device for p in meta.parameters()), torch.device("meta"))
    x = torch.empty(input_shape, device=device)
    mode = FlopCounterMode(display=False)
    with mode, torch.no_grad():
        meta(x)
    root = type(meta).__name__
    flops = {}
    for key, ops in mode.get_flop_counts().items():
        if key == "Global" or key == root:
            continue
        name = key[len(root) + 1:] if key.startswith(root + ".") else key
        flops[name] = sum(int(v) for v in ops.values())
    leaves = {n for n, m in meta.named_modules() if isinstance(m, COUNTED)}
    return {n: flops.get(n, 0) // 2 for n in sorted(leaves, key=list(dict(meta.named_modules())).index)}


def layer_costs(model: nn.Module, input_shape: tuple[int, ...],
                bits_for: BitsFor | None = None) -> list[LayerCost]:
    """Per-layer MACs and BitOps; ``bits_for(name, module) -> (w_bits, a_bits)`` (default 32, 32)."""
    modules = dict(model.named_modules())
    out = []
    for name, macs in count_macs(model, input_shape).items():
        module = modules[name]
        w, a = bits_for(name, module) if bits_for else (32, 32)
        out.append(LayerCost(name, type(module).__name__, macs, int(w), int(a)))
    return out


def total_bitops(costs: list[LayerCost]) -> int:
    return sum(c.bitops for c in costs)
