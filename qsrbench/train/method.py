"""Base of SR methods whose model the harness trains (quantization-aware training): the method
builds the initial network and its objective; this class samples patches, runs
:func:`~qsrbench.train.loop.train_loop` in the job's run folder, and scores the trained model like
any other SR model. Records carry the training facts in ``extra["train"]``: iterations, patch,
batch, wall time and it/s of the optimizer steps, the validation history, the run folder and the
sha256 of the trained weights (which stay in the run folder, never in the repository).

Scoring: the trained model is scored in float64 by default (``eval_dtype``;
:class:`qsrbench.simnoise.Float64Eval`), for the reason PTQ is: a fake-quantized network's float32
score moves between machines and thread counts by up to ~0.05 dB at 4 bits. Training itself runs
in float32, so trained weights of two machines differ in their last bits; float64 scoring removes
only the evaluation's share of that noise (the records' ``extra.train`` says where they were made).

Run folders: ``$QSRBENCH_RUNS`` (default ``./runs``)
``/<spec>/v<version>-<spec hash>-<code digest>-x<scale>[-<variant>]/``.
A job whose folder holds a finished checkpoint of the same run is evaluated without training
again; a killed job resumes from its last checkpoint.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..evaluate import evaluate_sr
from ..errors import QsrbenchError
from ..methods import JobResult, RunContext, SRMethod
from ..models import RangeAdapter
from ..provenance import code_fingerprint, roots_for
from ..quant.size import model_size
from ..registry import datasets, models
from ..simnoise import Float64Eval
from ..spec import MethodParams, SpecBase, spec_hash
from .config import TrainConfig
from .loop import Objective, TrainResult, train_loop
from .patches import PatchSampler, load_training_images

__all__ = ["TrainParams", "TrainedSRMethod", "runs_root", "l1_objective", "ENV_RUNS"]

ENV_RUNS = "QSRBENCH_RUNS"


class TrainParams(MethodParams):
    """Parameters of a trained method: its ``[method.train]`` table."""

    train: TrainConfig = Field(description="the training run ([method.train])")
    eval_dtype: Literal["float32", "float64"] = Field("float64", description=(
        "arithmetic of the trained model's scoring forward (training is float32): float64 makes "
        "the score of given weights independent of machine and thread count; float32 is ~5x faster"))


def runs_root() -> Path:
    """Where training runs keep checkpoints and trained weights (``$QSRBENCH_RUNS``, else ./runs)."""
    return Path(os.environ.get(ENV_RUNS) or "runs")


def l1_objective(range_factor: float) -> Objective:
    """Mean absolute error in [0, 255] pixel units; the network sees its own range
    (``[0, 255] / range_factor``) and its output is scaled back."""

    def objective(model, lr, hr):
        loss = F.l1_loss(model(lr / range_factor) * range_factor, hr)
        return loss, {"l1": float(loss.detach())}

    return objective


class TrainedSRMethod(SRMethod):
    """An SR method trained by the harness. Subclasses implement :meth:`initial_model` and may
    override :meth:`objective` and :meth:`is_quant_param`.

    ``trains``: a job trains for minutes to hours, so the suites never re-run one as a small-tier
    spec's CI golden sample (``suites/conftest.py``); its committed records are checked instead."""

    trains: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.trained: dict[tuple, TrainResult] = {}
        self.sizes: dict[tuple, Any] = {}

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = super().check_spec(spec)
        cfg: TrainConfig = spec.method.train
        for s in spec.scales:
            if cfg.patch % s:
                problems.append(("method.train.patch", f"{cfg.patch} is not a multiple of scale {s}"))
                break
        for where, name, want in [*((f"method.train.sets.{i}", n, "train") for i, n in enumerate(cfg.sets)),
                                  ("method.train.val_set", cfg.val_set, "test")]:
            try:
                role = getattr(datasets.get(name), "role", "test")
            except QsrbenchError as exc:
                problems.append((where, str(exc)))
                continue
            if role != want:
                problems.append((where, f"{name} is a {role} set; " + (
                    "train on a training set (T91, BSD200; DIV2K/DF2K when present)" if want == "train"
                    else "validate on an evaluation set (Set5, Set14, ...)")))
        return problems

    @classmethod
    def data_sets(cls, spec: SpecBase) -> list[str]:
        cfg = spec.method.train
        return [*spec.datasets, *cfg.sets, cfg.val_set]

    # -- what a method provides -------------------------------------------------------------
    def initial_model(self, spec: SpecBase, scale: int, ctx: RunContext, variant: str | None) -> nn.Module:
        """The network to train, in its own pixel range (e.g. FP weights with quantizers placed)."""
        raise NotImplementedError

    def objective(self, spec: SpecBase, scale: int, ctx: RunContext, model: nn.Module,
                  range_factor: float) -> Objective:
        """The training loss; default: L1 in the network's pixel range."""
        return l1_objective(range_factor)

    def is_quant_param(self, name: str) -> bool:
        """Whether parameter ``name`` is a quantizer parameter (its own lr, no weight decay)."""
        return False

    # -- the job -------------------------------------------------------------------------------
    def run_dir(self, spec: SpecBase, scale: int, variant: str | None, code: str) -> Path:
        """``<runs>/<spec>/v<version>-<spec hash>-<code digest[:8]>-x<scale>[-<variant>]``: other
        code or another protocol trains in a fresh folder."""
        tag = f"v{spec.version}-{spec_hash(spec)}-{code[:8]}-x{scale}"
        if variant:
            tag += "-" + re.sub(r"[^a-z0-9]+", "-", variant.lower()).strip("-")
        return runs_root() / spec.name / tag

    def _validator(self, spec, scale, ctx, input_range):
        cfg = spec.method.train
        if not cfg.validate_every:
            return None

        def validate(net: nn.Module) -> float:
            data = ctx.dataset(cfg.val_set, [scale], cfg.val_images)
            return evaluate_sr(RangeAdapter(net, input_range), data, scale, spec.protocol,
                               device=ctx.device, ssim=False).psnr

        return validate

    def build(self, spec, scale, ctx, variant=None):
        cfg: TrainConfig = spec.method.train
        input_range = models.get(spec.model.name).input_range
        net = self.initial_model(spec, scale, ctx, variant).to(ctx.device)

        def sampler() -> PatchSampler:  # built only when there is training left to do
            images, digest = load_training_images(
                cfg.sets, scale, cfg.patch // scale, data_root=ctx.data_root,
                data_root_arg=ctx.data_root_arg, max_images=cfg.max_images, verify=ctx.verify)
            return PatchSampler(images, scale, cfg.patch, cfg.batch, augment=cfg.augment,
                                seed=spec.seed, digest=digest)

        code = code_fingerprint(roots_for(spec))["digest"]
        meta = {"spec": spec.name, "version": spec.version, "spec_hash": spec_hash(spec),
                "scale": scale, "variant": variant, "code": code}
        factor = 255.0 / input_range
        res = train_loop(net, self.objective(spec, scale, ctx, net, factor), sampler, cfg,
                         self.run_dir(spec, scale, variant, code), meta=meta,
                         is_quant_param=self.is_quant_param,
                         validate=self._validator(spec, scale, ctx, input_range), seed=spec.seed,
                         progress=ctx.progress)
        self.trained[(scale, variant)] = res
        self.sizes[(scale, variant)] = model_size(res.model)  # before a float64 conversion
        scored = RangeAdapter(res.model, input_range)
        return Float64Eval(scored) if spec.method.eval_dtype == "float64" else scored

    def run_job(self, spec, job, ctx) -> JobResult:
        result = super().run_job(spec, job, ctx)
        res = self.trained[(job.scale, job.variant)]
        cfg: TrainConfig = spec.method.train
        result.extra["train"] = _train_facts(res, cfg)
        size = self.sizes[(job.scale, job.variant)]
        result.extra["size"] = {"parameters": size.parameters, "bits": size.bits, "ratio": size.ratio}
        return result


def _train_facts(res: TrainResult, cfg: TrainConfig) -> dict[str, Any]:
    return {"iterations": res.iterations, "batch": cfg.batch, "patch": cfg.patch,
            "sets": list(cfg.sets), "train_s": res.train_s, "it_per_s": res.it_per_s,
            "resumed_at": res.resumed_at, "weights_sha256": res.weights_sha256,
            "run_dir": str(res.weights.parent), "history": res.history, "data": res.data_digest,
            "threads": torch.get_num_threads()}
