"""Base classes for methods. A method module in ``reference/`` subclasses one and registers it.

A method declares ``name``, ``Params`` (its pydantic parameters, ``name: Literal[...]``), a
``citation``, and turns a spec into jobs. :class:`SRMethod` covers every method whose result is an
SR model scored on SR sets: it only has to :meth:`SRMethod.build` the model for a scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from .bitops import REFERENCE_LR, LayerCost, total_bitops
from .data.root import data_root_origin
from .data.sr import LoadedSet
from .errors import QsrbenchError
from .evaluate import evaluate_sr
from .models.weights import file_sha256, require_weights
from .registry import datasets
from .spec import MethodParams, SpecBase

__all__ = ["Job", "JobResult", "RunContext", "Method", "SRMethod", "count_params", "dataset_role"]


@dataclass(frozen=True)
class Job:
    """One unit of work, and one result record: a (dataset, scale) pair for SR."""

    dataset: str
    scale: int | None  # None for tasks without a scale (NAS)
    model: str | None = None
    variant: str | None = None  # a configuration of the method within the spec


@dataclass
class JobResult:
    """What a method measured for one job; the runner stamps it into a record."""

    metrics: dict[str, float]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    params: int | None = None
    macs: int | None = None
    bitops: int | None = None
    wall_s: float = 0.0
    forward_s: float | None = None
    data_digest: str | None = None
    checkpoint_sha256: str | None = None
    tf32: bool | None = None  # set by the runner: TF32 state during the job
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Where data lives, which device to use, and how chatty to be."""

    data_root: Any = None
    data_root_arg: str | None = None
    device: str = "cpu"
    progress: bool = False
    verify: bool = True
    _sets: dict = field(default_factory=dict)

    def dataset(self, name: str, scales: list[int], max_images: int | None) -> LoadedSet:
        key = (name, tuple(scales), max_images)
        if key not in self._sets:
            ds = datasets.get(name)
            self._sets[key] = ds.load(self.data_root, list(scales), verify=self.verify,
                                      max_images=max_images,
                                      origin=data_root_origin(self.data_root_arg))
        return self._sets[key]


def dataset_role(name: str) -> str | None:
    """A registered data set's role ("test", "train", "classification"); None when the name is
    unknown (the spec checks report unknown names themselves)."""
    try:
        return getattr(datasets.get(name), "role", "test")
    except QsrbenchError:
        return None


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Method:
    """A benchmarkable method."""

    name: ClassVar[str]
    task: ClassVar[str] = "sr"
    Params: ClassVar[type[MethodParams]]
    citation: ClassVar[str] = ""
    requires_model: ClassVar[bool] = True

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        """Illegal combinations for this method, as ``(field path, message)``."""
        if cls.requires_model and spec.model is None:
            return [("model", f"method {cls.name!r} needs a model")]
        return []

    @classmethod
    def data_sets(cls, spec: SpecBase) -> list[str]:
        """Every registered data set the method reads for ``spec`` (scored or not)."""
        return list(spec.datasets)

    def jobs(self, spec: SpecBase) -> list[Job]:
        raise NotImplementedError

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        raise NotImplementedError


class SRMethod(Method):
    """A method that yields an SR model per scale, scored on each data set of the spec."""

    def __init__(self) -> None:
        self._built: dict[tuple, nn.Module] = {}

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        if not spec.scales:
            problems.append(("scales", f"method {cls.name!r} evaluates SR at given scales: list at least one"))
        bad = [d for d in spec.datasets if dataset_role(d) == "classification"]
        if bad:
            problems.append(("datasets", f"{', '.join(bad)} is a classification set; SR methods need SR sets"))
        return problems

    def variants(self, spec: SpecBase) -> list[str | None]:
        """Configurations of the method within one spec (e.g. PTQ calibrations); default: one."""
        return [None]

    def jobs(self, spec: SpecBase) -> list[Job]:
        model = spec.model.name if spec.model else None
        return [Job(d, s, model, v) for v in self.variants(spec) for s in spec.scales
                for d in spec.datasets]

    def build(self, spec: SpecBase, scale: int, ctx: RunContext, variant: str | None = None) -> nn.Module:
        """The SR model to score at ``scale`` (see :mod:`qsrbench.models` for its interface)."""
        raise NotImplementedError

    def layer_costs(self, spec: SpecBase, scale: int, variant: str | None,
                    lr_size: tuple[int, int] = REFERENCE_LR) -> list[LayerCost] | None:
        """Per-layer MACs and bits of the model the job scores, for one ``lr_size`` (h, w) LR
        input; None when the method does not count them. The one cost function behind the
        records and ``qsrbench bitops``."""
        return None

    def cost(self, spec: SpecBase, scale: int, variant: str | None) -> tuple[int | None, int | None]:
        """``(MACs, BitOps)`` for a :data:`~qsrbench.bitops.REFERENCE_LR` input, when known."""
        costs = self.layer_costs(spec, scale, variant)
        if costs is None:
            return None, None
        return sum(c.macs for c in costs), total_bitops(costs)

    def model_for(self, spec: SpecBase, scale: int, ctx: RunContext, variant: str | None = None) -> nn.Module:
        key = (scale, variant)
        if key not in self._built:
            self._built = {key: self.build(spec, scale, ctx, variant).to(ctx.device).eval()}
        return self._built[key]

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        data = ctx.dataset(job.dataset, spec.scales, spec.budget.max_images)
        model = self.model_for(spec, job.scale, ctx, job.variant)
        macs, bitops = self.cost(spec, job.scale, job.variant)
        res = evaluate_sr(model, data, job.scale, spec.protocol, device=ctx.device,
                          ssim="ssim" in spec.metrics, progress=ctx.progress)
        metrics = {"psnr": res.psnr}
        if res.ssim is not None:
            metrics["ssim"] = res.ssim
        per_image = [{"name": s.name, "psnr": s.psnr, "ssim": s.ssim} for s in res.per_image]
        weights = spec.model.weights if spec.model is not None else None
        sha = file_sha256(require_weights(weights, ctx.data_root)) if weights else None
        return JobResult(metrics=metrics, per_image=per_image, params=count_params(model),
                         macs=macs, bitops=bitops, wall_s=res.wall_s, forward_s=res.forward_s,
                         data_digest=data.digest, checkpoint_sha256=sha,
                         extra={"lr_sources": res.lr_sources, "images": len(res.per_image),
                                "device_type": torch.device(ctx.device).type})
