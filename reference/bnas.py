"""BNAS: binarized neural architecture search by channel sampling and performance-based
operation-space reduction.

Chen, Zhuo, Zhang, Zheng, Liu, Doermann, Ji, "Binarized Neural Architecture Search", AAAI
2020 (arXiv 1911.10862), and the journal version (IJCV 2021, arXiv 2009.04247) for the UCB
variant. The authors' repository (github.com/bczhangbczhang/BNAS) releases the evaluation model
and genotypes only, not the search; the reduction rule follows the equations as the third-party
re-implementation HatemSelim94/Optimized-Binarized-Neural-Networks
(``search/bnas/bnas_optimization.py``) writes them. The paper body could not be read here
(docs/research notes), so every choice below that the sources leave open is a spec parameter.

Search space: the DARTS cell space with binarized operations (:mod:`qsrbench.nas.binary`:
XNOR-style 1-bit weights in every cell convolution, activations real as in the released model;
``binary_input`` binarizes them too), searched with partial channels (PC-DARTS, ``partial_k``).

Algorithm (:class:`BNASStrategy`), per cell type (normal, reduction) and edge:

1. *Warm start* (``warm_start = true``): ``pc_epochs`` epochs of PC-DARTS on the binarized
   supernet (partial channels, edge normalisation), α and β learned from epoch ``pc_arch_from``
   (the recalled protocol: 5 epochs, weights only for the first 3).
2. *Rounds* until one operation per edge remains. A round's sampling pool is the less promising
   half of the edge's remaining operations — the ⌈k/2⌉ of the k remaining with the smallest α
   (ties: the lower index) — or all k without the warm start. ``repeats`` (T) times, every edge
   draws a random order of its pool, so each pooled operation is in exactly one sampled path per
   repeat (sampling without replacement, edges independent). Each path trains the shared weights
   for ``epochs_per_path`` epochs (single-path mode on the same partial channels), then its top-1
   on the validation split is credited to every operation on it.
3. *Abandon* (``rule = "likelihood"``, AAAI): ȳ = mean over the round of a pooled operation's
   accuracies, ``s_S = softmax(ȳ)`` over the pool; every remaining operation outside the pool gets
   ``s_L = (max s_S + mean s_S) / 2``; the selection likelihood decays as ``s ← s/2 + s_S|L``; the
   operation with the smallest ``s`` is abandoned. ``rule = "ucb"`` (IJCV): abandon the smallest
   ``m + sqrt(2 ln N / n)`` — m the mean accuracy of the operation over all its samples, n their
   count, N the paths sampled so far; never-sampled operations are kept (bound +∞).

Epochs: ``pc_epochs + epochs_per_path · T · Σ_{k=K..2} pool(k)`` with pool(k) = ⌈k/2⌉ (warm
start) or k; for K = 8, T = 3, one epoch per path: 5 + 57 = 62 (the papers' "less than 60 epochs"
for the sampling phase). ``[method.search] epochs`` must equal it, so the cosine schedule ends
with the search. Genotype: per node the two edges whose surviving operation has the largest
PC-DARTS weight softmax(α)·softmax(β); an edge whose survivor is 'none' ranks last and, if still
chosen, takes its highest-α other operation. The final network is binarized like the search space;
``fp_twin`` also trains it in full precision, for the binarization gap the papers report (AAAI
abstract: 96.53 % vs 97.22 % on CIFAR-10). PCNN projection (the papers' second binarization
optimiser) is not implemented yet.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from qsrbench.nas import PRIMITIVES, Genotype
from qsrbench.nas.binary import binarize_cells
from qsrbench.nas.method import NASMethod, NASParams, resolve_device
from qsrbench.nas.strategy import EDGES, OPS
from qsrbench.nas.supernet import Supernet
from qsrbench.registry import register_method

from .pc_darts import PartialRelaxation, PCDARTSFinal, PCDARTSSearch, partial_k_problems

__all__ = ["OperationReducer", "BNASStrategy", "BNAS", "search_epochs", "pool_size"]

Rule = Literal["likelihood", "ucb"]


def pool_size(remaining: int, warm_start: bool) -> int:
    """Operations of an edge sampled in a round: the less promising half (rounded up) or all."""
    return math.ceil(remaining / 2) if warm_start else remaining


def search_epochs(pc_epochs: int, repeats: int, epochs_per_path: int, warm_start: bool,
                  ops: int = OPS) -> int:
    """Epochs of a whole BNAS search (module docstring)."""
    paths = repeats * sum(pool_size(k, warm_start) for k in range(ops, 1, -1))
    return (pc_epochs if warm_start else 0) + epochs_per_path * paths


class OperationReducer:
    """The remaining operations, sampling pools and scores of one cell type's edges."""

    def __init__(self, edges: int = EDGES, ops: int = OPS, repeats: int = 3, warm_start: bool = True,
                 rule: Rule = "likelihood"):
        self.repeats, self.warm_start, self.rule = repeats, warm_start, rule
        self.alive = torch.ones(edges, ops, dtype=torch.bool)
        self.likelihood = torch.zeros(edges, ops, dtype=torch.float64)
        self.count = torch.zeros(edges, ops, dtype=torch.float64)  # samples, all rounds
        self.total = torch.zeros(edges, ops, dtype=torch.float64)  # summed accuracy, all rounds
        self.draws = 0
        self.pool = torch.zeros(edges, ops, dtype=torch.bool)
        self._round_sum = torch.zeros(edges, ops, dtype=torch.float64)
        self._round_n = torch.zeros(edges, ops, dtype=torch.float64)
        self.queue: list[list[int]] = []

    @property
    def done(self) -> bool:
        return bool((self.alive.sum(dim=1) == 1).all())

    def start_round(self, alpha: torch.Tensor, generator: torch.Generator) -> int:
        """Pick each edge's pool (by ``alpha``, ``(edges, ops)``) and queue the round's paths."""
        self.pool.zero_()
        orders = []
        for e in range(self.alive.shape[0]):
            left = torch.nonzero(self.alive[e]).flatten()
            m = pool_size(len(left), self.warm_start)
            ranked = left[torch.argsort(alpha[e, left].double(), stable=True)][:m]
            self.pool[e, ranked] = True
            orders.append([[int(ranked[i]) for i in torch.randperm(m, generator=generator)]
                           for _ in range(self.repeats)])
        m = len(orders[0][0])
        self.queue = [[o[t][d] for o in orders] for t in range(self.repeats) for d in range(m)]
        self._round_sum.zero_()
        self._round_n.zero_()
        return len(self.queue)

    def record(self, path: list[int], acc: float) -> None:
        """Credit the validation top-1 ``acc`` (in [0, 1]) of a sampled path to its operations."""
        idx = (torch.arange(len(path)), torch.as_tensor(path))
        for table in (self.count, self._round_n):
            table[idx] += 1
        for table in (self.total, self._round_sum):
            table[idx] += acc
        self.draws += 1

    def ucb(self) -> torch.Tensor:
        """``m + sqrt(2 ln N / n)`` per edge and operation (+∞ where never sampled)."""
        n = self.count.clamp_min(1)
        bound = self.total / n + torch.sqrt(2 * math.log(max(self.draws, 1)) / n)
        return torch.where(self.count > 0, bound, torch.inf)

    def update_likelihood(self) -> torch.Tensor:
        """The round's selection likelihood step (``s ← s/2 + s_S|L``, remaining operations)."""
        mean = self._round_sum / self._round_n.clamp_min(1)
        s_pool = torch.softmax(mean.masked_fill(~self.pool, -torch.inf), dim=1)
        n_pool = self.pool.sum(dim=1, keepdim=True)
        s_large = (s_pool.max(dim=1, keepdim=True).values + s_pool.sum(dim=1, keepdim=True) / n_pool) / 2
        step = torch.where(self.pool, s_pool, s_large)
        self.likelihood = torch.where(self.alive, self.likelihood / 2 + step, self.likelihood)
        return self.likelihood

    def reduce(self) -> list[int]:
        """Abandon the lowest-scoring remaining operation of every edge with more than one;
        returns the abandoned operation per edge (-1 where one remains)."""
        scores = self.ucb() if self.rule == "ucb" else self.update_likelihood()
        scores = scores.masked_fill(~self.alive, torch.inf)
        out = []
        for e in range(self.alive.shape[0]):
            if int(self.alive[e].sum()) <= 1:
                out.append(-1)
                continue
            k = int(torch.argmin(scores[e]))  # ties: the lower index
            self.alive[e, k] = False
            out.append(k)
        return out


