"""PC-DARTS: partial channel connections for memory-efficient differentiable search.

Xu, Xie, Zhang, Chen, Qi, Tian and Xiong, "PC-DARTS: Partial Channel Connections for
Memory-Efficient Architecture Search", ICLR 2020 (arXiv 1907.05737); followed: the authors'
``train_search.py`` and ``model_search.py`` (github.com/yuhuixu1993/PC-DARTS, main branch, commit
b74702f).

Algorithm: DARTS's first-order relaxation (:class:`reference.darts.Relaxation`) on the supernet's
partial mode: only the first 1/K of an edge's channels go through the weighted operations (the
code's fixed slice; the paper describes random sampling), the rest bypass them (max-pooled on
reduction edges), then a channel shuffle; edge normalization: each node sums its incoming edges
weighted by softmax(β) over them, β learned with α. The architecture is frozen for the first
``warmup_epochs`` (the code's ``if epoch >= 15``). The genotype is parsed from softmax(α) ·
softmax(β) of each edge.

Settings that differ from DARTS (official values are this method's defaults): search batch 256,
lr 0.1 with lr_min 0 (the main branch since commit a2fa00a; the V100 copy and the first commit
use 0.001), architecture lr 6e-4, K = 4, warm-up 15 epochs; final drop-path 0.3. The 0.1
GPU-day claim assumes them. Paper (CIFAR-10): 2.57 ± 0.07 % test error, 3.6M params, 0.1
GPU-days.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from qsrbench.nas.method import FinalParams, NASMethod, NASParams, SearchParams
from qsrbench.nas.supernet import Supernet
from qsrbench.registry import register_method

from .darts import Relaxation


class PartialRelaxation(Relaxation):
    """α and β on the partial-channel supernet (edge normalization)."""

    mode = "partial"

    def __init__(self, partial_k: int, warmup_epochs: int):
        super().__init__(warmup_epochs)
        self.partial_k = partial_k

    def arch_parameters(self, net: Supernet) -> list[torch.nn.Parameter]:
        return net.arch_parameters()  # α and β of both cells

    def edge_op_weights(self, net: Supernet) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(F.softmax(alpha, dim=-1) * net.edge_weights(beta)[:, None]
                     for alpha, beta in ((net.alphas_normal, net.betas_normal),
                                         (net.alphas_reduce, net.betas_reduce)))


class PCDARTSSearch(SearchParams):
    batch_size: int = Field(256, ge=1, description="mini-batch of weight and architecture steps")
    lr: float = Field(0.1, gt=0, description="SGD learning rate of the weights")
    lr_min: float = Field(0.0, ge=0, description="cosine schedule's final learning rate")
    arch_lr: float = Field(6e-4, gt=0, description="Adam learning rate of α and β")


class PCDARTSFinal(FinalParams):
    drop_path: float = Field(0.3, ge=0, lt=1, description="final drop-path probability (linear ramp)")


class PCDARTSParams(NASParams):
    name: Literal["pc-darts"] = Field(description="PC-DARTS")
    search: PCDARTSSearch = Field(PCDARTSSearch(), description="the search loop's settings")
    final: PCDARTSFinal = Field(PCDARTSFinal(), description="the final training of the derived genotype")
    partial_k: int = Field(4, ge=2, description="1/K of the channels go through the operations")
    warmup_epochs: int = Field(15, ge=0, description="epochs before the first architecture step")


def partial_k_problems(m) -> list[tuple[str, str]]:
    """The spec error when the method's ``partial_k`` does not divide ``search.channels`` (the
    1/K channel split needs whole channels); shared by every partial-channel method."""
    if m.search.channels % m.partial_k:
        return [("method.partial_k", f"K = {m.partial_k} must divide the supernet's "
                 f"{m.search.channels} channels")]
    return []


@register_method
class PCDARTS(NASMethod):
    name = "pc-darts"
    Params = PCDARTSParams
    citation = "Xu et al., PC-DARTS, ICLR 2020 (arXiv 1907.05737)"

    @classmethod
    def check_method(cls, spec):
        m = spec.method
        problems = partial_k_problems(m)
        if m.warmup_epochs >= m.search.epochs:
            problems.append(("method.warmup_epochs", f"{m.warmup_epochs} warm-up epochs leave no "
                             f"architecture step in {m.search.epochs} epochs"))
        return problems

    def strategy(self, spec, seed):
        return PartialRelaxation(spec.method.partial_k, spec.method.warmup_epochs)
