"""PC-DARTS: partial channel connections for memory-efficient differentiable search.

Xu, Xie, Zhang, Chen, Qi, Tian and Xiong, "PC-DARTS: Partial Channel Connections for
Memory-Efficient Architecture Search", ICLR 2020 (arXiv 1907.05737). The supernet's partial
mode: 1/K of the channels through the weighted operations, edge normalization β, architecture
frozen during a warm-up. Paper (CIFAR-10): 2.57 ± 0.07% test error, 3.6M params, 0.1 GPU-days.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.registry import register_method


class PCDARTSParams(NASParams):
    name: Literal["pc-darts"]
    partial_k: int = Field(4, ge=2)
    warmup_epochs: int = Field(15, ge=0)


@register_method
class PCDARTS(NASMethod):
    name = "pc-darts"
    Params = PCDARTSParams
    search_method = "pc-darts"
    citation = "Xu et al., PC-DARTS, ICLR 2020 (arXiv 1907.05737)"
    budget_fields = {"partial_k": "partial_k", "warmup_epochs": "warmup_epochs"}
