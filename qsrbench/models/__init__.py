"""SR model registry. A model maps an LR batch to an SR batch.

Interface: ``forward(x)`` takes ``(N, C, h, w)`` float32 in [0, 255] (C = 3, or 1 in the 'y'
protocol domain) and returns ``(N, C, s*h, s*w)`` in [0, 255]; outputs are rounded to uint8 by
the evaluator, not by the model. Models with another input range wrap themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

import torch

from ..registry import models, register_model

__all__ = ["ModelInfo", "create_model", "register_model", "RangeAdapter", "mark_not_quantized", "NOT_QUANTIZED"]

NOT_QUANTIZED = "qsrbench_not_quantized"


@dataclass(frozen=True)
class ModelInfo:
    """A registered SR architecture: how to build it and what it supports."""

    name: str
    factory: Callable[..., nn.Module]
    scales: tuple[int, ...]
    in_channels: tuple[int, ...] = (3,)
    description: str = ""
    paper: str = ""
    input_range: float = 255.0  # the network's own pixel range: 1.0 for [0,1], 255.0 for [0,255]


def mark_not_quantized(*modules: nn.Module) -> None:
    """Exclude layers from quantization: the pixel-space mean shifts (1x1 convs applied to the
    input and output images) are part of the data convention, not of the network the
    quantization papers quantize; they stay FP and are not "first"/"last" layers."""
    for m in modules:
        setattr(m, NOT_QUANTIZED, True)


class RangeAdapter(nn.Module):
    """Presents a network of pixel range ``input_range`` with the harness's [0, 255] interface.

    The wrapped network is the attribute ``net``, so its state_dict keys get a ``net.`` prefix;
    load checkpoints into ``adapter.net``.
    """

    def __init__(self, net: nn.Module, input_range: float):
        super().__init__()
        self.net = net
        self.input_range = float(input_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_range == 255.0:
            return self.net(x)
        k = 255.0 / self.input_range
        return self.net(x / k) * k


def create_model(name: str, scale: int, **kwargs) -> nn.Module:
    """Build registered model ``name`` for ``scale``: the bare network, in its own pixel range
    (weights are loaded by the method; wrap with :class:`RangeAdapter` for evaluation)."""
    info: ModelInfo = models.get(name)
    if scale not in info.scales:
        from ..errors import QsrbenchError

        raise QsrbenchError(f"model {name!r} does not support scale {scale} "
                            f"(supported: {', '.join(map(str, info.scales))})")
    return info.factory(scale=scale, **kwargs)