class BNASStrategy(PartialRelaxation):
    """PC-DARTS warm start, then the reduction rounds of :class:`OperationReducer` (both cells)."""

    def __init__(self, partial_k: int = 4, pc_epochs: int = 5, pc_arch_from: int = 3, repeats: int = 3,
                 epochs_per_path: int = 1, warm_start: bool = True, rule: Rule = "likelihood",
                 binary: bool = True, binary_input: bool = False):
        super().__init__(partial_k, pc_arch_from)
        self.pc_epochs = pc_epochs if warm_start else 0
        self.epochs_per_path, self.binary, self.binary_input = epochs_per_path, binary, binary_input
        self.cells = [OperationReducer(repeats=repeats, warm_start=warm_start, rule=rule) for _ in range(2)]
        self.mode = "partial" if self.pc_epochs else "single"
        self._net: Supernet | None = None
        self._path: tuple[list[int], list[int]] | None = None
        self._on_path = 0
        self.abandoned: list[dict] = []

    def prepare_supernet(self, net: Supernet) -> Supernet:
        self._net = binarize_cells(net, self.binary_input) if self.binary else net
        return self._net

    def arch_step_now(self, epoch: int) -> bool:
        return self.warmup_epochs <= epoch < self.pc_epochs

    def begin_epoch(self, epoch, generator):
        if epoch < self.pc_epochs:
            return
        self.mode = "single"
        if self._path is None:
            if not self.cells[0].queue:
                alphas = (self._net.alphas_normal, self._net.alphas_reduce)
                for cell, alpha in zip(self.cells, alphas):
                    cell.start_round(alpha.detach().cpu(), generator)
            self._path = tuple(cell.queue.pop(0) for cell in self.cells)
            self._on_path = 0

    def path(self, step, generator):
        return self._path if self.mode == "single" else None

    def end_epoch(self, epoch, validate):
        if epoch < self.pc_epochs:
            return
        self._on_path += 1
        if self._on_path < self.epochs_per_path:
            return
        acc = validate(self._path)
        for cell, ops in zip(self.cells, self._path):
            cell.record(ops, acc)
        self._path = None
        if not self.cells[0].queue:
            self.abandoned.append({"epoch": epoch + 1, "ops": [cell.reduce() for cell in self.cells]})

    def finished(self):
        return all(cell.done for cell in self.cells)

    def edge_op_weights(self, net: Supernet) -> tuple[torch.Tensor, torch.Tensor]:
        """PC-DARTS weights kept on each edge's survivor only (module docstring, 'Genotype')."""
        none = PRIMITIVES.index("none")
        out = []
        for cell, w in zip(self.cells, super().edge_op_weights(net)):
            w = w.detach().cpu().double()
            kept = w * cell.alive
            fallback = cell.alive[:, none] & (cell.alive.sum(dim=1) == 1)
            kept[fallback] = 1e-9 * w[fallback]
            out.append(kept)
        return tuple(out)

    def summary(self):
        return {**super().summary(), "abandoned": self.abandoned,
                "alive": {"normal": self.cells[0].alive.tolist(), "reduce": self.cells[1].alive.tolist()}}


