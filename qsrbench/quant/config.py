"""Per-layer quantization configuration: spec data that says which layer gets which bits.

A :class:`QuantConfig` is resolved against a concrete model into a :class:`LayerPlan` per conv /
linear layer (``named_modules`` names). Rules, applied in order:

1. every conv/linear layer gets the default ``weight``/``activation`` settings;
2. ``keep_fp`` layers stay at 32/32 (``"first"`` and ``"last"`` are aliases for the first and last
   conv/linear layer in execution order, as PAMS/FQSR/DQSS discuss them);
3. ``layers`` overrides bits (mixed precision) for named layers; a name that matches no
   conv/linear layer of the model is an error that lists the valid names.

``quantize_skips`` and ``quantize_upsampler_input`` ask the model converter to also quantize the
inputs of residual additions and of the upsampler (FQSR's "fully quantized" setting), at
``skip_bits`` (default: the activation bits; FQSR's 8-bit option for skips at W4A4).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field
from torch import nn

from ..errors import QsrbenchError
from ..spec import Strict

__all__ = ["TensorQuant", "LayerBits", "QuantConfig", "LayerPlan", "resolve_plan",
           "quantizable_layers"]

Bits = Annotated[int, Field(ge=1, le=32)]
QUANTIZABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


class TensorQuant(Strict):
    """How one kind of tensor (weights or activations) is quantized."""

    quantizer: str = "uniform"
    bits: Bits = 8
    granularity: Literal["per-tensor", "per-channel"] = "per-tensor"
    symmetric: bool = True


class LayerBits(Strict):
    """A per-layer override (mixed precision)."""

    weight: Bits | None = None
    activation: Bits | None = None


class QuantConfig(Strict):
    weight: TensorQuant = TensorQuant(granularity="per-channel")
    activation: TensorQuant = TensorQuant(symmetric=False)
    keep_fp: list[str] = ["first", "last"]
    layers: dict[str, LayerBits] = {}
    quantize_skips: bool = False
    quantize_upsampler_input: bool = False
    skip_bits: Bits | None = None  # bits of the skip / upsampler-input quantizers (default: activation)


@dataclass(frozen=True)
class LayerPlan:
    name: str
    weight: TensorQuant | None  # None: full precision
    activation: TensorQuant | None

    @property
    def bits(self) -> tuple[int, int]:
        return (self.weight.bits if self.weight else 32, self.activation.bits if self.activation else 32)


def quantizable_layers(model: nn.Module) -> list[str]:
    """Names of conv/linear layers in registration order (layers a model marked with
    :func:`qsrbench.models.mark_not_quantized`, its pixel-space mean shifts, are left out)."""
    return [n for n, m in model.named_modules()
            if isinstance(m, QUANTIZABLE) and not getattr(m, "qsrbench_not_quantized", False)]


def resolve_plan(model: nn.Module, config: QuantConfig, order: list[str] | None = None) -> dict[str, LayerPlan]:
    """The plan of every conv/linear layer; ``order`` is the execution order (default: registration)."""
    names = quantizable_layers(model)
    if not names:
        raise QsrbenchError(f"{type(model).__name__} has no conv or linear layer to quantize")
    order = [n for n in (order or names) if n in names]
    alias = {"first": order[0], "last": order[-1]}

    def check(name: str, where: str) -> str:
        if name in alias:
            return alias[name]
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise QsrbenchError(f"quant.{where}: {name!r} is not a conv/linear layer of "
                                f"{type(model).__name__}{hint} (layers: {', '.join(names)})")
        return name

    fp = {check(n, "keep_fp") for n in config.keep_fp}
    overrides = {check(n, f"layers.{n}"): o for n, o in config.layers.items()}
    plan = {}
    for name in names:
        if name in fp:
            plan[name] = LayerPlan(name, None, None)
            continue
        w, a = config.weight, config.activation
        if name in overrides:
            o = overrides[name]
            w = w.model_copy(update={"bits": o.weight}) if o.weight else w
            a = a.model_copy(update={"bits": o.activation}) if o.activation else a
        plan[name] = LayerPlan(name, None if w.bits == 32 else w, None if a.bits == 32 else a)
    return plan
