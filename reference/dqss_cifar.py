"""DQSS on a small CIFAR-10 classifier: the per-layer quantization-strategy search of
:mod:`reference.dqss` (post-training mode) on image classification.

Li, Yan, Chen, "Differentiable Search for Finding Optimal Quantization Strategy" (DQSS; arXiv
2404.08010v2, 2024) report DQSS on classification and on super-resolution; only the abstract
could be read here (no public code), so the choices below are this module's, stated:

* **The network**: VGG-Small, the CIFAR-10 network of the low-bit quantization literature (Zhang
  et al., LQ-Nets, ECCV 2018: (2 x 128 C3)-MP2-(2 x 256 C3)-MP2-(2 x 512 C3)-MP2-FC), at width
  ``width`` (``w, 2w, 4w`` channels instead of 128, 256, 512), each 3x3 conv followed by BN and
  ReLU, the FC on the flattened 4 x 4 map. Trained here in FP from a fixed seed (SGD, Nesterov
  momentum 0.9, cosine learning rate to 0 per iteration, weight decay 5e-4 on every parameter,
  4-pixel zero-padded random crops and horizontal flips, the usual CIFAR-10 recipe), on a
  class-balanced subset of ``train_images`` of the training split; kept in the run folder
  (``runs/<spec>/...``) so that every variant and a resumed run quantize the same network.
* **Before quantization** every BN is folded into its conv (``W · γ/σ``, bias ``β − μ γ/σ``), the
  usual post-training practice; the layers quantized are those the harness's PTQ quantizes at the
  shared bit-width (:func:`reference.dqss.searchable_layers`; ``keep_fp`` first and last: the
  first conv and the FC stay FP).
* **Candidates, calibration, search, derivation**: :mod:`reference.dqss`'s, on ``calib_images``
  training images (normalised, not augmented) in batches of ``calib_batch``; the search objective
  is L1 between the relaxed network's logits and the FP network's logits (no labels, as in
  post-training quantization).
* **Arithmetic**: calibration, search and scoring in float64 (``search_dtype``), so that the
  strategies chosen for a given FP network do not depend on the CPU's float32 kernels (the FP
  training itself runs in float32 and does).
* **Scores**: top-1 (%) on a class-balanced subset of ``test_images`` of the test split (seed
  0); every record keeps its per-image correctness (hex of packed bits, image order of the subset)
  and the FP network's, for paired intervals on the leaderboard.

Inputs are normalised with the CIFAR-10 channel means and standard deviations.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from qsrbench.bitops import layer_costs, total_bitops
from qsrbench.env import device_name
from qsrbench.methods import Job, JobResult, Method, count_params, dataset_role
from qsrbench.provenance import code_fingerprint, roots_for
from qsrbench.registry import datasets, register_method
from qsrbench.spec import spec_hash
from qsrbench.train.method import runs_root

from .dqss import (StrategyParams, calibrate_composites, derive, make_composites, search_strategies,
                   searchable_layers, strategies_for, strategy_problems, strategy_summary, variant_names)

__all__ = ["DQSSCifar", "DQSSCifarParams", "vgg_small", "fold_bn", "classifier_costs", "correct_hex"]

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class DQSSCifarParams(StrategyParams):
    name: Literal["dqss-cifar"] = Field(description="DQSS strategy search on a small CIFAR-10 classifier")
    width: int = Field(32, ge=2, description="VGG-Small width w (channels w, 2w, 4w; the paper's net: 128)")
    train_images: int = Field(50000, ge=10, description="class-balanced training images of the FP network")
    epochs: int = Field(10, ge=1, description="FP training epochs")
    batch_size: int = Field(128, ge=1, description="FP training batch")
    lr: float = Field(0.05, gt=0, description="FP training peak learning rate (cosine to 0)")
    test_images: int = Field(10000, ge=10, description="class-balanced test images scored")
    calib_images: int = Field(512, ge=1, description="training images that calibrate and drive the search")
    calib_batch: int = Field(128, ge=1, description="calibration / search batch")
    search_dtype: Literal["float32", "float64"] = Field("float64", description=(
        "arithmetic of calibration, search and scoring (float64: the same choices on any CPU)"))


def vgg_small(width: int, classes: int = 10) -> nn.Sequential:
    """VGG-Small at width ``width`` (module docstring)."""
    layers, cin = [], 3
    for c in (width, 2 * width, 4 * width):
        for _ in range(2):
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * 4 * 4, classes))


@torch.no_grad()
def fold_bn(net: nn.Sequential) -> nn.Sequential:
    """A copy of ``net`` with every conv-BN pair folded into one conv with bias (BN in eval form)."""
    out = copy.deepcopy(net).eval()
    for i in range(len(out) - 1):
        conv, bn = out[i], out[i + 1]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                               conv.dilation, conv.groups, bias=True)
            folded.weight.copy_(conv.weight * k.view(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            folded.bias.copy_(bn.bias + (bias - bn.running_mean) * k)
            out[i], out[i + 1] = folded, nn.Identity()
    return out


def _normalise(x_u8: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x_u8.float() / 255 - mean.to(x_u8.device)) / std.to(x_u8.device)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """4-pixel zero-padded random 32 x 32 crops and horizontal flips, per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy, dx = torch.randint(0, 9, (n,), generator=g), torch.randint(0, 9, (n,), generator=g)
    c = x.shape[1]
    rows = padded.gather(2, (dy[:, None] + torch.arange(h)).view(n, 1, h, 1).expand(n, c, h, w + 8))
    out = rows.gather(3, (dx[:, None] + torch.arange(w)).view(n, 1, 1, w).expand(n, c, h, w))
    flip = torch.rand(n, generator=g) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), out.flip(3), out)