class BNASSearch(PCDARTSSearch):
    epochs: int = Field(62, ge=1, description=(
        "search epochs: must equal pc_epochs + epochs_per_path · repeats · Σ pool sizes"))


class BNASParams(NASParams):
    name: Literal["bnas"] = Field(description="BNAS, binarized architecture search")
    search: BNASSearch = Field(BNASSearch(), description="the search loop's settings")
    final: PCDARTSFinal = Field(PCDARTSFinal(), description="the final training of the derived genotype")
    partial_k: int = Field(4, ge=2, description=(
        "1/K of the channels go through the operations (PC-DARTS's code: 4; recalled for BNAS: 2)"))
    warm_start: bool = Field(True, description="PC-DARTS warm start and sampling in the less promising half")
    pc_epochs: int = Field(5, ge=1, description="PC-DARTS warm-start epochs")
    pc_arch_from: int = Field(3, ge=0, description="warm-start epoch of the first α/β step")
    repeats: int = Field(3, ge=1, description="T: times each pooled operation is sampled per round")
    epochs_per_path: int = Field(1, ge=1, description="training epochs of each sampled path")
    rule: Rule = Field("likelihood", description=(
        "abandon rule: the AAAI selection likelihood or the IJCV upper confidence bound"))
    binary: bool = Field(True, description="binarize the cells' convolutions (search and final network)")
    binary_input: bool = Field(False, description="binarize their inputs too (the released model: no)")
    fp_twin: bool = Field(True, description=(
        "also train the derived genotype in full precision (same final training) for the binarization gap"))


