"""Base of the search methods in ``reference/``: a spec → a search → a genotype → the final
training → one record per seed (task ``"nas"``).

A NAS spec names ``datasets = ["CIFAR-10"]`` and no scales; ``[method]`` holds the search loop's
hyper-parameters (:class:`SearchParams`, defaults: the first-order search of Liu et al., ICLR
2019, ``cnn/train_search.py``), the final training (:class:`FinalParams`, defaults: their
``cnn/train.py --auxiliary --cutout``), the seeds and the device, plus the method's own options.
A method module subclasses :class:`NASMethod` and returns its :class:`~.search.SearchStrategy`
from :meth:`NASMethod.strategy` (or overrides :meth:`NASMethod.find_genotype` when it needs no
supernet). Each seed is a job (record variant ``"seed N"``) with metrics ``top1`` (test accuracy
of the final network, %), ``error`` and ``search_s``, plus params, MACs of one training-size
input (and their BitOps: 1-bit layers counted at their bits), and in ``extra`` the genotype, the strategy's summary, device, epochs, passes, data
variant and sizes.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ..bitops import layer_costs, total_bitops
from ..errors import QsrbenchError
from ..quant.binary_layers import layer_bits
from ..methods import Job, JobResult, Method, RunContext, dataset_role
from ..registry import datasets
from ..spec import MethodParams, SpecBase, Strict
from .network import GenotypeNetwork
from .search import SearchBudget, SearchResult, SearchStrategy, search, train_and_test

__all__ = ["SearchParams", "FinalParams", "NASParams", "NASMethod", "resolve_device"]


class SearchParams(Strict):
    """The search loop (:class:`~.search.SearchBudget`); defaults: the authors' first-order search."""

    epochs: int = Field(50, ge=1, description="search epochs")
    batch_size: int = Field(64, ge=1, description="mini-batch of weight and architecture steps")
    images: int = Field(50_000, ge=2, description="training images the search uses")
    train_portion: float = Field(0.5, gt=0, lt=1, description="share that trains the weights; the rest validates")
    channels: int = Field(16, ge=1, description="initial channels of the supernet")
    layers: int = Field(8, ge=3, description="cells of the supernet")
    lr: float = Field(0.025, gt=0, description="SGD learning rate of the weights")
    lr_min: float = Field(0.001, ge=0, description="cosine schedule's final learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum of the weights")
    weight_decay: float = Field(3e-4, ge=0, description="weight decay of the weights")
    grad_clip: float = Field(5.0, gt=0, description="gradient-norm clip of the weights")
    arch_lr: float = Field(3e-4, gt=0, description="Adam learning rate of the architecture parameters")
    arch_weight_decay: float = Field(1e-3, ge=0, description="weight decay of the architecture parameters")
    augment_arch: bool = Field(True, description="augment architecture batches like training batches")
    val_images: int | None = Field(None, ge=1, description="validation images a path score uses (None: all)")

    def budget(self, seed: int) -> SearchBudget:
        return SearchBudget(seed=seed, **self.model_dump())


class FinalParams(Strict):
    """Final training of the derived genotype from scratch (``cnn/train.py --auxiliary --cutout``)."""

    epochs: int = Field(600, ge=0, description="training epochs from scratch")
    train_images: int = Field(50_000, ge=1, description="training images (a fixed-seed subset below 50,000)")
    test_images: int = Field(10_000, ge=1, description="test images scored (a fixed-seed subset below 10,000)")
    channels: int = Field(36, ge=1, description="initial channels of the network")
    layers: int = Field(20, ge=3, description="cells of the network")
    batch_size: int = Field(96, ge=1, description="mini-batch size")
    lr: float = Field(0.025, gt=0, description="SGD learning rate, cosine to 0")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(3e-4, ge=0, description="weight decay")
    cutout: int = Field(16, ge=0, description="cutout square side, pixels (0: off)")
    drop_path: float = Field(0.2, ge=0, lt=1, description="final drop-path probability (linear ramp)")
    auxiliary_weight: float = Field(0.4, ge=0, description="auxiliary-head loss weight (0: no head)")
    grad_clip: float = Field(5.0, gt=0, description="gradient-norm clip")


class NASParams(MethodParams):
    search: SearchParams = Field(SearchParams(), description="the search loop's settings")
    final: FinalParams = Field(FinalParams(), description="the final training of the derived genotype")
    seeds: list[int] = Field([0], min_length=1, description="one job (search + final training) per seed")
    device: Literal["cpu", "cuda", "auto"] = Field("auto", description="where to run ('auto': CUDA if present)")


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise QsrbenchError("the spec asks for device 'cuda' and no CUDA device is available")
    return choice


