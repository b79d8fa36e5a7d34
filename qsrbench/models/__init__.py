"""SR model registry. A model maps an LR batch to an SR batch.

Interface: ``forward(x)`` takes ``(N, C, h, w)`` float32 in [0, 255] (C = 3, or 1 in the 'y'
protocol domain) and returns ``(N, C, s*h, s*w)`` in [0, 255]; outputs are rounded to uint8 by
the evaluator, not by the model. Models with another input range wrap themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..registry import models, register_model

__all__ = ["ModelInfo", "create_model", "register_model"]


@dataclass(frozen=True)
class ModelInfo:
    """A registered SR architecture: how to build it and what it supports."""

    name: str
    factory: Callable[..., nn.Module]
    scales: tuple[int, ...]
    in_channels: tuple[int, ...] = (3,)
    description: str = ""
    paper: str = ""


def create_model(name: str, scale: int, **kwargs) -> nn.Module:
    """Build registered model ``name`` for ``scale`` (weights are loaded by the method)."""
    info: ModelInfo = models.get(name)
    if scale not in info.scales:
        from ..errors import QsrbenchError

        raise QsrbenchError(f"model {name!r} does not support scale {scale} "
                            f"(supported: {', '.join(map(str, info.scales))})")
    return info.factory(scale=scale, **kwargs)