@register_method
class BNAS(NASMethod):
    name = "bnas"
    Params = BNASParams
    citation = "Chen et al., BNAS, AAAI 2020 (arXiv 1911.10862); IJCV 2021 (arXiv 2009.04247)"

    @classmethod
    def check_method(cls, spec):
        m = spec.method
        need = search_epochs(m.pc_epochs, m.repeats, m.epochs_per_path, m.warm_start)
        problems = partial_k_problems(m)
        if m.search.epochs != need:
            problems.append(("method.search.epochs", f"this BNAS schedule takes {need} epochs "
                             f"(pc_epochs + epochs_per_path x repeats x sum of pool sizes); got {m.search.epochs}"))
        if m.warm_start and m.pc_arch_from >= m.pc_epochs:
            problems.append(("method.pc_arch_from", f"epoch {m.pc_arch_from} leaves no α step in "
                             f"{m.pc_epochs} warm-start epochs"))
        return problems

    def strategy(self, spec, seed):
        m = spec.method
        return BNASStrategy(m.partial_k, m.pc_epochs, m.pc_arch_from, m.repeats, m.epochs_per_path,
                            m.warm_start, m.rule, m.binary, m.binary_input)

    def prepare_network(self, spec):
        m = spec.method
        return (lambda net: binarize_cells(net, m.binary_input)) if m.binary else None

    def run_job(self, spec, job, ctx):
        """The shared job, plus the full-precision twin of the binarized final network
        (``extra["fp_twin"]``: its top-1 %, params, training seconds)."""
        result = super().run_job(spec, job, ctx)
        if spec.method.binary and spec.method.fp_twin:
            seed = int(job.variant.split()[-1])
            train, test = self._split(ctx, job.dataset, "train"), self._split(ctx, job.dataset, "test")
            twin = self.final_training(spec, Genotype.parse(result.extra["genotype"]), train, test, seed,
                                       resolve_device(spec.method.device))
            result.extra["fp_twin"] = {"top1": twin["test_acc"], "correct": twin["correct"],
                                       "params": twin["params"], "train_s": twin["train_s"]}
            result.wall_s += twin["train_s"]
        return result
