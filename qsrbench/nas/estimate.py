"""Budgeted performance estimation: train a genotype's network under a cheap *recipe* and score it.

A recipe (:class:`~.ground_truth.Recipe`) sets epochs, batch size, SGD learning rate, cells,
float precision, initial channels, cutout and image size. The protocol is that of the budgeted
estimation study of Zheng et al. (CVPR 2020, arXiv 2005.09917), as their released code trains
one proxy network (MAC-AutoML/rethinking_performance_estimation_in_NAS @ af83b7a, ``augment.py``,
built on a public PyTorch port of the cell-space code):

* all training images in shuffled batches (the last one smaller), SGD (momentum 0.9, weight decay 3e-4), cosine learning rate to 0 stepped at
  the start of each epoch (epoch ``e`` runs at :func:`~.search.epoch_lr` of ``e``), gradient norm
  clipped at 5; drop-path ``0.2 · e / epochs``; the auxiliary head always on with weight 0.4;
* augmentation: random 32-pixel crop of the 4-pixel zero-padded image, horizontal flip, then a
  bilinear resize to ``image_size`` (PIL's antialiased bilinear there; ``F.interpolate(...,
  antialias=True)`` here, on normalised floats instead of rounded uint8 pixels), then cutout at
  ``image_size``. Here cutout runs before the resize, on a square ``32 / image_size`` times larger
  (the same area of the image; its edge is blurred by the resize) — identical when
  ``image_size = 32``;
* the test images resized once the same way; the network scored on them after every epoch; the
  estimate is the **best** top-1 over epochs (``score="best"``, the released code) or the last;
* the auxiliary head reads the map after the second reduction (``image_size / 4`` pixels): 5x5
  average pooling with stride 3 at 8x8 as the cell-space papers, adaptive pooling to 2x2 at any other size as the
  released code does at 16 pixels;
* ``fp = 16`` (the released code casts the model to half precision, no loss scaling): bfloat16
  autocast on a CPU, float16 autocast on a GPU.

Speed (this module's own choices, none changes the arithmetic beyond float rounding): data
decoded once and kept as one uint8 tensor, augmented per batch on the device; ``channels_last``;
optional ``torch.compile`` (its compile time is part of the measured cost). Cost = wall-clock
seconds of training plus the per-epoch scoring, the part the papers' GPU-hours per network count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..data.cifar import ClassificationSet, augment, normalize
from ..env import device_name
from .genotype import Genotype
from .ground_truth import Recipe
from .network import GenotypeNetwork
from .search import epoch_lr

__all__ = ["EstimateResult", "estimate", "build_proxy", "select_score"]

AUX_WEIGHT, DROP_PATH, MOMENTUM, WEIGHT_DECAY, GRAD_CLIP = 0.4, 0.2, 0.9, 3e-4, 5.0


@dataclass
class EstimateResult:
    """One proxy training: top-1 (%) after each epoch on the scored images, and its cost."""

    top1_per_epoch: list[float]
    score: float  # best or last of top1_per_epoch, %
    params: int  # without the auxiliary head
    train_s: float
    eval_s: float
    device: str
    epochs: int
    images_per_s: float
    extra: dict = field(default_factory=dict)

    @property
    def cost_s(self) -> float:
        return self.train_s + self.eval_s


def build_proxy(genotype: Genotype, recipe: Recipe, num_classes: int = 10) -> GenotypeNetwork:
    """The recipe's network (``n_layers`` cells, ``channels``), auxiliary head sized for it."""
    net = GenotypeNetwork(genotype, recipe.channels, recipe.n_layers, num_classes, auxiliary=True)
    if recipe.image_size // 4 != 8:
        net.auxiliary[1] = nn.AdaptiveAvgPool2d(2)
    return net


def select_score(per_epoch: list[float], rule: str) -> float:
    """The estimate from the per-epoch top-1s: the best (the released code) or the last."""
    if rule not in ("best", "last"):
        raise ValueError(f"score must be 'best' or 'last', not {rule!r}")
    return max(per_epoch) if rule == "best" else per_epoch[-1]


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _training_batch(x_u8: torch.Tensor, recipe: Recipe, g: torch.Generator) -> torch.Tensor:
    side = x_u8.shape[-1]
    cut = round(recipe.cutout_len * side / recipe.image_size) if recipe.cutout_len else 0
    return _resize(augment(x_u8, g, cutout=cut), recipe.image_size).contiguous(
        memory_format=torch.channels_last)


def _top1(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, autocast) -> float:
    net.eval()
    correct = 0
    with torch.no_grad(), autocast():
        for i in range(0, len(x), batch):
            correct += int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return 100.0 * correct / max(len(x), 1)


def _autocast(recipe: Recipe, dev: torch.device):
    if recipe.fp == 32:
        return torch.autocast(dev.type, enabled=False)
    return torch.autocast(dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16)


def estimate(genotype: Genotype, recipe: Recipe, train: ClassificationSet, test: ClassificationSet, *,
             seed: int = 0, device: str | torch.device = "cpu", score: str = "best",
             compile: bool = False, eval_batch: int = 500) -> EstimateResult:
    """Train ``genotype`` under ``recipe`` on ``train`` and score it on ``test`` (see the module
    docstring for the protocol)."""
    select_score([0.0], score)  # the rule, checked before any training
    dev = torch.device(device)
    torch.manual_seed(seed)
    g = torch.Generator(device=dev).manual_seed(seed)
    order_g = torch.Generator().manual_seed(seed)
    net = build_proxy(genotype, recipe, len(train.classes)).to(dev).to(memory_format=torch.channels_last)
    params = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary."))
    model = torch.compile(net) if compile else net
    opt = torch.optim.SGD(net.parameters(), recipe.learning_rate, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    x, y = train.images.to(dev), train.labels.to(dev)
    x_test = _resize(normalize(test.images.to(dev)), recipe.image_size).contiguous(memory_format=torch.channels_last)
    y_test = test.labels.to(dev)
    autocast = lambda: _autocast(recipe, dev)  # noqa: E731
    batch = min(recipe.batchsize, len(x))
    scores: list[float] = []
    train_s = eval_s = 0.0
    seen = 0
    for epoch in range(recipe.epoch):
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = epoch_lr(recipe.learning_rate, 0.0, epoch, recipe.epoch)
        net.train()
        net.drop_path_prob = DROP_PATH * epoch / recipe.epoch
        order = torch.randperm(len(x), generator=order_g)
        for i in range(0, len(x), batch):  # the last, smaller batch too (a DataLoader's default)
            idx = order[i:i + batch].to(dev)
            opt.zero_grad(set_to_none=True)
            with autocast():
                logits, aux = model(_training_batch(x[idx], recipe, g))
                loss = F.cross_entropy(logits.float(), y[idx]) + AUX_WEIGHT * F.cross_entropy(aux.float(), y[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
            opt.step()
            seen += len(idx)
        t1 = time.perf_counter()
        train_s += t1 - t0
        if score == "best" or epoch == recipe.epoch - 1:
            scores.append(_top1(model, x_test, y_test, eval_batch, autocast))
        eval_s += time.perf_counter() - t1
    return EstimateResult(scores, select_score(scores, score), params, train_s, eval_s,
                          device_name(dev), recipe.epoch, seen / max(train_s, 1e-9),
                          {"score": score, "compile": compile, "test_images": len(y_test),
                           "train_images": len(y), "batch": batch})
