"""The evaluation network of a genotype (DARTS's CIFAR ``NetworkCIFAR``, without the auxiliary head).

Liu et al., DARTS, ICLR 2019, App. A.2: stem conv3x3 (3 → 3C) + BN, ``layers`` cells (reduction
cells at ``layers // 3`` and ``2 * layers // 3``), each node the sum of its two chosen operations
(affine BN), optional drop-path on non-identity operations during training, global average
pooling, linear classifier. Paper setting: C = 36, 20 layers (3.3M parameters for DARTS V2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .genotype import Genotype
from .ops import FactorizedReduce, ReLUConvBN, make_op

__all__ = ["EvalCell", "GenotypeNetwork", "drop_path"]


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device).bernoulli_(keep)
    return x / keep * mask


class EvalCell(nn.Module):
    def __init__(self, pairs, concat, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.sources = [src for _, src in pairs]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and src < 2 else 1, affine=True)
                                 for op, src in pairs)
        self.identity = [isinstance(m, nn.Identity) for m in self.ops]
        self.concat = list(concat)
        self.multiplier = len(self.concat)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self.ops), 2):
            node = 0
            for j in (k, k + 1):
                h = self.ops[j](states[self.sources[j]])
                if self.training and not self.identity[j]:
                    h = drop_path(h, drop_prob)
                node = node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class GenotypeNetwork(nn.Module):
    def __init__(self, genotype: Genotype, channels: int = 36, layers: int = 20, num_classes: int = 10,
                 stem_multiplier: int = 3):
        super().__init__()
        self.drop_path_prob = 0.0
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            pairs, concat = (genotype.reduce, genotype.reduce_concat) if reduction \
                else (genotype.normal, genotype.normal_concat)
            cell = EvalCell(pairs, concat, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))
