"""Per-edge categorical distributions of the distribution-learning NAS methods.

Both methods sample one operation per edge (the supernet's ``"single"`` mode), train that path
for an epoch, measure its validation accuracy and update the distributions. Tensors are
``(edges, ops)``; a path is one operation index per edge.

* MDENAS — Zheng, Ji, Tang, Wang, Zhang, Zhang and Tian, "Multinomial Distribution Learning
  for Effective Neural Architecture Search", ICCV 2019 (arXiv 1905.07529). For every operation
  the search keeps the number of epochs it was trained, ``H_e``, and its accuracy, ``H_a`` (here:
  the mean validation accuracy of the epochs it was sampled in). The update compares operations of
  the same edge pairwise: an operation trained for fewer epochs yet more accurate than another
  gains probability, one trained for more epochs yet less accurate loses it:
  ``p_i += lr * (#{j: He_j > He_i and Ha_j < Ha_i} - #{j: He_j < He_i and Ha_j > Ha_i})``,
  then the vector is clipped at 0 and renormalized.
* DDPNAS — Zheng, Ji, Tang, Zhang, Wang and Tian, "Dynamic Distribution Pruning for Efficient
  Network Architecture Search", arXiv 1905.13543 (2019). Each edge's distribution over its
  remaining operations is the softmax of their mean validation accuracy (divided by a
  temperature); every ``prune_every`` epochs the least probable remaining operation of every edge
  is removed, until one operation per edge remains.

These rules are written from the papers' descriptions (not from their code); unit tests check
them on hand-computed cases and on a fake accuracy oracle with a known best architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["sample_path", "MDENASDistribution", "DDPNASDistribution"]


def sample_path(probs: torch.Tensor, generator: torch.Generator | None = None) -> list[int]:
    """One operation index per edge, drawn from each row of ``probs``."""
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).tolist()


@dataclass
class _Stats:
    edges: int
    ops: int
    epochs: torch.Tensor = field(init=False)
    acc_sum: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.epochs = torch.zeros(self.edges, self.ops, dtype=torch.float64)
        self.acc_sum = torch.zeros(self.edges, self.ops, dtype=torch.float64)

    def record(self, path: list[int], accuracy: float) -> None:
        if len(path) != self.edges:
            raise ValueError(f"a path has one operation per edge: {self.edges}, got {len(path)}")
        rows = torch.arange(self.edges)
        idx = torch.as_tensor(path)
        self.epochs[rows, idx] += 1
        self.acc_sum[rows, idx] += float(accuracy)

    @property
    def mean_accuracy(self) -> torch.Tensor:
        return torch.where(self.epochs > 0, self.acc_sum / self.epochs.clamp(min=1), torch.nan)


class MDENASDistribution(_Stats):
    def __init__(self, edges: int, ops: int, lr: float = 0.01):
        super().__init__(edges, ops)
        self.lr = lr
        self.probs = torch.full((edges, ops), 1.0 / ops, dtype=torch.float64)

    def update(self) -> torch.Tensor:
        """Apply the pairwise epoch/accuracy ranking rule to every edge; returns ``probs``."""
        he, ha = self.epochs, torch.nan_to_num(self.mean_accuracy, nan=0.0)
        he_i, he_j = he.unsqueeze(2), he.unsqueeze(1)  # (E, i, j)
        ha_i, ha_j = ha.unsqueeze(2), ha.unsqueeze(1)
        gain = ((he_j > he_i) & (ha_j < ha_i)).sum(dim=2)
        loss = ((he_j < he_i) & (ha_j > ha_i)).sum(dim=2)
        p = (self.probs + self.lr * (gain - loss)).clamp(min=0.0)
        empty = p.sum(dim=1, keepdim=True) == 0
        p = torch.where(empty, torch.full_like(p, 1.0 / self.ops), p)
        self.probs = p / p.sum(dim=1, keepdim=True)
        return self.probs


class DDPNASDistribution(_Stats):
    def __init__(self, edges: int, ops: int, temperature: float = 1.0):
        super().__init__(edges, ops)
        self.temperature = temperature
        self.alive = torch.ones(edges, ops, dtype=torch.bool)
        self.probs = torch.full((edges, ops), 1.0 / ops, dtype=torch.float64)

    def update(self) -> torch.Tensor:
        """Softmax of the mean accuracy over the remaining operations (unsampled ones get the
        edge's best mean, so they are not pruned before they were tried)."""
        mean = self.mean_accuracy
        best = torch.nan_to_num(mean, nan=-torch.inf).amax(dim=1, keepdim=True)
        best = torch.where(torch.isinf(best), torch.zeros_like(best), best)
        score = torch.where(torch.isnan(mean), best.expand_as(mean), mean) / self.temperature
        score = score.masked_fill(~self.alive, -torch.inf)
        self.probs = torch.softmax(score, dim=1)
        return self.probs

    def prune(self) -> list[int]:
        """Remove the least probable remaining operation of every edge that has more than one;
        returns the removed index per edge (-1 where nothing was removed)."""
        self.update()
        removed = []
        for e in range(self.edges):
            if int(self.alive[e].sum()) <= 1:
                removed.append(-1)
                continue
            p = self.probs[e].masked_fill(~self.alive[e], torch.inf)
            k = int(torch.argmin(p))
            self.alive[e, k] = False
            removed.append(k)
        self.update()
        return removed

    @property
    def done(self) -> bool:
        return bool((self.alive.sum(dim=1) == 1).all())

    def final_path(self) -> list[int]:
        if not self.done:
            raise ValueError("more than one operation remains on some edge")
        return self.alive.to(torch.int64).argmax(dim=1).tolist()
