"""BPE: budgeted performance estimation of cell-space architectures, scored against full training.

Zheng, Ji, Wang, Ye, Li, Tian and Tian, "Rethinking Performance Estimation in Neural Architecture
Search", CVPR 2020 (arXiv 2005.09917). A *recipe* is a cheap training protocol (epochs, batch
size, learning rate, cells, float precision, channels, cutout, image size); its quality is the
Spearman rank correlation between the accuracies it gives a fixed set of architectures and their
fully trained accuracies, its cost the time per network. The authors' 100 ground-truth
architectures and their two published recipes (BPE-1: ρ 0.4967 at 0.0852 GPU-hours per network
on a V100; BPE-2: ρ 0.6245 at 0.5494 on a 2080Ti; their sheet ``Search_Hyperparameters_Results.xlsx``
at MAC-AutoML/rethinking_performance_estimation_in_NAS @ af83b7a) ship in
``shared/nas/bpe_ground_truth.json`` (:mod:`qsrbench.nas.ground_truth`).

This method trains a fixed-seed random sample of those architectures (``archs``; or the named
``arch_names``) under one recipe with the protocol of the authors' ``augment.py``
(:mod:`qsrbench.nas.estimate`): each (architecture, seed) is one job and one record (variant
``"<arch> seed <s>"``, metric ``top1`` = the proxy's best test top-1 in %, ``wall_s`` = training
plus per-epoch scoring), so an interrupted sweep resumes where it stopped (``qsrbench run``
skips recorded jobs). The record keeps the architecture's ground-truth accuracy and the recipe;
the leaderboard (:mod:`qsrbench.estimate_board`) computes ρ over the sample with its bootstrap
interval and the cost per network, next to the published figures.

Choices the paper leaves open, as spec parameters: ``score`` (best over epochs, as the released
code, or last), the subsets of training and test images (the released code: all 50,000 and the
10,000 test images), ``compile``; the released code's seed is 2 (``seeds``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field, ValidationError

from qsrbench.errors import QsrbenchError
from qsrbench.methods import Job, JobResult, Method, RunContext, dataset_role
from qsrbench.nas.estimate import estimate
from qsrbench.nas.ground_truth import Recipe, ground_truth_path, load_ground_truth
from qsrbench.nas.method import resolve_device
from qsrbench.registry import datasets, register_method
from qsrbench.spec import MethodParams, SpecBase

__all__ = ["BPEParams", "BPE", "sample_archs"]


class BPEParams(MethodParams):
    name: Literal["bpe"] = Field(description="budgeted performance estimation (Zheng et al., CVPR 2020)")
    recipe: str = Field("BPE-1", description="a published recipe of the ground truth file, or 'custom'")
    recipe_values: dict[str, float] | None = Field(None, description=(
        "the recipe when recipe = 'custom' (the ground truth's keys: epoch, batchsize, "
        "'learning rate', n_layers, fp, channels, cutout_len, image_size)"))
    archs: int = Field(20, ge=3, le=100, description="ground-truth architectures sampled (fixed seed)")
    arch_seed: int = Field(0, description="seed of the architecture sample")
    arch_names: list[str] | None = Field(None, min_length=3, description="these architectures instead of a sample")
    seeds: list[int] = Field([2], min_length=1, description="one training per seed (the released code: 2)")
    score: Literal["best", "last"] = Field("best", description="best top-1 over epochs (released code) or the last")
    train_images: int = Field(50_000, ge=2, description="training images (class-balanced subset below 50,000)")
    test_images: int = Field(10_000, ge=2, description="scored test images (subset below 10,000)")
    compile: bool = Field(False, description="torch.compile the proxy (compile time counts in the cost)")
    device: Literal["cpu", "cuda", "auto"] = Field("auto", description="where to train ('auto': CUDA if present)")


def sample_archs(names: list[str], count: int, seed: int) -> list[str]:
    """``count`` of ``names`` drawn without replacement by ``seed``, in the file's order."""
    if count > len(names):
        raise QsrbenchError(f"method.archs: {count} architectures asked, the ground truth has {len(names)}")
    pick = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
    return [names[i] for i in sorted(pick)]


