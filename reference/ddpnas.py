"""DDPNAS: dynamic distribution pruning for efficient architecture search.

Zheng, Ji, Tang, Zhang, Wang and Tian, "Dynamic Distribution Pruning for Efficient Network
Architecture Search", arXiv 1905.13543 (2019). Paths sampled from per-edge categorical
distributions; every ``prune_every`` epochs the least probable operation of each edge is
removed until one architecture remains (:mod:`qsrbench.nas.distributions`). Paper (CIFAR-10):
1.9% test error (with AutoAugment-style training, per the abstract), 1.5 GPU-hours on a V100.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.registry import register_method


class DDPNASParams(NASParams):
    name: Literal["ddpnas"]
    prune_every: int = Field(1, ge=1)


@register_method
class DDPNAS(NASMethod):
    name = "ddpnas"
    Params = DDPNASParams
    search_method = "ddpnas"
    citation = "Zheng et al., DDPNAS, arXiv 1905.13543 (2019)"
    budget_fields = {"prune_every": "prune_every"}
