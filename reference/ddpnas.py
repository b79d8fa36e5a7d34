"""DDPNAS: dynamic distribution pruning for efficient architecture search.

Zheng, Ji, Tang, Zhang, Wang and Tian, "Dynamic Distribution Pruning for Efficient Network
Architecture Search", arXiv 1905.13543 (2019). The authors' repository (tanglang96/DDPNAS)
holds only evaluation code; the search follows their lab's toolbox, MAC-AutoML/XNAS
``search_algorithm/Category_DDPNAS.py`` and ``one_shot_search.py`` at commit c28cad0 (2020, by
the first author) for the statistic and the update, and its first commit 92720aa for the stop
rule (one operation per edge; c28cad0 keeps one parameterised and one parameter-free operation).
XNAS at HEAD credits scores to operations it did not train and scores by error; not followed.

Algorithm (:class:`DDPNASStrategy`):

* sampling without replacement: each epoch every edge draws, uniformly, one of its surviving
  operations not yet drawn in the current *round*; a round lasts as many epochs as an edge has
  survivors, so every survivor of every edge is trained exactly once per round, one epoch each;
* after each epoch the path's top-1 on the whole validation split is recorded for the sampled
  operation of every edge;
* after ``pruning_step`` rounds (3 in the code): per round the softmax over each edge's operations
  of 100 × accuracy (pruned operations keep 0, which the ×100 makes negligible), averaged over the
  rounds (the expectation); momentum update ``v = γ v + (1 - γ) expectation``, ``θ += v``, rows
  renormalised (γ = 0.8 in the code); then every edge with more than one survivor loses its
  survivor of lowest θ;
* until one operation per edge survives: ``pruning_step · (8 + 7 + … + 2)`` epochs (105 at 3).

The genotype is parsed from the continuous θ, as the code does (per node the two edges whose
best non-'none' θ is highest, each with that operation), not from the one-hot survivors: after
pruning every surviving edge would tie at one and a stable sort would keep the lowest-index edges,
wiring every node to the cell inputs only.

Paper (arXiv v1, Table 1, row "DDPNAS"): 2.58 % CIFAR-10 test error, 3.4M params, 0.06 GPU-days
(the abstract's 1.5 GPU-hours on a Tesla V100); its 1.9 % is "DDPNAS(large)", trained with 44
initial channels, 1,800 epochs and more regularisation.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from qsrbench.nas import derive_genotype
from qsrbench.nas.method import NASMethod, NASParams
from qsrbench.nas.strategy import EDGES, OPS, StrategyBase, uniform_table
from qsrbench.registry import register_method

__all__ = ["EdgePruner", "DDPNASStrategy", "DDPNAS", "epochs_to_finish"]


def epochs_to_finish(pruning_step: int, ops: int = OPS) -> int:
    """Epochs to prune ``ops`` operations to one per edge: rounds of k epochs, k = ops .. 2."""
    return pruning_step * sum(range(2, ops + 1))


class EdgePruner:
    """θ, survivors and round records of one cell's edges."""

    def __init__(self, edges: int = EDGES, ops: int = OPS, gamma: float = 0.8, scale: float = 100.0):
        self.gamma, self.scale = gamma, scale
        self.theta = uniform_table(edges, ops)
        self.velocity = torch.zeros(edges, ops, dtype=torch.float64)
        self.alive = torch.ones(edges, ops, dtype=torch.bool)
        self.rounds: list[torch.Tensor] = []  # accuracy per finished round, (edges, ops), 0 = unscored
        self._current = torch.zeros(edges, ops, dtype=torch.float64)
        self._left: list[list[int]] = [[] for _ in range(edges)]

    def draw(self, generator: torch.Generator) -> list[int]:
        """One untried survivor per edge (a new round starts when an edge has tried them all)."""
        if not any(self._left):
            self._left = [torch.nonzero(a).flatten().tolist() for a in self.alive]
        out = []
        for left in self._left:
            k = int(torch.randint(0, len(left), (1,), generator=generator))
            out.append(left.pop(k))
        return out

    def record(self, path: list[int], acc: float) -> bool:
        """Score the epoch's path; True when that completed a round."""
        self._current[torch.arange(len(path)), torch.as_tensor(path)] = acc
        if any(self._left):
            return False
        self.rounds.append(self._current)
        self._current = torch.zeros_like(self._current)
        return True

    def update_and_prune(self) -> list[int]:
        """The momentum update from the recorded rounds, then one pruning per edge; returns the
        pruned operation of each edge (-1 where only one survives)."""
        expectation = torch.stack([torch.softmax(self.scale * r, dim=1) for r in self.rounds]).mean(0)
        self.velocity = self.gamma * self.velocity + (1 - self.gamma) * expectation
        self.theta = self.theta + self.velocity
        self.theta = self.theta / self.theta.sum(dim=1, keepdim=True)
        self.rounds = []
        pruned = []
        for e in range(self.theta.shape[0]):
            if int(self.alive[e].sum()) <= 1:
                pruned.append(-1)
                continue
            k = int(torch.argmin(self.theta[e].masked_fill(~self.alive[e], torch.inf)))
            self.alive[e, k] = False
            pruned.append(k)
        self._left = [[] for _ in self._left]
        return pruned

    @property
    def done(self) -> bool:
        return bool((self.alive.sum(dim=1) == 1).all())


class DDPNASStrategy(StrategyBase):
    mode = "single"

    def __init__(self, pruning_step: int = 3, gamma: float = 0.8):
        self.pruning_step = pruning_step
        self.cells = [EdgePruner(gamma=gamma), EdgePruner(gamma=gamma)]
        self._path = None
        self.pruned: list[dict] = []
        self._epoch = 0

    def begin_epoch(self, epoch, generator):
        self._epoch = epoch
        self._path = tuple(c.draw(generator) for c in self.cells)

    def path(self, step, generator):
        return self._path

    def end_epoch(self, epoch, validate):
        acc = validate(self._path)
        finished_round = [c.record(p, acc) for c, p in zip(self.cells, self._path)]
        if all(finished_round) and len(self.cells[0].rounds) == self.pruning_step:
            self.pruned.append({"epoch": epoch + 1,
                                "ops": [c.update_and_prune() for c in self.cells]})

    def finished(self):
        return all(c.done for c in self.cells)

    def derive(self, net):
        return derive_genotype(self.cells[0].theta, self.cells[1].theta)

    def summary(self):
        return {"theta": {"normal": self.cells[0].theta.tolist(), "reduce": self.cells[1].theta.tolist()},
                "pruned": self.pruned}


class DDPNASParams(NASParams):
    name: Literal["ddpnas"] = Field(description="DDPNAS")
    pruning_step: int = Field(3, ge=1, description="rounds (each survivor trained once) between prunings")
    momentum: float = Field(0.8, ge=0, lt=1, description="γ of the θ update")


@register_method
class DDPNAS(NASMethod):
    name = "ddpnas"
    Params = DDPNASParams
    citation = "Zheng et al., DDPNAS, arXiv 1905.13543 (2019)"

    @classmethod
    def check_method(cls, spec):
        need = epochs_to_finish(spec.method.pruning_step)
        if spec.method.search.epochs < need:
            return [("method.search.epochs", f"DDPNAS prunes to one operation per edge in "
                     f"{need} epochs at pruning_step {spec.method.pruning_step} "
                     f"({spec.method.pruning_step} rounds of 8, 7, ..., 2 epochs); got {spec.method.search.epochs}")]
        return []

    def strategy(self, spec, seed):
        return DDPNASStrategy(spec.method.pruning_step, spec.method.momentum)