@register_method
class BPE(Method):
    name = "bpe"
    task = "estimate"
    Params = BPEParams
    citation = "Zheng et al., Rethinking Performance Estimation in NAS, CVPR 2020 (arXiv 2005.09917)"
    requires_model = False

    def __init__(self) -> None:
        self._cache: dict = {}

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        for i, d in enumerate(spec.datasets):
            if dataset_role(d) not in (None, "classification"):
                problems.append((f"datasets.{i}", f"{d} is not a classification set (BPE trains on CIFAR-10)"))
        if spec.scales:
            problems.append(("scales", "an estimation spec has no scales"))
        if spec.model is not None:
            problems.append(("model", "the architectures come from the ground truth; remove [model]"))
        if set(spec.metrics) != {"top1"}:
            problems.append(("metrics", "an estimation spec measures top1 only ([metrics] top1 = {})"))
        m = spec.method
        if (m.recipe == "custom") != (m.recipe_values is not None):
            problems.append(("method.recipe_values", "give recipe_values exactly when recipe = 'custom'"))
        elif m.recipe_values is not None:
            try:
                Recipe.model_validate(m.recipe_values)
            except ValidationError as exc:
                e = exc.errors()[0]
                problems.append((".".join(["method.recipe_values", *map(str, e["loc"])]), e["msg"]))
        if "CIFAR-10" in spec.datasets and (m.train_images > 50_000 or m.test_images > 10_000):
            problems.append(("method.train_images", "CIFAR-10 has 50,000 training and 10,000 test images"))
        return problems

    def _truth(self, ctx: RunContext):
        if "truth" not in self._cache:
            self._cache["truth"] = load_ground_truth(ground_truth_path(ctx.data_root), verify=ctx.verify)
        return self._cache["truth"]

    def _recipe(self, spec, truth) -> tuple[Recipe, dict | None]:
        m = spec.method
        if m.recipe == "custom":
            return Recipe.model_validate(m.recipe_values), None
        if m.recipe not in truth.published_bpe:
            raise QsrbenchError(f"{spec.source}: method.recipe: {m.recipe!r} is not a published recipe of the "
                                f"ground truth ({', '.join(truth.published_bpe)}); use 'custom' with recipe_values")
        pub = truth.published_bpe[m.recipe]
        return pub.recipe, {"spearman": pub.spearman_vs_ground_truth,
                            "gpu_hours_per_network": pub.gpu_hours_per_network}

    def jobs(self, spec: SpecBase) -> list[Job]:
        m = spec.method
        names = m.arch_names or [f"Arch_{i}" for i in range(1, 101)]  # the shipped file's names
        chosen = names if m.arch_names else sample_archs(names, m.archs, m.arch_seed)
        return [Job(d, None, None, f"{a} seed {s}") for d in spec.datasets for a in chosen for s in m.seeds]

    def _split(self, ctx: RunContext, name: str, split: str, n: int, seed: int):
        key = (name, split, n, seed)
        if key not in self._cache:
            full = datasets.get(name).load(ctx.data_root, split, ctx.verify)
            self._cache[key] = full.subset(n, seed) if n < len(full) else full
        return self._cache[key]

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        arch_name, _, seed = job.variant.partition(" seed ")
        truth = self._truth(ctx)
        arch = next((a for a in truth.archs if a.name == arch_name), None)
        if arch is None:
            raise QsrbenchError(f"{spec.source}: method.arch_names: {arch_name!r} is not in the ground truth")
        recipe, published = self._recipe(spec, truth)
        m = spec.method
        train = self._split(ctx, job.dataset, "train", m.train_images, 0)
        test = self._split(ctx, job.dataset, "test", m.test_images, 0)
        res = estimate(arch.genotype, recipe, train, test, seed=int(seed), device=resolve_device(m.device),
                       score=m.score, compile=m.compile)
        return JobResult(
            metrics={"top1": res.score}, params=res.params, wall_s=res.cost_s,
            data_digest=f"{train.digest[:16]}/{test.digest[:16]}",
            extra={"arch": arch_name, "ground_truth_top1": arch.test_accuracy, "recipe_name": m.recipe,
                   "recipe": recipe.model_dump(by_alias=True), "published": published,
                   "top1_per_epoch": res.top1_per_epoch, "train_s": res.train_s, "eval_s": res.eval_s,
                   "device": res.device, "device_type": torch.device(resolve_device(m.device)).type,
                   "images_per_s": res.images_per_s, "data_variant": train.variant,
                   "test_correct": round(res.score * len(test) / 100), "classes": len(train.classes),
                   **res.extra})
