"""Search loops of DARTS, PC-DARTS, MDENAS and DDPNAS on the shared supernet, with search-cost
accounting, and the short final training of a genotype.

Cost accounting (what the leaderboards compare): wall-clock seconds of the search, the device
name, epochs, and the number of supernet forward and backward passes (one per mini-batch
call, weight and architecture steps alike). The data is the training split divided in two
halves (weights / architecture or accuracy), as DARTS does; batches are augmented on device.

* DARTS, first order (Liu et al., ICLR 2019): alternate an Adam step on α (validation loss) and
  an SGD step on the weights (training loss), weighted mode.
* PC-DARTS (Xu et al., ICLR 2020): the same in the partial-channel mode, α and the edge
  normalization β both learned; the architecture is frozen for ``warmup_epochs``; the genotype's
  edges are ranked by softmax(α) times the normalized β.
* MDENAS / DDPNAS: one path sampled per mini-batch from the per-edge distributions, an SGD step
  on it, its accuracy on a validation batch recorded; :mod:`.distributions` updates (and, for
  DDPNAS, prunes every ``prune_every`` epochs) after each epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from ..data.cifar import ClassificationSet, augment, normalize
from ..env import device_name
from ..errors import QsrbenchError
from .distributions import DDPNASDistribution, MDENASDistribution, sample_path
from .genotype import PRIMITIVES, Genotype, derive_genotype, num_edges
from .network import GenotypeNetwork
from .supernet import Supernet

__all__ = ["SearchBudget", "SearchResult", "search", "train_and_test", "SEARCH_METHODS"]

SearchMethod = Literal["darts", "pc-darts", "mdenas", "ddpnas"]
SEARCH_METHODS = ("darts", "pc-darts", "mdenas", "ddpnas")


@dataclass(frozen=True)
class SearchBudget:
    epochs: int = 50
    batch_size: int = 64
    images: int = 50_000  # from the training split, halved into weight / architecture data
    channels: int = 16
    layers: int = 8
    lr: float = 0.025
    arch_lr: float = 3e-4
    partial_k: int = 4
    warmup_epochs: int = 0
    prune_every: int = 1
    mdenas_lr: float = 0.01
    seed: int = 0

    def check(self, method: str) -> None:
        if method not in SEARCH_METHODS:
            raise QsrbenchError(f"unknown search method {method!r} (known: {', '.join(SEARCH_METHODS)})")
        if self.images < 2 * self.batch_size:
            raise QsrbenchError(f"budget: {self.images} images cannot fill one batch of {self.batch_size} "
                                "for both halves (weights and architecture)")
        if method == "ddpnas" and self.epochs < (len(PRIMITIVES) - 1) * self.prune_every:
            raise QsrbenchError(f"budget: DDPNAS prunes one operation per edge every {self.prune_every} "
                                f"epoch(s); {len(PRIMITIVES) - 1} prunings need at least "
                                f"{(len(PRIMITIVES) - 1) * self.prune_every} epochs, got {self.epochs}")


@dataclass
class SearchResult:
    method: str
    genotype: Genotype
    wall_s: float
    device: str
    epochs: int
    forward_passes: int = 0
    backward_passes: int = 0
    history: list[dict] = field(default_factory=list)


def _batches(n: int, batch: int, g: torch.Generator):
    order = torch.randperm(n, generator=g)
    for i in range(0, n - batch + 1, batch):
        yield order[i:i + batch]


def search(method: SearchMethod, data: ClassificationSet, budget: SearchBudget,
           device: str | torch.device = "cpu") -> SearchResult:
    budget.check(method)
    dev = torch.device(device)
    torch.manual_seed(budget.seed)
    g = torch.Generator().manual_seed(budget.seed)
    aug_g = torch.Generator(device=dev).manual_seed(budget.seed)
    sub = data.subset(budget.images, budget.seed) if budget.images < len(data) else data
    half = len(sub) // 2
    x_w, y_w = sub.images[:half].to(dev), sub.labels[:half].to(dev)
    x_a, y_a = sub.images[half:].to(dev), sub.labels[half:].to(dev)
    k = budget.partial_k if method == "pc-darts" else 1
    net = Supernet(budget.channels, budget.layers, len(data.classes), partial_k=k).to(dev)
    mode = {"darts": "weighted", "pc-darts": "partial"}.get(method, "single")
    w_opt = torch.optim.SGD(net.weight_parameters(), budget.lr, momentum=0.9, weight_decay=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, budget.epochs, eta_min=1e-3)
    a_opt = torch.optim.Adam(net.arch_parameters(), budget.arch_lr, betas=(0.5, 0.999), weight_decay=1e-3)
    e = num_edges()
    dists = None
    if method == "mdenas":
        dists = [MDENASDistribution(e, len(PRIMITIVES), budget.mdenas_lr) for _ in range(2)]
    elif method == "ddpnas":
        dists = [DDPNASDistribution(e, len(PRIMITIVES)) for _ in range(2)]
    fwd = bwd = 0
    history = []
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, budget.epochs + 1):
        net.train()
        correct = seen = 0
        for idx in _batches(half, budget.batch_size, g):
            xb, yb = augment(x_w[idx.to(dev)], aug_g), y_w[idx.to(dev)]
            aidx = torch.randint(0, len(x_a), (budget.batch_size,), generator=g).to(dev)
            xa, ya = normalize(x_a[aidx]), y_a[aidx]
            path = None
            if dists is not None:
                path = (sample_path(dists[0].probs, g), sample_path(dists[1].probs, g))
            elif epoch > budget.warmup_epochs:
                a_opt.zero_grad()
                F.cross_entropy(net(xa, mode), ya).backward()
                fwd, bwd = fwd + 1, bwd + 1
                a_opt.step()
            w_opt.zero_grad()
            logits = net(xb, mode, path=path)
            F.cross_entropy(logits, yb).backward()
            fwd, bwd = fwd + 1, bwd + 1
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
            w_opt.step()
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(yb)
            if dists is not None:
                with torch.no_grad():
                    acc = float((net(xa, mode, path=path).argmax(1) == ya).float().mean())
                fwd += 1
                dists[0].record(path[0], acc)
                dists[1].record(path[1], acc)
        sched.step()
        if method == "mdenas":
            for d in dists:
                d.update()
        elif method == "ddpnas":
            for d in dists:
                if epoch % budget.prune_every == 0:
                    d.prune()
                else:
                    d.update()
        history.append({"epoch": epoch, "train_acc": correct / max(seen, 1)})
        if method == "ddpnas" and all(d.done for d in dists):
            break
    wall = time.perf_counter() - t0
    genotype = _genotype(method, net, dists)
    return SearchResult(method, genotype, wall, device_name(dev), epoch, fwd, bwd, history)


def _genotype(method: str, net: Supernet, dists) -> Genotype:
    if dists is not None:
        return derive_genotype(dists[0].probs.float(), dists[1].probs.float())
    with torch.no_grad():
        wn, wr = F.softmax(net.alphas_normal, -1), F.softmax(net.alphas_reduce, -1)
        if method == "pc-darts":
            wn = wn * net._edge_betas(net.betas_normal)[:, None]
            wr = wr * net._edge_betas(net.betas_reduce)[:, None]
    return derive_genotype(wn, wr)


def train_and_test(genotype: Genotype, train: ClassificationSet, test: ClassificationSet, *,
                   epochs: int, channels: int = 16, layers: int = 8, batch_size: int = 96,
                   lr: float = 0.025, cutout: int = 16, drop_path: float = 0.2, seed: int = 0,
                   device: str | torch.device = "cpu") -> dict:
    """Train the genotype's network from scratch (SGD, cosine, the DARTS recipe scaled down) and
    return its test accuracy (%), params and timing."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    aug_g = torch.Generator(device=dev).manual_seed(seed)
    net = GenotypeNetwork(genotype, channels, layers, len(train.classes)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr, momentum=0.9, weight_decay=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    x, y = train.images.to(dev), train.labels.to(dev)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        net.drop_path_prob = drop_path * epoch / max(epochs, 1)
        for idx in _batches(len(x), min(batch_size, len(x)), g):
            idx = idx.to(dev)
            opt.zero_grad()
            F.cross_entropy(net(augment(x[idx], aug_g, cutout=cutout)), y[idx]).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        sched.step()
    train_s = time.perf_counter() - t0
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test), 500):
            xb = normalize(test.images[i:i + 500].to(dev))
            correct += int((net(xb).argmax(1) == test.labels[i:i + 500].to(dev)).sum())
    return {"test_acc": 100.0 * correct / len(test), "params": sum(p.numel() for p in net.parameters()),
            "train_s": train_s, "epochs": epochs, "device": device_name(dev)}
