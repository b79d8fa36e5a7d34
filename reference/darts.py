"""DARTS, first order: differentiable architecture search.

Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search", ICLR 2019 (arXiv
1806.09055); followed: the authors' ``cnn/train_search.py``, ``cnn/model_search.py`` and
``cnn/architect.py`` (github.com/quark0/darts, commit f276dd3), run without ``--unrolled``.

Algorithm (:class:`Relaxation`): every edge of the supernet is the softmax(α)-weighted sum of
the eight operations (pooling followed by an affine-free BN, as their ``MixedOp``); per
mini-batch, one Adam step of α on a random batch of the validation half (augmented like the
training batches: their valid queue shares the training transform), then one SGD step of the
weights on the training batch (first-order approximation: the weights' gradient is not
unrolled). The genotype is their ``_parse`` of softmax(α): per node the two edges with the
strongest non-'none' operation (:func:`qsrbench.nas.derive_genotype`).

Settings (official defaults, ``[method.search]`` / ``[method.final]``): batch 64, lr 0.025 to
0.001 (cosine, stepped at epoch starts), momentum 0.9, wd 3e-4, clip 5, α: Adam 3e-4, betas
(0.5, 0.999), wd 1e-3, α initialised 1e-3·N(0, 1), 50 epochs, C=16, 8 cells, half/half split.
Final training (``train.py --auxiliary --cutout``): 600 epochs, batch 96, lr 0.025 cosine to 0,
C=36, 20 cells, auxiliary head 0.4, drop-path 0.2, cutout 16, clip 5. Paper and code differ on
lr_min ("annealed down to zero" vs 0.001) and α's initialisation (zero vs 1e-3·N): the code,
which produced the numbers, is followed. Paper (CIFAR-10, Table 1, first order + cutout): 3.00 ±
0.14 % test error (10 trainings of the best of 4 searches), 3.3M params, 1.5 GPU-days for the 4
searches on GTX 1080Ti.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

import torch
import torch.nn.functional as F

from qsrbench.nas import derive_genotype
from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.nas.strategy import StrategyBase
from qsrbench.nas.supernet import Supernet
from qsrbench.registry import register_method


class Relaxation(StrategyBase):
    """Gradient-based architecture weights α on the weighted supernet, from ``warmup_epochs`` on."""

    mode = "weighted"

    def __init__(self, warmup_epochs: int = 0):
        self.warmup_epochs = warmup_epochs
        self._weights: dict = {}

    def arch_parameters(self, net: Supernet) -> list[torch.nn.Parameter]:
        return [net.alphas_normal, net.alphas_reduce]

    def arch_step_now(self, epoch: int) -> bool:
        return epoch >= self.warmup_epochs

    def edge_op_weights(self, net: Supernet) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(edges, ops)`` tables the genotype is parsed from: softmax(α)."""
        return F.softmax(net.alphas_normal, dim=-1), F.softmax(net.alphas_reduce, dim=-1)

    def derive(self, net: Supernet):
        normal, reduce = self.edge_op_weights(net)
        self._weights = {"normal": normal.tolist(), "reduce": reduce.tolist()}
        return derive_genotype(normal, reduce)

    def summary(self) -> dict:
        return {"weights": self._weights}


class DARTSParams(NASParams):
    name: Literal["darts"] = Field(description="DARTS, first order")


@register_method
class DARTS(NASMethod):
    name = "darts"
    Params = DARTSParams
    citation = "Liu et al., DARTS, ICLR 2019 (arXiv 1806.09055)"

    def strategy(self, spec, seed):
        return Relaxation()
