"""Random search baseline: a genotype drawn uniformly from the cell space, trained like the others.

The baseline every NAS paper of this space is measured against (Liu et al., ICLR 2019, Table 1,
"Random search baseline"; Li and Talwalkar, "Random Search and Reproducibility for Neural
Architecture Search", UAI 2019). Per seed, each intermediate node of the normal and of the
reduction cell takes two distinct inputs among the earlier nodes, uniformly, each with an
operation drawn uniformly from the seven that are not 'none'; the genotype then gets exactly the
final training of the spec, so a method's row and this one differ only by how the genotype was
found. The DARTS paper's baseline also selected the best of 24 samples by a 100-epoch training;
this one does not select (``search_s`` is the time to draw the genotype).
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import Field

import torch

from qsrbench.env import device_name
from qsrbench.nas import PRIMITIVES, Genotype
from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.nas.search import SearchResult
from qsrbench.registry import register_method

__all__ = ["random_genotype", "RandomSearch"]


def random_genotype(generator: torch.Generator, steps: int = 4) -> Genotype:
    ops = [p for p in PRIMITIVES if p != "none"]

    def cell():
        pairs = []
        for node in range(steps):
            inputs = sorted(torch.randperm(node + 2, generator=generator)[:2].tolist())
            pairs += [(ops[int(torch.randint(0, len(ops), (1,), generator=generator))], j) for j in inputs]
        return pairs

    return Genotype(normal=cell(), reduce=cell(), normal_concat=list(range(2, steps + 2)),
                    reduce_concat=list(range(2, steps + 2)))


class RandomSearchParams(NASParams):
    name: Literal["random-search"] = Field(description="random genotypes (baseline)")


@register_method
class RandomSearch(NASMethod):
    name = "random-search"
    Params = RandomSearchParams
    citation = "random genotypes of the cell space (Liu et al. 2019; Li and Talwalkar, UAI 2019)"

    def find_genotype(self, spec, seed, train, device):
        t0 = time.perf_counter()
        genotype = random_genotype(torch.Generator().manual_seed(seed))
        return SearchResult(genotype, time.perf_counter() - t0, device_name(torch.device(device)), 0)
