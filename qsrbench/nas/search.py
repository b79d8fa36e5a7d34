"""The method-agnostic search loop, its cost accounting, and the final training of a genotype.

A search method is a :class:`SearchStrategy` (one per ``reference/`` module): the loop owns the
data, the supernet, the weight optimizer, the schedule and the accounting; the strategy says
which forward mode and architecture parameters it uses, which path each mini-batch trains, when
it takes an architecture step, what it does after a step and after an epoch (it may ask the loop
for a validation accuracy), when it is finished, and how it derives the genotype.

Protocol of the loop (Liu et al., ICLR 2019, ``cnn/train_search.py``, quark0 commit f276dd3):

* the first ``train_portion`` of the (fixed-seed) search images train the weights, the rest are
  the validation split (architecture steps, path scores), both as uint8 on the device;
* epoch ``e`` (0-based) runs at the cosine learning rate of step ``e + 1``:
  ``lr_min + (lr - lr_min)(1 + cos(π (e + 1) / epochs)) / 2`` — the authors stepped the scheduler
  at the start of each epoch (PyTorch 0.3), so the last epoch runs at ``lr_min``;
* per mini-batch: the strategy's architecture step first (Adam, betas (0.5, 0.999), on a random
  validation batch drawn with replacement, augmented like the training batches when
  ``augment_arch``), then one SGD step of the weights on the training batch (gradient norm
  clipped to ``grad_clip``), in train mode;
* the strategy may transform the supernet before training (``prepare_supernet``: e.g. binarize
  its operations) and may change its forward ``mode`` between epochs (read at every call);
* validation accuracies asked by a strategy are computed on the whole validation split (or its
  first ``val_images``) in train mode under no_grad — batch statistics, as the authors' search
  code (MAC-AutoML/XNAS ``one_shot_search.py`` @ c28cad0) does for a single-path supernet whose
  running statistics mix every path.

Accounting: wall-clock seconds, device name, epochs run, and supernet forward/backward calls (one
per mini-batch call: weight steps, architecture steps and validation batches alike).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import torch
import torch.nn.functional as F

from ..data.cifar import ClassificationSet, augment, normalize
from ..env import device_name
from ..errors import QsrbenchError
from .genotype import Genotype
from .network import GenotypeNetwork
from .supernet import Mode, Supernet

__all__ = ["SearchBudget", "SearchResult", "SearchStrategy", "Validate", "search", "train_and_test",
           "epoch_lr", "Path"]

Path = tuple[Sequence[int], Sequence[int]]  # operation index per edge: normal cell, reduction cell
Validate = Callable[..., float]  # validate(path=None, one_batch_from=None) -> top-1 in [0, 1]


@dataclass(frozen=True)
class SearchBudget:
    """The loop's hyper-parameters (defaults: the authors' first-order search, C=16, 8 cells)."""

    epochs: int = 50
    batch_size: int = 64
    images: int = 50_000  # of the training split; train_portion of them train the weights
    train_portion: float = 0.5
    channels: int = 16
    layers: int = 8
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    augment_arch: bool = True
    val_images: int | None = None  # cap on the validation images a score uses (None: all)
    seed: int = 0

    def check(self) -> None:
        n_train = int(self.images * self.train_portion)
        if n_train < self.batch_size or self.images - n_train < 1:
            raise QsrbenchError(f"budget: {self.images} images with train_portion {self.train_portion} "
                                f"cannot fill one training batch of {self.batch_size} and a validation split")


class SearchStrategy(Protocol):
    """What a search method tells the loop (see the module docstring)."""

    mode: Mode
    partial_k: int

    def prepare_supernet(self, net: Supernet) -> Supernet: ...
    def arch_parameters(self, net: Supernet) -> list[torch.nn.Parameter]: ...
    def begin_epoch(self, epoch: int, generator: torch.Generator) -> None: ...
    def path(self, step: int, generator: torch.Generator) -> Path | None: ...
    def arch_step_now(self, epoch: int) -> bool: ...
    def arch_weights(self, net: Supernet) -> tuple[torch.Tensor, torch.Tensor] | None: ...
    def after_step(self, path: Path | None, validate: Validate, generator: torch.Generator) -> None: ...
    def end_epoch(self, epoch: int, validate: Validate) -> None: ...
    def finished(self) -> bool: ...
    def derive(self, net: Supernet) -> Genotype: ...
    def summary(self) -> dict: ...


@dataclass
class SearchResult:
    genotype: Genotype
    wall_s: float
    device: str
    epochs: int
    forward_passes: int = 0
    backward_passes: int = 0
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def epoch_lr(lr: float, lr_min: float, epoch: int, epochs: int) -> float:
    """The learning rate of 0-based ``epoch`` (cosine, evaluated at ``epoch + 1``)."""
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * (epoch + 1) / epochs)) / 2


def _batches(n: int, batch: int, g: torch.Generator):
    order = torch.randperm(n, generator=g)
    for i in range(0, n - batch + 1, batch):
        yield order[i:i + batch]


class _Counter:
    def __init__(self):
        self.fwd = self.bwd = 0


def _validator(net: Supernet, mode: Callable[[], Mode], x_v, y_v, batch: int, cap: int | None,
               counter: _Counter, weights) -> Validate:
    def validate(path: Path | None = None, one_batch_from: torch.Generator | None = None) -> float:
        """Top-1 of ``path`` on the validation split, or on one random batch of it."""
        if one_batch_from is not None:
            idx = torch.randint(0, len(x_v), (batch,), generator=one_batch_from)
        else:
            idx = torch.arange(min(len(x_v), cap or len(x_v)))
        correct = 0
        with torch.no_grad():
            for i in range(0, len(idx), batch):
                sel = idx[i:i + batch].to(x_v.device)
                logits = net(normalize(x_v[sel]), mode(), path=path, weights=weights())
                counter.fwd += 1
                correct += int((logits.argmax(1) == y_v[sel]).sum())
        return correct / max(len(idx), 1)

    return validate


def search(strategy: SearchStrategy, data: ClassificationSet, budget: SearchBudget,
           device: str | torch.device = "cpu") -> SearchResult:
    """Run ``strategy`` on ``data`` within ``budget``; the genotype it derives and the cost."""
    budget.check()
    dev = torch.device(device)
    torch.manual_seed(budget.seed)
    g = torch.Generator().manual_seed(budget.seed)
    aug_g = torch.Generator(device=dev).manual_seed(budget.seed)
    sub = data.subset(budget.images, budget.seed) if budget.images < len(data) else data
    n_train = int(len(sub) * budget.train_portion)
    x_w, y_w = sub.images[:n_train].to(dev), sub.labels[:n_train].to(dev)
    x_v, y_v = sub.images[n_train:].to(dev), sub.labels[n_train:].to(dev)
    net = strategy.prepare_supernet(Supernet(budget.channels, budget.layers, len(data.classes),
                                             partial_k=strategy.partial_k)).to(dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), budget.lr, momentum=budget.momentum,
                            weight_decay=budget.weight_decay)
    a_params = strategy.arch_parameters(net)
    a_opt = torch.optim.Adam(a_params, budget.arch_lr, betas=(0.5, 0.999),
                             weight_decay=budget.arch_weight_decay) if a_params else None
    count = _Counter()
    validate = _validator(net, lambda: strategy.mode, x_v, y_v, budget.batch_size, budget.val_images,
                          count, lambda: strategy.arch_weights(net))
    history: list[dict] = []
    t0 = time.perf_counter()
    epoch = -1
    for epoch in range(budget.epochs):
        for group in w_opt.param_groups:
            group["lr"] = epoch_lr(budget.lr, budget.lr_min, epoch, budget.epochs)
        strategy.begin_epoch(epoch, g)
        net.train()
        correct = seen = 0
        for step, idx in enumerate(_batches(len(x_w), budget.batch_size, g)):
            path = strategy.path(step, g)
            if a_opt is not None and strategy.arch_step_now(epoch):
                aidx = torch.randint(0, len(x_v), (budget.batch_size,), generator=g).to(dev)
                xa = augment(x_v[aidx], aug_g) if budget.augment_arch else normalize(x_v[aidx])
                a_opt.zero_grad()
                F.cross_entropy(net(xa, strategy.mode, weights=strategy.arch_weights(net)), y_v[aidx]).backward()
                count.fwd, count.bwd = count.fwd + 1, count.bwd + 1
                a_opt.step()
            w_opt.zero_grad()
            xb, yb = augment(x_w[idx.to(dev)], aug_g), y_w[idx.to(dev)]
            logits = net(xb, strategy.mode, path=path, weights=strategy.arch_weights(net))
            F.cross_entropy(logits, yb).backward()
            count.fwd, count.bwd = count.fwd + 1, count.bwd + 1
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), budget.grad_clip)
            w_opt.step()
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(yb)
            strategy.after_step(path, validate, g)
        strategy.end_epoch(epoch, validate)
        history.append({"epoch": epoch + 1, "train_acc": correct / max(seen, 1)})
        if strategy.finished():
            break
    wall = time.perf_counter() - t0
    with torch.no_grad():
        genotype = strategy.derive(net)
    return SearchResult(genotype, wall, device_name(dev), epoch + 1, count.fwd, count.bwd, history,
                        strategy.summary())


def train_and_test(genotype: Genotype, train: ClassificationSet, test: ClassificationSet, *,
                   epochs: int, channels: int = 36, layers: int = 20, batch_size: int = 96,
                   lr: float = 0.025, momentum: float = 0.9, weight_decay: float = 3e-4,
                   cutout: int = 16, drop_path: float = 0.2, auxiliary_weight: float = 0.4,
                   grad_clip: float = 5.0, seed: int = 0, device: str | torch.device = "cpu",
                   prepare: Callable[[torch.nn.Module], torch.nn.Module] | None = None) -> dict:
    """Train the genotype's network from scratch and return its test accuracy (%), params and time.

    The authors' ``cnn/train.py`` (quark0 f276dd3) with ``--auxiliary --cutout``: SGD with
    momentum, cosine learning rate to 0 (evaluated at ``epoch + 1``, as above), drop-path
    probability ``drop_path · epoch / epochs``, auxiliary loss weight ``auxiliary_weight`` (0: no
    head), cutout of ``cutout`` pixels, gradient norm clipped. ``params`` excludes the auxiliary
    head, as the authors' count does. ``prepare`` transforms the network before training (a
    binarized search space binarizes its convolutions).
    """
    dev = torch.device(device)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    aug_g = torch.Generator(device=dev).manual_seed(seed)
    net = GenotypeNetwork(genotype, channels, layers, len(train.classes), auxiliary=auxiliary_weight > 0)
    net = (prepare(net) if prepare else net).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr, momentum=momentum, weight_decay=weight_decay)
    x, y = train.images.to(dev), train.labels.to(dev)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = epoch_lr(lr, 0.0, epoch, epochs)
        net.train()
        net.drop_path_prob = drop_path * epoch / max(epochs, 1)
        for idx in _batches(len(x), min(batch_size, len(x)), g):
            idx = idx.to(dev)
            opt.zero_grad()
            out = net(augment(x[idx], aug_g, cutout=cutout))
            logits, aux = out if isinstance(out, tuple) else (out, None)
            loss = F.cross_entropy(logits, y[idx])
            if aux is not None:
                loss = loss + auxiliary_weight * F.cross_entropy(aux, y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
    train_s = time.perf_counter() - t0
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test), 500):
            xb = normalize(test.images[i:i + 500].to(dev))
            correct += int((net(xb).argmax(1) == test.labels[i:i + 500].to(dev)).sum())
    params = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary."))
    return {"test_acc": 100.0 * correct / len(test), "correct": correct, "params": params,
            "train_s": train_s, "epochs": epochs, "device": device_name(dev)}