class NASMethod(Method):
    """A registered search method: subclasses set ``name``, ``Params``, ``citation`` and build
    their strategy; :meth:`check_method` adds their own spec checks."""

    task = "nas"
    requires_model = False

    def __init__(self) -> None:
        self._data: dict = {}

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = []
        for i, d in enumerate(spec.datasets):
            if dataset_role(d) not in (None, "classification"):
                problems.append((f"datasets.{i}", f"{d} is not a classification set (NAS searches on CIFAR-10 or ImageNet)"))
        if spec.scales:
            problems.append(("scales", "a NAS spec has no scales"))
        if spec.model is not None:
            problems.append(("model", "a NAS spec searches its model; remove [model]"))
        if set(spec.metrics) - {"top1", "error", "search_s", "search_gpu_days"}:
            problems.append(("metrics", "NAS specs measure top1, error, search_s, search_gpu_days"))
        if "CIFAR-10" in spec.datasets:
            if spec.method.final.test_images > 10_000:
                problems.append(("method.final.test_images", "CIFAR-10 has 10,000 test images"))
            if spec.method.search.images > 50_000 or spec.method.final.train_images > 50_000:
                problems.append(("method.search.images", "CIFAR-10 has 50,000 training images"))
        try:
            spec.method.search.budget(0).check()
        except QsrbenchError as exc:
            problems.append(("method.search", str(exc).removeprefix("budget: ")))
        return problems + cls.check_method(spec)

    @classmethod
    def check_method(cls, spec: SpecBase) -> list[tuple[str, str]]:
        """The method's own spec checks, as ``(field path, message)``."""
        return []

    def strategy(self, spec: SpecBase, seed: int) -> SearchStrategy:
        raise NotImplementedError

    def prepare_network(self, spec: SpecBase):
        """A transform applied to the final network before its training (``None``: as built);
        a binarized search space binarizes the final network's convolutions too."""
        return None

    def find_genotype(self, spec: SpecBase, seed: int, train, device: str) -> SearchResult:
        """The search: by default the shared loop driven by :meth:`strategy`."""
        return search(self.strategy(spec, seed), train, spec.method.search.budget(seed), device)

    def jobs(self, spec: SpecBase) -> list[Job]:
        return [Job(d, None, None, f"seed {s}") for d in spec.datasets for s in spec.method.seeds]

    def _split(self, ctx: RunContext, name: str, split: str):
        key = (name, split)
        if key not in self._data:
            self._data[key] = datasets.get(name).load(ctx.data_root, split, ctx.verify)
        return self._data[key]

    def final_training(self, spec: SpecBase, genotype, train, test, seed: int, device: str,
                       prepare=None) -> dict:
        """Train ``genotype``'s network from scratch with ``[method.final]`` (fixed-seed subsets of
        ``train`` / ``test``); :func:`~.search.train_and_test`'s result."""
        f = spec.method.final
        final_train = train.subset(f.train_images, seed) if f.train_images < len(train) else train
        final_test = test.subset(f.test_images, seed) if f.test_images < len(test) else test
        out = train_and_test(genotype, final_train, final_test, epochs=f.epochs, channels=f.channels,
                             layers=f.layers, batch_size=f.batch_size, lr=f.lr, momentum=f.momentum,
                             weight_decay=f.weight_decay, cutout=f.cutout, drop_path=f.drop_path,
                             auxiliary_weight=f.auxiliary_weight, grad_clip=f.grad_clip, seed=seed,
                             device=device, prepare=prepare)
        return {**out, "train_images": len(final_train), "test_images": len(final_test)}

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        seed = int(job.variant.split()[-1])
        device = resolve_device(spec.method.device)
        train, test = self._split(ctx, job.dataset, "train"), self._split(ctx, job.dataset, "test")
        result = self.find_genotype(spec, seed, train, device)
        f = spec.method.final
        prepare = self.prepare_network(spec)
        out = self.final_training(spec, result.genotype, train, test, seed, device, prepare)
        net = GenotypeNetwork(result.genotype, f.channels, f.layers, len(train.classes))
        costs = layer_costs(prepare(net) if prepare else net, (1, *train.images.shape[1:]), layer_bits)
        metrics = {"top1": out["test_acc"], "error": 100.0 - out["test_acc"], "search_s": result.wall_s}
        if torch.device(device).type == "cuda":  # the papers' unit; only meaningful on a GPU
            metrics["search_gpu_days"] = result.wall_s / 86400.0
        return JobResult(
            metrics=metrics, params=out["params"], macs=sum(c.macs for c in costs),
            bitops=total_bitops(costs), wall_s=result.wall_s + out["train_s"],
            data_digest=f"{train.digest[:16]}/{test.digest[:16]}",
            extra={"genotype": result.genotype.model_dump(mode="json"), "device": result.device,
                   "device_type": torch.device(device).type, "search_epochs": result.epochs,
                   "forward_passes": result.forward_passes, "backward_passes": result.backward_passes,
                   "data_variant": train.variant, "search_images": min(spec.method.search.images, len(train)),
                   "final_train_images": out["train_images"], "test_images": out["test_images"],
                   "test_correct": out["correct"], "classes": len(train.classes),
                   "final_epochs": f.epochs, "train_s": out["train_s"], "history": result.history,
                   "search_summary": result.summary})
