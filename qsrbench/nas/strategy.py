"""Building blocks for search strategies (:class:`~.search.SearchStrategy`): do-nothing defaults
and per-edge categorical sampling. A method module subclasses :class:`StrategyBase` and overrides
what its algorithm does; the algorithm itself stays in the method's module."""

from __future__ import annotations

import torch

from .genotype import PRIMITIVES, num_edges
from .search import Path, Validate
from .supernet import Mode, Supernet

__all__ = ["StrategyBase", "sample_path", "uniform_table", "EDGES", "OPS"]

EDGES = num_edges()  # edges of one cell
OPS = len(PRIMITIVES)


def sample_path(probs: torch.Tensor, generator: torch.Generator | None = None) -> list[int]:
    """One operation index per edge, drawn from each row of ``probs`` (rows sum to 1)."""
    return torch.multinomial(probs.float(), 1, generator=generator).squeeze(1).tolist()


def uniform_table(edges: int = EDGES, ops: int = OPS) -> torch.Tensor:
    """An ``(edges, ops)`` float64 table of uniform probabilities."""
    return torch.full((edges, ops), 1.0 / ops, dtype=torch.float64)


class StrategyBase:
    """Defaults of every hook: single-path mode, no architecture parameters, nothing sampled."""

    mode: Mode = "single"
    partial_k: int = 1

    def prepare_supernet(self, net: Supernet) -> Supernet:
        return net

    def arch_parameters(self, net: Supernet) -> list[torch.nn.Parameter]:
        return []

    def begin_epoch(self, epoch: int, generator: torch.Generator) -> None:
        pass

    def path(self, step: int, generator: torch.Generator) -> Path | None:
        return None

    def arch_step_now(self, epoch: int) -> bool:
        return False

    def arch_weights(self, net: Supernet):
        return None

    def after_step(self, path: Path | None, validate: Validate, generator: torch.Generator) -> None:
        pass

    def end_epoch(self, epoch: int, validate: Validate) -> None:
        pass

    def finished(self) -> bool:
        return False

    def summary(self) -> dict:
        return {}