def train_fp(m: DQSSCifarParams, x_u8: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[nn.Sequential, dict]:
    """The FP classifier (module docstring); returns it in eval mode and its training facts."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = vgg_small(m.width)
    opt = torch.optim.SGD(net.parameters(), lr=m.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps_per_epoch = -(-len(y) // m.batch_size)
    total, step, t0 = m.epochs * steps_per_epoch, 0, time.perf_counter()
    net.train()
    for _ in range(m.epochs):
        order = torch.randperm(len(y), generator=g)
        for k in range(steps_per_epoch):
            idx = order[k * m.batch_size:(k + 1) * m.batch_size]
            for group in opt.param_groups:
                group["lr"] = m.lr * 0.5 * (1 + np.cos(np.pi * step / total))
            loss = F.cross_entropy(net(_augment(_normalise(x_u8[idx]), g)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return net.eval(), {"train_s": time.perf_counter() - t0, "steps": total, "last_loss": float(loss.detach())}


def classifier_costs(net: nn.Module, quantized: list[str], bits: int):
    """Per-layer MACs and BitOps of one 32 x 32 image: ``quantized`` layers at ``bits`` (weights
    and activations), every other conv / linear at 32."""
    names = set(quantized)
    return layer_costs(net, (1, 3, 32, 32), lambda n, mod: (bits, bits) if n in names else (32, 32))


@torch.no_grad()
def _correct(net: nn.Module, x_u8: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, batch: int = 500) -> torch.Tensor:
    """Per-image correctness (bool) of ``net``'s top-1 prediction, computed in ``dtype``."""
    net = net.eval().to(dtype)
    return torch.cat([net(_normalise(x_u8[i:i + batch]).to(dtype)).argmax(1) == y[i:i + batch]
                      for i in range(0, len(y), batch)])


def correct_hex(correct: torch.Tensor) -> str:
    """Per-image correctness as hex of bits packed big-endian (numpy's packbits); read back by
    :func:`qsrbench.strategy_cls_board.correct_bits`."""
    return np.packbits(correct.numpy().astype(np.uint8)).tobytes().hex()


@register_method
class DQSSCifar(Method):
    name = "dqss-cifar"
    task = "classification"
    Params = DQSSCifarParams
    citation = "Li, Yan, Chen, DQSS (arXiv 2404.08010), CIFAR-10 classification"
    requires_model = False  # the classifier is defined and trained here

    def __init__(self) -> None:
        self._splits: dict[tuple, object] = {}
        self._fp: dict[str, tuple[nn.Sequential, dict, torch.Tensor]] = {}

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec) + strategy_problems(spec)
        if spec.model is not None:
            problems.append(("model", "dqss-cifar trains its own classifier (VGG-Small): remove the [model] table"))
        for i, name in enumerate(spec.datasets):
            role = dataset_role(name)
            if role is not None and role != "classification":
                problems.append((f"datasets.{i}", f"{name} is a {role} set; dqss-cifar needs a classification set"))
        if spec.scales:
            problems.append(("scales", "dqss-cifar classifies: remove the scales"))
        return problems

    def variants(self, spec):
        return variant_names(spec.method)

    def jobs(self, spec):
        return [Job(d, None, None, v) for d in spec.datasets for v in self.variants(spec)]

    def _split(self, spec, ctx, name: str, split: str, n: int):
        key = (name, split, n)
        if key not in self._splits:
            data = datasets.get(name).load(ctx.data_root, split, ctx.verify)
            self._splits[key] = data.subset(n, 0) if n < len(data) else data
        return self._splits[key]

    def _fp_network(self, spec, ctx, name: str) -> tuple[nn.Sequential, dict]:
        """The trained FP classifier: from the run folder when this spec and code trained it."""
        m = spec.method
        code = code_fingerprint(roots_for(spec))["digest"]
        path = runs_root() / spec.name / f"v{spec.version}-{spec_hash(spec)}-{code[:8]}-{name}" / "fp_classifier.pt"
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            net = vgg_small(m.width)
            net.load_state_dict(saved["state"])
            return net.eval(), {**saved["facts"], "reused": True}
        train = self._split(spec, ctx, name, "train", m.train_images)
        net, facts = train_fp(m, train.images, train.labels, spec.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state": net.state_dict(), "facts": facts}, tmp)
        tmp.replace(path)
        return net, {**facts, "reused": False}

    def run_job(self, spec, job, ctx):
        m, bits, dtype = spec.method, spec.bits.weight, getattr(torch, spec.method.search_dtype)
        if job.dataset not in self._fp:
            net, facts = self._fp_network(spec, ctx, job.dataset)
            test = self._split(spec, ctx, job.dataset, "test", m.test_images)
            self._fp[job.dataset] = (net, facts, _correct(copy.deepcopy(net), test.images, test.labels, dtype))
        fp_net, fp_facts, fp_correct = self._fp[job.dataset]
        train = self._split(spec, ctx, job.dataset, "train", m.train_images)
        test = self._split(spec, ctx, job.dataset, "test", m.test_images)
        t0 = time.perf_counter()
        folded = fold_bn(fp_net)
        names = searchable_layers(folded, bits, m.keep_fp, (1, 3, 32, 32))
        acts, weights = strategies_for(m, job.variant)
        qnet = copy.deepcopy(folded)
        layers = make_composites(qnet, names, acts, weights, bits)
        folded, qnet = folded.to(dtype), qnet.to(dtype)  # the quantizers' parameters and buffers too
        calib = _normalise(train.images[:m.calib_images]).to(dtype)
        batches = [calib[i:i + m.calib_batch] for i in range(0, len(calib), m.calib_batch)]
        calibrate_composites(folded, layers, batches)
        facts = {"variant": job.variant}
        if job.variant == "search":
            s0 = time.perf_counter()
            facts.update(search_strategies(qnet, folded, layers, batches, m.search_steps, m.search_lr,
                                           m.train_quantizers))
            facts["search_s"] = time.perf_counter() - s0
        facts["layers"] = derive(qnet, layers, acts, weights)
        correct = _correct(qnet, test.images, test.labels, dtype)
        costs = classifier_costs(folded.float(), names, bits)
        top1 = 100.0 * int(correct.sum()) / len(correct)
        return JobResult(
            metrics={"top1": top1, "error": 100.0 - top1}, params=count_params(folded),
            macs=sum(c.macs for c in costs), bitops=total_bitops(costs), wall_s=time.perf_counter() - t0,
            data_digest=f"{train.digest[:16]}/{test.digest[:16]}",
            extra={"strategies": strategy_summary(facts), "test_images": len(test), "test_correct": int(correct.sum()),
                   "classes": len(test.classes), "correct": correct_hex(correct),
                   "fp": {"top1": 100.0 * int(fp_correct.sum()) / len(fp_correct), "correct": correct_hex(fp_correct),
                          "train": fp_facts, "train_images": len(train)},
                   "device": device_name("cpu"), "device_type": "cpu", "threads": torch.get_num_threads(),
                   "data_variant": train.variant})
