"""The evaluation network of a genotype (the authors' CIFAR ``NetworkCIFAR``, with its auxiliary head).

Liu et al., ICLR 2019 (arXiv 1806.09055), App. A.2, and ``cnn/model.py`` of their repository
(quark0, commit f276dd3): stem conv3x3 (3 → 3C) + BN, ``layers`` cells (reduction cells at
``layers // 3`` and ``2 * layers // 3``), each node the sum of its two chosen operations
(affine BN), drop-path on non-identity operations during training, global average pooling,
linear classifier. Paper setting: C = 36, 20 layers (3,349,342 parameters for the second-order
genotype of that paper without the auxiliary head).

The auxiliary head (``auxiliary=True``; training only) reads the output of cell
``2 * layers // 3`` (the second reduction): ReLU, 5x5 average pooling with stride 3 (8x8 → 2x2,
padding not counted), 1x1 conv to 128 + BN + ReLU, 2x2 conv to 768 + BN + ReLU, linear to the
classes; its loss is added with a weight (0.4 in the papers' protocol). In training mode the
forward then returns ``(logits, aux_logits)``; in eval mode the logits only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .genotype import Genotype
from .ops import FactorizedReduce, ReLUConvBN, make_op

__all__ = ["EvalCell", "GenotypeNetwork", "AuxiliaryHead", "drop_path"]


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


class AuxiliaryHead(nn.Sequential):
    """The authors' ``AuxiliaryHeadCIFAR`` for an 8x8 input of ``channels`` channels."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__(
            nn.ReLU(inplace=False), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False),
            nn.Flatten(), nn.Linear(768, num_classes))


class GenotypeNetwork(nn.Module):
    def __init__(self, genotype: Genotype, channels: int = 36, layers: int = 20, num_classes: int = 10,
                 stem_multiplier: int = 3, auxiliary: bool = False):
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
            if auxiliary and i == 2 * layers // 3:
                aux_channels = c_p
        self.aux_index = 2 * layers // 3
        self.auxiliary = AuxiliaryHead(aux_channels, num_classes) if auxiliary else None
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))
        return (logits, aux) if aux is not None else logits
