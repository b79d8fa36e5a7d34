"""MdeNAS: multinomial distribution learning for neural architecture search.

Zheng, Ji, Tang, Wang, Zhang, Zhang and Tian, "Multinomial Distribution Learning for Effective
Neural Architecture Search", ICCV 2019 (arXiv 1905.07529). The authors' repository
(tanglang96/MDENAS) holds only evaluation code; the search follows their lab's toolbox,
MAC-AutoML/XNAS ``search_algorithm/Category_MDENAS.py`` and ``one_shot_search.py`` at commit
c28cad0 (2020, by the first author). XNAS at HEAD passes the top-1 *error* to the same update,
which then rewards the worse operation; that version is not followed.

Algorithm: each edge holds a categorical distribution θ over the eight operations (uniform at
the start). Once per epoch (``sample_every = "epoch"``, the default) one operation per edge is
drawn from θ; that single path is trained for the whole epoch, then scored by its top-1 accuracy
on the whole validation split. For every edge the sampled operation's epoch count ``H_e`` grows by
one and its accuracy ``H_a`` becomes the latest score (overwritten, not averaged). Then, on every
edge, for each pair of operations i < j in order (:func:`mdenas_update`):

* if ``H_e[i] >= H_e[j]`` and ``H_a[i] < H_a[j]`` (j is better with no more training), i gives
  ``lr`` of its probability to j — all of it when it holds less than ``lr``;
* if ``H_e[i] <= H_e[j]`` and ``H_a[i] > H_a[j]``, j gives to i likewise.

Ties are explicit: equal accuracies move nothing; equal epoch counts let the more accurate
operation gain; operations never sampled (count 0, accuracy 0) neither gain nor lose against
sampled ones. Transfers conserve the mass, so rows stay distributions without renormalising.
The genotype is parsed from θ (per node the two edges with the highest non-'none' θ).

``sample_every = "batch"`` is the variant this harness ran before: a path per mini-batch,
scored on one validation batch, updated after each step; "epochs" then count mini-batches.

Settings: ``distribution_lr`` is read by the 2020 code but defined nowhere in it; 0.1 is the
later XNAS default (``SNG.THETA_LR``). The 2020 code trains with batch 256, lr 0.1 step-decayed,
C=16, 8 cells, on a 45k/5k split; the spec's ``[method.search]`` sets these. Paper (ICCV
abstract): 2.55 % CIFAR-10 test error in 4 GPU-hours on a GTX 1080Ti; arXiv v1 Table 1: 2.40 %,
4.06M params, 0.16 GPU-days.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from qsrbench.nas import derive_genotype
from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.nas.strategy import EDGES, OPS, StrategyBase, sample_path, uniform_table
from qsrbench.registry import register_method

__all__ = ["mdenas_update", "MDENASStrategy", "MDENAS"]


def _transfer(theta: torch.Tensor, src: int, dst: int, lr: float) -> None:
    if theta[src] > lr:
        theta[src] -= lr
        theta[dst] += lr
    else:
        theta[dst] += theta[src]
        theta[src] = 0.0


def mdenas_update(theta: torch.Tensor, epochs: torch.Tensor, accuracy: torch.Tensor, lr: float) -> torch.Tensor:
    """One update of every row of ``theta`` (``(edges, ops)``, in place) by the pairwise rule."""
    for e in range(theta.shape[0]):
        he, ha, p = epochs[e], accuracy[e], theta[e]
        for i in range(theta.shape[1]):
            for j in range(i + 1, theta.shape[1]):
                if he[i] >= he[j] and ha[i] < ha[j]:
                    _transfer(p, i, j, lr)
                elif he[i] <= he[j] and ha[i] > ha[j]:
                    _transfer(p, j, i, lr)
    return theta


class MDENASStrategy(StrategyBase):
    mode = "single"

    def __init__(self, lr: float, sample_every: str = "epoch"):
        self.lr, self.sample_every = lr, sample_every
        self.theta = [uniform_table(), uniform_table()]  # normal, reduction cell
        self.epochs = [torch.zeros(EDGES, OPS, dtype=torch.float64) for _ in range(2)]
        self.accuracy = [torch.zeros(EDGES, OPS, dtype=torch.float64) for _ in range(2)]
        self._path = None

    def _sample(self, g: torch.Generator):
        return tuple(sample_path(t, g) for t in self.theta)

    def begin_epoch(self, epoch, generator):
        if self.sample_every == "epoch":
            self._path = self._sample(generator)

    def path(self, step, generator):
        if self.sample_every == "batch":
            self._path = self._sample(generator)
        return self._path

    def record(self, path, acc: float) -> None:
        """Count one more epoch for each sampled operation and keep its latest accuracy; update."""
        for cell, ops in enumerate(path):
            rows = torch.arange(EDGES)
            self.epochs[cell][rows, torch.as_tensor(ops)] += 1
            self.accuracy[cell][rows, torch.as_tensor(ops)] = acc
            mdenas_update(self.theta[cell], self.epochs[cell], self.accuracy[cell], self.lr)

    def after_step(self, path, validate, generator):
        if self.sample_every == "batch":  # one random validation batch (the earlier variant)
            self.record(path, validate(path, one_batch_from=generator))

    def end_epoch(self, epoch, validate):
        if self.sample_every == "epoch":
            self.record(self._path, validate(self._path))

    def derive(self, net):
        return derive_genotype(self.theta[0], self.theta[1])

    def summary(self):
        return {"theta": {"normal": self.theta[0].tolist(), "reduce": self.theta[1].tolist()},
                "epochs": {"normal": self.epochs[0].tolist(), "reduce": self.epochs[1].tolist()}}


class MDENASParams(NASParams):
    name: Literal["mdenas"] = Field(description="MdeNAS")
    distribution_lr: float = Field(0.1, gt=0, le=1, description="probability moved per won comparison")
    sample_every: Literal["epoch", "batch"] = Field(
        "epoch", description="draw a path per epoch (the papers') or per mini-batch (scored on one batch)")


@register_method
class MDENAS(NASMethod):
    name = "mdenas"
    Params = MDENASParams
    citation = "Zheng et al., MdeNAS, ICCV 2019 (arXiv 1905.07529)"

    def strategy(self, spec, seed):
        return MDENASStrategy(spec.method.distribution_lr, spec.method.sample_every)
