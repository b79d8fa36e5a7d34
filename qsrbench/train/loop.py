"""The SR training loop shared by every trainable method (it names none): Adam on parameter groups,
a per-iteration schedule, gradient clipping, optional EMA of the weights, periodic validation,
atomic checkpoints and exact resume.

Resume is exact on a CPU with the same thread count: the checkpoint holds the model, optimizer,
scheduler, EMA and patch-sampler states and torch's RNG states, so a run killed after a
checkpoint at iteration ``k`` and started again continues as if it had never stopped (tested:
bit-identical final weights). On a GPU it continues from the same state, but cuDNN's
non-deterministic kernels make the weights differ in their last bits. Quantizer state (e.g. a
clip's initialisation counter) lives in the model's buffers; the EMA averages parameters and
copies buffers (``use_buffers=False``). A finished run is loaded without building the sampler
(no training data is read). Times: ``train_s`` is the wall time of the optimizer steps
(sampling, forward, backward, update), accumulated over resumes; validation and checkpoint
writing are excluded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..errors import QsrbenchError
from ..models.weights import file_sha256
from .checkpoint import CheckpointError, load_checkpoint_state, save_checkpoint
from .config import Schedule, TrainConfig
from .patches import PatchSampler

__all__ = ["Objective", "TrainResult", "lr_factor", "param_groups", "train_loop"]

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainResult:
    """What a finished run reports; ``model`` is the network to evaluate (the EMA when kept)."""

    model: nn.Module
    iterations: int
    train_s: float
    resumed_at: int | None
    weights: Path
    weights_sha256: str
    history: list[dict[str, float]] = field(default_factory=list)
    data_digest: str = ""  # the training sets' digest (PatchSampler.digest)

    @property
    def it_per_s(self) -> float:
        return self.iterations / self.train_s if self.train_s > 0 else float("nan")


def lr_factor(schedule: Schedule, t: int, total: int) -> float:
    """The learning-rate multiplier at iteration ``t`` (0-based) of ``total`` (see Schedule)."""
    if schedule.kind == "step":
        return schedule.gamma ** (t // schedule.step)
    if schedule.kind == "cosine":
        m = schedule.min_factor
        return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
    return 1.0


def param_groups(model: nn.Module, cfg: TrainConfig,
                 is_quant_param: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Adam groups: network weights (``lr``, ``weight_decay``) and quantizer parameters
    (``quant_lr``, no weight decay); frozen parameters are left out."""
    weights, quant = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (quant if is_quant_param(name) else weights).append(p)
    groups = [{"params": weights, "lr": cfg.lr, "weight_decay": cfg.weight_decay, "name": "weights"}]
    if quant:
        groups.append({"params": quant, "lr": cfg.quant_step_size, "weight_decay": 0.0, "name": "quant"})
    return groups


def _state(it, model, opt, sched, ema, sampler, train_s, history, meta) -> dict[str, Any]:
    return {"meta": meta, "iteration": it, "train_s": train_s, "history": history,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "ema": ema.state_dict() if ema is not None else None, "sampler": sampler.state_dict(),
            "data": sampler.digest, "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _restore(path: Path, state, model, opt, sched, ema, sampler) -> None:
    """Load a checkpoint's states; a missing or mismatched entry is a one-line CheckpointError."""
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        if sampler is not None:
            if state["data"] != sampler.digest:
                raise CheckpointError(f"{path}: the training data changed since this checkpoint "
                                      f"(data {state['data']!r}, now {sampler.digest!r}); delete it "
                                      "to train from the start")
            sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: does not fit this run ({type(exc).__name__}: {first}); "
                              "delete it to train from the start") from None


def train_loop(model: nn.Module, objective: Objective,
               sampler: PatchSampler | Callable[[], PatchSampler], cfg: TrainConfig, run_dir: Path, *,
               meta: dict[str, Any], is_quant_param: Callable[[str], bool] = lambda n: False,
               validate: Callable[[nn.Module], float] | None = None, seed: int = 0,
               progress: bool = False, on_iteration: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``model`` in place for ``cfg.iterations`` steps of ``objective(model, lr, hr)``,
    resuming from ``run_dir/checkpoint.pt`` when it holds a checkpoint of this run (``meta``).
    ``sampler`` may be a zero-argument factory, called only when there are steps left to train.
    Batches go to the model's device."""
    run_dir = Path(run_dir)
    device = next(model.parameters()).device
    opt = torch.optim.Adam(param_groups(model, cfg, is_quant_param), betas=cfg.betas)
    sched = LambdaLR(opt, lambda t: lr_factor(cfg.schedule, t, cfg.iterations))
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=False)
           if cfg.ema else None)
    ckpt, start, train_s, history, resumed = run_dir / "checkpoint.pt", 0, 0.0, [], None
    torch.manual_seed(seed)
    state = load_checkpoint_state(ckpt, meta) if ckpt.exists() else None
    finished = state is not None and int(state.get("iteration", -1)) >= cfg.iterations
    if not finished and not isinstance(sampler, PatchSampler):
        sampler = sampler()
    if state is not None:
        _restore(ckpt, state, model, opt, sched, ema, None if finished else sampler)
        start = resumed = int(state["iteration"])
        train_s, history = float(state["train_s"]), list(state["history"])
    data = state.get("data", "") if finished else sampler.digest
    params = [p for g in opt.param_groups for p in g["params"]]
    model.train()
    bar = tqdm(total=cfg.iterations, initial=start, desc="train", unit="it", disable=not progress,
               leave=False)
    last_val = None
    for it in range(start, cfg.iterations):
        t0 = time.perf_counter()
        lr, hr = (t.to(device, non_blocking=True) for t in sampler.next_batch())
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(model, lr, hr)
        if not torch.isfinite(loss):
            raise QsrbenchError(f"training diverged at iteration {it + 1} (loss {loss.item()}); "
                                "lower the learning rate or clip gradients ([method.train] grad_clip)")
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update_parameters(model)  # use_buffers=False: buffers copied, not averaged
        train_s += time.perf_counter() - t0
        done = it + 1
        if validate is not None and cfg.validate_every and done % cfg.validate_every == 0:
            last_val = validate(ema.module if ema is not None else model)
            history.append({"iteration": done, "loss": float(loss.detach()), "val_psnr": last_val, **parts})
            model.train()
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}", **({"val": f"{last_val:.3f}"} if last_val else {}))
        bar.update(1)
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == cfg.iterations:
            save_checkpoint(ckpt, _state(done, model, opt, sched, ema, sampler, train_s, history, meta))
        if on_iteration is not None:
            on_iteration(done)
    bar.close()
    final = ema.module if ema is not None else model
    weights = run_dir / "model.pt"
    if not finished or not weights.exists():
        save_checkpoint(weights, {k: v.detach().cpu().clone() for k, v in final.state_dict().items()})
    return TrainResult(final.eval(), cfg.iterations, train_s, resumed, weights, file_sha256(weights),
                       history, data)
