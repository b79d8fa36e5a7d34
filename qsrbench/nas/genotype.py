"""Genotypes of the cell space: the discrete architecture a search returns (pydantic, validated).

A genotype lists, for the normal and the reduction cell, two ``(operation, input)`` pairs per
intermediate node (input 0/1 = the cell's two inputs, k + 2 = intermediate node k) and the
nodes concatenated at the output. This is the format of ``genotypes.py`` of Liu et al. (ICLR
2019; quark0 repository) and of ``shared/nas/bpe_ground_truth.json``.

:func:`derive_genotype` is the authors' ``genotype()/_parse`` rule on any ``(edges, ops)`` score
table (softmaxed α, α times edge weights, probabilities): per node the two incoming edges whose
best non-'none' score is highest, each with that operation. Ties are explicit: between edges the
lower edge index wins (a stable sort, as the authors' ``sorted``), between operations the
earlier one in :data:`PRIMITIVES` (their strict ``>`` scan).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import QsrbenchError

__all__ = ["PRIMITIVES", "Genotype", "derive_genotype", "num_edges", "edge_index"]

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

Pair = tuple[str, Annotated[int, Field(ge=0)]]


def num_edges(steps: int = 4) -> int:
    return sum(2 + i for i in range(steps))


def edge_index(node: int, source: int) -> int:
    """Index of the edge from ``source`` (0/1 = cell inputs, k + 2 = node k) into node ``node``."""
    return sum(2 + i for i in range(node)) + source


class Genotype(BaseModel):
    """An architecture of the cell space. ``normal`` / ``reduce``: 2 pairs per node, node by node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    normal: list[Pair]
    normal_concat: list[int] = [2, 3, 4, 5]
    reduce: list[Pair]
    reduce_concat: list[int] = [2, 3, 4, 5]

    @field_validator("normal", "reduce", mode="before")
    @classmethod
    def _flatten(cls, pairs):
        """Accept the per-node nesting ``[[pair, pair], ...]`` (as in bpe_ground_truth.json) too."""
        if isinstance(pairs, list) and pairs and all(
                isinstance(n, (list, tuple)) and len(n) == 2 and all(isinstance(q, (list, tuple)) for q in n)
                for n in pairs):
            return [tuple(q) for n in pairs for q in n]
        return pairs

    @field_validator("normal", "reduce")
    @classmethod
    def _pairs(cls, pairs: list[Pair]) -> list[Pair]:
        if len(pairs) % 2:
            raise ValueError(f"expected two (operation, input) pairs per node, got {len(pairs)} pairs")
        for k, (op, src) in enumerate(pairs):
            node = k // 2
            if op not in PRIMITIVES or op == "none":
                allowed = ", ".join(p for p in PRIMITIVES if p != "none")
                raise ValueError(f"pair {k}: unknown operation {op!r} (allowed: {allowed})")
            if src >= node + 2:
                raise ValueError(f"pair {k}: node {node} can take inputs 0..{node + 1}, not {src}")
        return pairs

    @model_validator(mode="after")
    def _concat(self) -> "Genotype":
        for cell in ("normal", "reduce"):
            nodes = len(getattr(self, cell)) // 2
            concat = getattr(self, f"{cell}_concat")
            bad = [c for c in concat if not 2 <= c < nodes + 2]
            if bad or not concat:
                raise ValueError(f"{cell}_concat: {concat} must name nodes 2..{nodes + 1}")
        return self

    @property
    def steps(self) -> int:
        return len(self.normal) // 2

    @classmethod
    def parse(cls, data: dict, where: str = "genotype") -> "Genotype":
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            msgs = "; ".join(f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise QsrbenchError(f"malformed genotype: {msgs}") from None


def _derive_cell(weights: torch.Tensor, steps: int) -> list[tuple[str, int]]:
    """Per node keep the 2 incoming edges whose strongest non-'none' op is largest, each with
    that op (ties: the lower edge, the earlier op)."""
    none = PRIMITIVES.index("none")
    pairs: list[tuple[str, int]] = []
    start = 0
    for node in range(steps):
        w = weights[start:start + node + 2].clone()
        w[:, none] = -float("inf")
        best_op = w.argmax(dim=1)
        strength = w.max(dim=1).values
        chosen = sorted(torch.argsort(strength, descending=True, stable=True)[:2].tolist())
        pairs += [(PRIMITIVES[int(best_op[j])], j) for j in chosen]
        start += node + 2
    return pairs


def derive_genotype(normal: torch.Tensor, reduce: torch.Tensor, steps: int = 4) -> Genotype:
    """The genotype of architecture weights (``(edges, ops)``: softmaxed alphas or probabilities)."""
    for name, w in (("normal", normal), ("reduce", reduce)):
        if tuple(w.shape) != (num_edges(steps), len(PRIMITIVES)):
            raise QsrbenchError(f"{name} weights have shape {tuple(w.shape)}, expected "
                                f"({num_edges(steps)}, {len(PRIMITIVES)})")
    concat = list(range(2, steps + 2))
    return Genotype(normal=_derive_cell(normal.detach(), steps), normal_concat=concat,
                    reduce=_derive_cell(reduce.detach(), steps), reduce_concat=concat)
