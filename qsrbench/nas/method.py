"""Base of the NAS methods in ``reference/``: a spec → a search → a genotype → a short final
training → one record per seed (task ``"nas"``).

A NAS spec names ``datasets = ["CIFAR-10"]`` and no scales; ``[method]`` holds the search
budget (:class:`SearchParams`), the final training (:class:`FinalParams`), the seeds and the
device. Each seed is a job (record variant ``"seed N"``) with metrics ``top1`` (test accuracy
of the final network, %) and ``search_s`` (search wall-clock seconds), plus params, MACs of one
training-size input (32x32 on CIFAR-10), and in ``extra`` the genotype, device name, epochs, supernet forward/backward
passes, data variant (original or JPEG copy) and sizes.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field

from ..bitops import layer_costs
from ..errors import QsrbenchError
from ..methods import Job, JobResult, Method, RunContext, dataset_role
from ..registry import datasets
from ..spec import MethodParams, SpecBase, Strict
from .network import GenotypeNetwork
from .search import SearchBudget, search, train_and_test

__all__ = ["SearchParams", "FinalParams", "NASParams", "NASMethod", "resolve_device"]


class SearchParams(Strict):
    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    images: int = Field(50_000, ge=2)  # of the training split; halves for weights / architecture
    channels: int = Field(16, ge=1)
    layers: int = Field(8, ge=3)
    lr: float = Field(0.025, gt=0)
    arch_lr: float = Field(3e-4, gt=0)


class FinalParams(Strict):
    """Final training of the derived genotype from scratch (DARTS recipe, scaled by the tier)."""

    epochs: int = Field(600, ge=0)
    train_images: int = Field(50_000, ge=1)
    test_images: int = Field(10_000, ge=1)
    channels: int = Field(36, ge=1)
    layers: int = Field(20, ge=3)
    batch_size: int = Field(96, ge=1)
    lr: float = Field(0.025, gt=0)
    cutout: int = Field(16, ge=0)
    drop_path: float = Field(0.2, ge=0, lt=1)


class NASParams(MethodParams):
    search: SearchParams = SearchParams()
    final: FinalParams = FinalParams()
    seeds: list[int] = Field([0], min_length=1)
    device: Literal["cpu", "cuda", "auto"] = "auto"


def resolve_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise QsrbenchError("the spec asks for device 'cuda' and no CUDA device is available")
    return choice


class NASMethod(Method):
    """A registered search method; subclasses set ``name``, ``Params``, ``citation``,
    ``search_method`` and ``budget_fields`` (which of their parameters go into the search)."""

    task = "nas"
    requires_model = False
    search_method: ClassVar[str]
    budget_fields: ClassVar[dict[str, str]] = {}  # the method's own parameter → SearchBudget field

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
            cls.budget(spec, 0).check(cls.search_method)
        except QsrbenchError as exc:
            problems.append(("method.search", str(exc).removeprefix("budget: ")))
        return problems

    @classmethod
    def budget(cls, spec: SpecBase, seed: int) -> SearchBudget:
        s = spec.method.search
        own = {field: getattr(spec.method, param) for param, field in cls.budget_fields.items()}
        return SearchBudget(epochs=s.epochs, batch_size=s.batch_size, images=s.images,
                            channels=s.channels, layers=s.layers, lr=s.lr, arch_lr=s.arch_lr,
                            seed=seed, **own)

    def jobs(self, spec: SpecBase) -> list[Job]:
        return [Job(d, None, None, f"seed {s}") for d in spec.datasets for s in spec.method.seeds]

    def _split(self, ctx: RunContext, name: str, split: str):
        key = (name, split)
        if key not in self._data:
            self._data[key] = datasets.get(name).load(ctx.data_root, split, ctx.verify)
        return self._data[key]

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        seed = int(job.variant.split()[-1])
        device = resolve_device(spec.method.device)
        train, test = self._split(ctx, job.dataset, "train"), self._split(ctx, job.dataset, "test")
        result = search(self.search_method, train, self.budget(spec, seed), device)
        f = spec.method.final
        final_train = train.subset(f.train_images, seed) if f.train_images < len(train) else train
        final_test = test.subset(f.test_images, seed) if f.test_images < len(test) else test
        out = train_and_test(result.genotype, final_train, final_test, epochs=f.epochs,
                             channels=f.channels, layers=f.layers, batch_size=f.batch_size, lr=f.lr,
                             cutout=f.cutout, drop_path=f.drop_path, seed=seed, device=device)
        net = GenotypeNetwork(result.genotype, f.channels, f.layers, len(train.classes))
        macs = sum(c.macs for c in layer_costs(net, (1, *train.images.shape[1:])))
        metrics = {"top1": out["test_acc"], "error": 100.0 - out["test_acc"], "search_s": result.wall_s}
        if torch.device(device).type == "cuda":  # the papers' unit; only meaningful on a GPU
            metrics["search_gpu_days"] = result.wall_s / 86400.0
        return JobResult(
            metrics=metrics, params=out["params"], macs=macs, wall_s=result.wall_s + out["train_s"],
            data_digest=f"{train.digest[:16]}/{test.digest[:16]}",
            extra={"genotype": result.genotype.model_dump(mode="json"), "device": result.device,
                   "device_type": torch.device(device).type, "search_epochs": result.epochs,
                   "forward_passes": result.forward_passes, "backward_passes": result.backward_passes,
                   "data_variant": train.variant, "search_images": min(spec.method.search.images, len(train)),
                   "final_train_images": len(final_train), "test_images": len(final_test),
                   "final_epochs": f.epochs, "train_s": out["train_s"], "history": result.history})
