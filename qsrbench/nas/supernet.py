"""The cell-space supernet (Liu et al., ICLR 2019, arXiv 1806.09055) with three forward modes.

* ``"weighted"`` — every edge outputs the softmax(α)-weighted sum of all eight operations
  (continuous relaxation, Liu et al. Sec. 2.2).
* ``"partial"`` — only 1/K of the channels go through the weighted operations, the first 1/K
  as the authors' code does (the rest bypass, max-pooled on reduction edges), followed by a
  channel shuffle; each node sums its incoming edges weighted by softmax(β) over those edges
  (Xu et al., ICLR 2020, arXiv 1907.05737: partial channels and edge normalization).
* ``"single"`` — one operation per edge (``path``: the operation index of every edge of the
  normal and of the reduction cell); only those operations run (the single-path supernet of the
  distribution-learning methods, Zheng et al., ICCV 2019 and arXiv 1905.13543). On a supernet
  built with ``partial_k`` > 1 the operation sees the first 1/K of the channels, as in the
  partial mode (no β): the sampled sub-networks of a channel-sampling single-path search
  (Chen et al., AAAI 2020, arXiv 1911.10862).

In every mode the pooling operations are followed by ``BatchNorm2d(affine=False)`` (the authors'
``MixedOp``), so pooled outputs are normalised like the convolutions'.

Layout (CIFAR): stem conv3x3 (3 → 3C) + BN, ``layers`` cells with reductions at
``layers // 3`` and ``2 * layers // 3`` (channels doubled there), global average pooling and a
linear classifier. The architecture parameters α (and β) live beside the network weights
(:meth:`Supernet.arch_parameters`); search methods use them or not.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import QsrbenchError
from .genotype import PRIMITIVES, num_edges
from .ops import FactorizedReduce, ReLUConvBN, make_op

__all__ = ["MixedOp", "SearchCell", "Supernet", "Mode", "channel_shuffle"]

Mode = Literal["weighted", "partial", "single"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedOp(nn.Module):
    """All candidate operations of one edge; ``partial_k`` > 1 builds them on C / K channels."""

    def __init__(self, channels: int, stride: int, partial_k: int = 1):
        super().__init__()
        if channels % partial_k:
            raise QsrbenchError(f"partial-channel K = {partial_k} must divide {channels} channels")
        self.k, self.stride = partial_k, stride
        width = channels // partial_k
        self.ops = nn.ModuleList(make_op(name, width, stride, affine=False, pool_bn=True)
                                 for name in PRIMITIVES)
        if stride == 2 and partial_k > 1:
            self.bypass = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, index: int | None = None):
        """The ``weights``-weighted sum of the operations, or operation ``index`` alone; with
        ``partial_k`` > 1 either runs on the first 1/K of the channels (the rest bypass)."""
        if self.k == 1:
            return self._run_ops(x, weights, index)
        width = x.shape[1] // self.k
        active, rest = x[:, :width], x[:, width:]
        out = self._run_ops(active, weights, index)
        rest = rest if self.stride == 1 else self.bypass(rest)
        return channel_shuffle(torch.cat([out, rest], dim=1), self.k)

    def _run_ops(self, x: torch.Tensor, weights: torch.Tensor | None, index: int | None) -> torch.Tensor:
        if index is not None:
            return self.ops[index](x)
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    def __init__(self, steps: int, multiplier: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, partial_k: int = 1):
        super().__init__()
        self.reduction, self.steps, self.multiplier = reduction, steps, multiplier
        self.preprocess0 = FactorizedReduce(c_pp, c, affine=False) if reduction_prev \
            else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(MixedOp(c, 2 if reduction and j < 2 else 1, partial_k)
                                   for i in range(steps) for j in range(2 + i))

    def forward(self, s0, s1, weights=None, betas=None, path: Sequence[int] | None = None):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        e = 0
        for i in range(self.steps):
            terms = []
            for j, h in enumerate(states):
                if path is not None:
                    terms.append(self.edges[e](h, index=int(path[e])))
                else:
                    out = self.edges[e](h, weights[e])
                    terms.append(out * betas[e] if betas is not None else out)
                e += 1
            states.append(sum(terms))
        return torch.cat(states[-self.multiplier:], dim=1)


class Supernet(nn.Module):
    """The search network: ``C`` initial channels, ``layers`` cells, ``num_classes`` outputs."""

    def __init__(self, channels: int = 16, layers: int = 8, num_classes: int = 10, steps: int = 4,
                 multiplier: int = 4, stem_multiplier: int = 3, partial_k: int = 1):
        super().__init__()
        self.steps, self.partial_k = steps, partial_k
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.reductions = {layers // 3, 2 * layers // 3}
        for i in range(layers):
            reduction = i in self.reductions
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(steps, multiplier, c_pp, c_p, c_curr, reduction,
                                         reduction_prev, partial_k))
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c_curr
        self.classifier = nn.Linear(c_p, num_classes)
        e, n = num_edges(steps), len(PRIMITIVES)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(e, n))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(e, n))
        self.betas_normal = nn.Parameter(1e-3 * torch.randn(e))
        self.betas_reduce = nn.Parameter(1e-3 * torch.randn(e))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def edge_weights(self, betas: torch.Tensor) -> torch.Tensor:
        """softmax of β over each node's incoming edges (edge normalization)."""
        out, start = [], 0
        for i in range(self.steps):
            out.append(F.softmax(betas[start:start + 2 + i], dim=-1))
            start += 2 + i
        return torch.cat(out)

    def forward(self, x: torch.Tensor, mode: Mode = "weighted",
                path: tuple[Sequence[int], Sequence[int]] | None = None,
                weights: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits. ``weights`` overrides softmax(α) (e.g. one-hot) in the weighted/partial modes."""
        if mode == "single" and path is None:
            raise QsrbenchError("the single-path mode needs a path (one operation index per edge)")
        if mode == "partial" and self.partial_k == 1:
            raise QsrbenchError("the partial mode needs a supernet built with partial_k > 1")
        if weights is None and mode != "single":
            weights = (F.softmax(self.alphas_normal, dim=-1), F.softmax(self.alphas_reduce, dim=-1))
        betas = (self.edge_weights(self.betas_normal), self.edge_weights(self.betas_reduce)) \
            if mode == "partial" else (None, None)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            r = int(cell.reduction)
            if mode == "single":
                s0, s1 = s1, cell(s0, s1, path=path[r])
            else:
                s0, s1 = s1, cell(s0, s1, weights[r], betas[r])
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))
