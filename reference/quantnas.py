"""QuantNAS: search an SR network's operations and bit-widths jointly, derive it, retrain it with
LSQ weights and HWGQ activations, score it.

Shvetsov, Osin, Zhelavskaya, Rybakov, ..., "QuantNAS: Quantization-aware Neural Architecture
Search for Efficient Deployment on Mobile Device", IEEE Access 2024 (arXiv 2208.14839). Checked
against the authors' code, diff7/QuanToaster @ b723e76 (``search_sr.py``, ``augment_sr.py``,
``configs/quant_config.yaml``, ``genotypes.py``) and On-Point-RND/QuantNAS @ a74390e; written
from the paper and those files, no code copied. The search spaces (``[method.search] supernet``):
the basic one and the relaxed layers, :mod:`reference.quantnas_space`; the RFDN-inspired one,
:mod:`reference.quantnas_rfdn` (:data:`SUPERNETS`); the noise proxy and HWGQ:
:mod:`qsrbench.quant.proxy`.

Search (one job per ``mode``: ``"noise"``, the QuantNAS proxy, and ``"direct"``, quantizing with
LSQ / HWGQ inside the supernet, the baseline the paper's speed claim is measured against):

* two disjoint halves of the training images (even / odd positions in the sets' order): weights
  step on the first, architecture (α) steps on the second (the code: 35 % / 35 % of the patches);
* each iteration, from epoch ``alpha_warmup`` on, one α step (Adam, lr 3e-4, betas (0.5, 0.999))
  on ``L1 + λ_H(e) · H + L_hw``, then one weight step (Adam, lr 1e-3, weight decay 3e-8, cosine
  over the epochs, stepped once per epoch, gradient norm clipped to 5) on ``L1`` (the entropy term
  has no weight gradient); L1 in [0, 1] pixel units, as the authors' (so the coefficients below
  weigh as theirs), the network in [0, 1];
* entropy ``H`` = Σ over positions of the joint softmax's entropy; its weight
  ``λ_H(e) = coef · e / (E − 1) · w₂(e)`` with ``w₂ = 0`` for ``e < ⌊E/4⌋``, else
  ``log(e − ⌊E/4⌋ + 2) / log(E − ⌊E/4⌋ + 1)`` (:func:`entropy_weight`; coef 1e-3, E = 20 in the
  code);
* BitOps penalty ``L_hw = penalty · (F − F₀/n) / (n F₀ − F₀/n)`` (:func:`bitops_penalty`), ``F``
  the supernet's expected BitOps (FLOPs x Σ p_b b, the code's form), ``F₀`` its value at uniform
  α on the first α batch, ``n`` = 1.25 (the code's ``n_ops / 4`` with 5 position kinds);
* derivation: per position the (operation, bits) of largest joint probability at the end of the
  search (the QuanToaster code keeps the epoch of lowest validation L1 and falls back to the
  first operation when every logit is <= 0; QN keeps the last epoch, as here).

Retraining: the derived network from scratch (the code: 30 epochs, Adam lr 1e-4, cosine), in
``[method.train]``, with the harness's training loop; scored like every SR model. Its BitOps are
the harness counter's (MACs x w bits x a bits, every quantized conv at its searched width, ADQ's
1x1 convs FP).

Search cost in ``extra.search``: wall seconds of the search loop, iterations, α and weight steps,
seconds per iteration (memory of each mode: ``suites/test_quantnas_speed.py``). The derived
architecture and the search facts are kept in the job's run folder (``search.json``), so a killed
or finished retraining resumes without searching again (the record says ``reused``).
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from qsrbench.bitops import REFERENCE_LR, layer_costs
from qsrbench.env import device_name
from qsrbench.errors import QsrbenchError
from qsrbench.models import RangeAdapter
from qsrbench.provenance import code_fingerprint, roots_for
from qsrbench.registry import datasets, register_method
from qsrbench.simnoise import Float64Eval
from qsrbench.spec import Strict, spec_hash
from qsrbench.train.config import Schedule
from qsrbench.train.loop import lr_factor, train_loop
from qsrbench.train.method import TrainedSRMethod, TrainParams, l1_objective
from qsrbench.train.patches import PatchSampler, load_training_images

from .quantnas_rfdn import RFDNSearchNet
from .quantnas_space import (QuantSRNet, Supernet, conv_bits, derived_choices, derived_size,
                             shape_problems, supernet_choices)

__all__ = ["QuantNAS", "QuantNASParams", "SearchConfig", "SUPERNETS", "entropy_weight", "bitops_penalty"]

SUPERNETS: dict[str, type[Supernet]] = {"basic": QuantSRNet, "rfdn": RFDNSearchNet}


class SearchConfig(Strict):
    """The ``[method.search]`` table: data, budget, optimizers and regularisers of the search."""

    sets: list[str] = Field(["T91", "BSD200"], min_length=1, description="HR training sets (split in two halves)")
    max_images: Annotated[int, Field(ge=2)] | None = Field(None, description="first images of each set only")
    epochs: Annotated[int, Field(ge=1)] = Field(20, description="search epochs E (the code: 20)")
    steps_per_epoch: Annotated[int, Field(ge=1)] = Field(description="iterations per epoch (one α and one weight step)")
    batch: Annotated[int, Field(ge=1)] = Field(32, description="patch pairs per step (the code: 32)")
    patch: Annotated[int, Field(ge=2)] = Field(96, description="HR patch side, pixels (the code: 180)")
    lr: Annotated[float, Field(gt=0)] = Field(1e-3, description="Adam lr of the weights (cosine)")
    weight_decay: Annotated[float, Field(ge=0)] = Field(3e-8, description="weight decay of the weights")
    grad_clip: Annotated[float, Field(gt=0)] = Field(5.0, description="gradient norm clip of the weights")
    alpha_lr: Annotated[float, Field(gt=0)] = Field(3e-4, description="Adam lr of the architecture logits")
    alpha_warmup: Annotated[int, Field(ge=0)] = Field(0, description="epochs before the first α step")
    entropy_coef: Annotated[float, Field(ge=0)] = Field(1e-3, description="coefficient of the entropy term")
    bitops_penalty: Annotated[float, Field(ge=0)] = Field(0.0, description="coefficient of the BitOps penalty")
    bitops_bound: Annotated[float, Field(gt=1)] = Field(1.25, description="n: the penalty maps [F0/n, n F0] to [0, 1]")
    noise: Literal["gaussian", "uniform"] = Field("gaussian", description="noise n: N(0,1)/2 or U[-1/2,1/2]")
    bits: list[int] = Field([4, 8], min_length=1, description="candidate bit-widths (HWGQ: 2, 4, 8)")
    supernet: Literal["basic", "rfdn"] = Field("basic", description=(
        "search space: the basic one (reference/quantnas_space.py) or the RFDN-inspired one "
        "(reference/quantnas_rfdn.py)"))
    channels: Annotated[int, Field(ge=3)] | None = Field(None, description=(
        "feature channels (the space's default: basic 36, a multiple of 3; rfdn 48, a multiple of 12)"))
    cells: Annotated[int, Field(ge=1)] | None = Field(None, description="body cells (default: basic 3, rfdn 4)")
    adq: bool | None = Field(None, description=(
        "adaptive deviation scaling (basic: around cells, body and tail, default on; rfdn: around "
        "cells, default off as the authors' config)"))
    space: dict[str, list[str]] | None = Field(None, description=(
        "candidate operations per position kind (default: the space's own)"))


class QuantNASParams(TrainParams):
    name: Literal["quantnas"] = Field(description="QuantNAS: joint operation x bit-width search")
    search: SearchConfig = Field(description="the search ([method.search])")
    modes: list[Literal["noise", "direct"]] = Field(["noise"], min_length=1, description=(
        "search with the noise proxy, with direct quantization, or both (one job each)"))


def _net_class(cfg: SearchConfig) -> type[Supernet]:
    return SUPERNETS[cfg.supernet]


def _dims(cfg: SearchConfig) -> tuple[type[Supernet], int, int]:
    """The space's class, channels and cells (the space's defaults where the spec is silent)."""
    cls = _net_class(cfg)
    return cls, cfg.channels or cls.CHANNELS, cfg.cells or cls.CELLS


def space_of(cfg: SearchConfig) -> dict[str, list[str]]:
    """The candidate operations per kind: the spec's, else the space's own."""
    return cfg.space if cfg.space is not None else _net_class(cfg).SPACE


def search_choices(cfg: SearchConfig):
    """Every searched position's candidates (operations x bits) in the spec's space."""
    cls, _, cells = _dims(cfg)
    return supernet_choices(space_of(cfg), cfg.bits, cls.positions(cells))


def network(cfg: SearchConfig, choices, scale: int, mode: str) -> Supernet:
    """The spec's space over ``choices`` (a supernet, or a derived network's one-candidate
    choices), channels, cells and ADQ resolved to the space's defaults where the spec is silent."""
    cls, channels, cells = _dims(cfg)
    return cls(choices, channels=channels, cells=cells, scale=scale, adq=cls.ADQ if cfg.adq is None else cfg.adq,
               mode=mode, noise=cfg.noise)


def _shape_problems(spec) -> list[tuple[str, str]]:
    """Channel counts, patch sizes and grouped operations the space cannot be built with."""
    cfg: SearchConfig = spec.method.search
    cls, channels, cells = _dims(cfg)
    if channels % cls.CHANNEL_MULTIPLE:
        return [("method.search.channels", f"{channels} is not a multiple of {cls.CHANNEL_MULTIPLE} "
                 f"(the {cfg.supernet} space)")]
    problems = []
    for where, patch in (("method.search.patch", cfg.patch), ("method.train.patch", spec.method.train.patch)):
        if any(patch % s for s in spec.scales):
            problems.append((where, f"{patch} is not a multiple of every scale {spec.scales}"))
        elif patch // max(spec.scales) < cls.MIN_LR:
            problems.append((where, f"{patch} gives {patch // max(spec.scales)}-pixel LR patches; the "
                             f"{cfg.supernet} space needs at least {cls.MIN_LR}"))
    for scale in spec.scales:
        choices = {pos: (space_of(cfg)[kind], cfg.bits) for pos, kind in cls.positions(cells).items()}
        problems += [("method.search.space", f"x{scale}: {msg}")
                     for msg in shape_problems(choices, cls.shapes(channels, scale, cells), channels)]
    return problems


def entropy_weight(epoch: int, epochs: int, coef: float) -> float:
    """``coef · e/(E−1) · w₂(e)`` (module docstring); epochs 0-based."""
    warm = epochs // 4
    if epoch < warm:
        return 0.0
    w1 = epoch / (epochs - 1) if epochs > 1 else 1.0
    return coef * w1 * math.log(epoch - warm + 2) / math.log(epochs - warm + 1)


def bitops_penalty(bitops: torch.Tensor, initial: float, coef: float, bound: float) -> torch.Tensor:
    """``coef · (F − F₀/n) / (n F₀ − F₀/n)``: 0 at F₀/n, ``coef`` at n F₀."""
    low, high = initial / bound, initial * bound
    return coef * (bitops - low) / (high - low)


def _l1(net, lr, hr) -> torch.Tensor:
    """L1 in [0, 1] pixel units, as the authors' search (their tensors are divided by 255): the
    entropy and BitOps coefficients then weigh against it as theirs do."""
    return F.l1_loss(net(lr / 255.0), hr / 255.0)


def run_search(net: Supernet, weights: PatchSampler, arch: PatchSampler, cfg: SearchConfig,
               device: str) -> dict:
    """The alternating search loop (module docstring) on ``net`` in place; returns its facts."""
    w_opt = torch.optim.Adam(net.weight_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.alpha_lr, betas=(0.5, 0.999))
    total, cosine = cfg.epochs * cfg.steps_per_epoch, Schedule(kind="cosine")
    initial, history, alpha_steps = None, [], 0
    net.train()
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        lam = entropy_weight(epoch, cfg.epochs, cfg.entropy_coef)
        for g in w_opt.param_groups:  # cosine stepped per epoch, as the authors' scheduler
            g["lr"] = cfg.lr * lr_factor(cosine, epoch, cfg.epochs)
        for _ in range(cfg.steps_per_epoch):
            if epoch >= cfg.alpha_warmup:
                lr, hr = (t.to(device) for t in arch.next_batch())
                l1 = _l1(net, lr, hr)
                bitops = net.expected_bitops()
                initial = float(bitops.detach()) if initial is None else initial
                loss = l1 + lam * net.entropy() + bitops_penalty(bitops, initial, cfg.bitops_penalty, cfg.bitops_bound)
                a_opt.zero_grad(set_to_none=True)
                loss.backward()
                a_opt.step()
                alpha_steps += 1
            lr, hr = (t.to(device) for t in weights.next_batch())
            w_opt.zero_grad(set_to_none=True)
            loss = _l1(net, lr, hr)
            if not torch.isfinite(loss):
                raise QsrbenchError(f"search diverged in epoch {epoch + 1} (L1 {loss.item()}); lower method.search.lr")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
            w_opt.step()
        history.append({"epoch": epoch, "l1": float(loss.detach()), "entropy": float(net.entropy().detach()),
                        "entropy_weight": lam})
    seconds = time.perf_counter() - t0
    return {"search_s": seconds, "iterations": total, "alpha_steps": alpha_steps, "weight_steps": total,
            "s_per_iteration": seconds / total, "initial_bitops": initial, "history": history,
            "device": device_name(device), "threads": torch.get_num_threads()}


def _search_problems(spec) -> list[tuple[str, str]]:
    """Budgets and lists a search cannot run with (field path, message)."""
    cfg: SearchConfig = spec.method.search
    problems = []
    for i, name in enumerate(cfg.sets):
        try:
            role = getattr(datasets.get(name), "role", "test")
        except QsrbenchError as exc:
            problems.append((f"method.search.sets.{i}", str(exc)))
            continue
        if role != "train":
            problems.append((f"method.search.sets.{i}", f"{name} is a {role} set; search on training sets"))
    if cfg.alpha_warmup >= cfg.epochs:
        problems.append(("method.search.alpha_warmup", f"{cfg.alpha_warmup} >= epochs {cfg.epochs}: no "
                         "architecture step would be taken"))
    known = _net_class(cfg).SPACE
    unknown = sorted(set(space_of(cfg)) - set(known))
    if unknown:
        problems.append(("method.search.space", f"unknown position kind(s) {', '.join(unknown)} "
                         f"of the {cfg.supernet} space (known: {', '.join(known)})"))
    for where, values in (("method.modes", spec.method.modes), ("method.search.bits", cfg.bits)):
        if len(set(values)) != len(values):
            problems.append((where, f"{list(values)} lists a value twice"))
    return problems


@register_method
class QuantNAS(TrainedSRMethod):
    name = "quantnas"
    Params = QuantNASParams
    citation = "Shvetsov et al., QuantNAS, IEEE Access 2024 (arXiv 2208.14839)"
    requires_model = False  # the network is searched ([method.search])

    def __init__(self) -> None:
        super().__init__()
        self.searched: dict[tuple, dict] = {}
        self._final: dict[tuple, Supernet] = {}

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if spec.model is not None:
            problems.append(("model", "quantnas searches its own network: remove the [model] table"))
        cfg: SearchConfig = spec.method.search
        try:
            search_choices(cfg)
        except QsrbenchError as exc:
            return problems + [("method.search", str(exc))] + _search_problems(spec)
        return problems + _shape_problems(spec) + _search_problems(spec)

    @classmethod
    def data_sets(cls, spec):
        return [*super().data_sets(spec), *spec.method.search.sets]

    def variants(self, spec):
        return list(spec.method.modes)

    def _samplers(self, spec, scale, ctx) -> tuple[PatchSampler, PatchSampler]:
        cfg: SearchConfig = spec.method.search
        images, digest = load_training_images(cfg.sets, scale, cfg.patch // scale, data_root=ctx.data_root,
                                              data_root_arg=ctx.data_root_arg, max_images=cfg.max_images,
                                              verify=ctx.verify)
        if len(images) < 2:
            raise QsrbenchError(f"spec {spec.name}: the search needs at least 2 training images (two halves)")
        return tuple(PatchSampler(images[half::2], scale, cfg.patch, cfg.batch, seed=spec.seed + half,
                                  digest=digest) for half in (0, 1))

    def search(self, spec, scale, ctx, mode: str) -> tuple[dict[str, tuple[str, int]], dict]:
        """Search in ``mode``; returns the derived choice and the search facts."""
        cfg: SearchConfig = spec.method.search
        torch.manual_seed(spec.seed)
        net = network(cfg, search_choices(cfg), scale, mode).to(ctx.device)
        facts = run_search(net, *self._samplers(spec, scale, ctx), cfg, ctx.device)
        choice = net.derive()
        facts["probabilities"] = {pos: [round(float(p), 6) for p in net.probs(pos).detach().flatten()]
                                  for pos in net.choices}
        return choice, facts

    def search_once(self, spec, scale, ctx, mode: str, path: Path) -> tuple[dict[str, tuple[str, int]], dict]:
        """The search's result kept at ``path`` (the job's run folder, named by spec hash and code):
        read when present (``reused``: true), else searched and written atomically."""
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                choice = {pos: (a["op"], int(a["bits"])) for pos, a in saved["architecture"].items()}
                return choice, {**saved["facts"], "reused": True}
            except (ValueError, KeyError, TypeError) as exc:
                raise QsrbenchError(f"{path}: not a search result of this harness ({type(exc).__name__}: {exc}); "
                                    "delete it to search again") from None
        choice, facts = self.search(spec, scale, ctx, mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"architecture": {pos: {"op": op, "bits": b} for pos, (op, b) in choice.items()},
                                   "facts": facts}), encoding="utf-8")
        tmp.replace(path)
        return choice, {**facts, "reused": False}

    def build(self, spec, scale, ctx, variant=None):
        """Search (or read the run folder's result), derive, retrain (the training loop,
        resumable), and return the scored model."""
        cfg = spec.method.search
        code = code_fingerprint(roots_for(spec))["digest"]
        run_dir = self.run_dir(spec, scale, variant, code)
        choice, facts = self.search_once(spec, scale, ctx, variant, run_dir / "search.json")
        torch.manual_seed(spec.seed)
        net = network(cfg, derived_choices(choice), scale, "direct").to(ctx.device)
        train = spec.method.train
        meta = {"spec": spec.name, "version": spec.version, "spec_hash": spec_hash(spec), "scale": scale,
                "variant": variant, "code": code, "architecture": {k: list(v) for k, v in choice.items()}}

        def sampler() -> PatchSampler:
            images, digest = load_training_images(train.sets, scale, train.patch // scale, data_root=ctx.data_root,
                                                  data_root_arg=ctx.data_root_arg, max_images=train.max_images,
                                                  verify=ctx.verify)
            return PatchSampler(images, scale, train.patch, train.batch, augment=train.augment, seed=spec.seed,
                                digest=digest)

        res = train_loop(net, l1_objective(255.0), sampler, train, run_dir,
                         meta=meta, is_quant_param=lambda n: n.endswith(".step"),
                         validate=self._validator(spec, scale, ctx, 1.0), seed=spec.seed, progress=ctx.progress)
        key = (scale, variant)
        self.trained[key], self.sizes[key], self._final[key] = res, derived_size(res.model), res.model
        self.searched[key] = {"architecture": {k: {"op": op, "bits": b} for k, (op, b) in choice.items()},
                              **facts}
        scored = RangeAdapter(res.model, 1.0)
        return Float64Eval(scored) if spec.method.eval_dtype == "float64" else scored

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """The derived network's convs at their searched bits (weights and activations), ADQ FP;
        None before the job has searched."""
        net = self._final.get((scale, variant))
        if net is None:
            return None
        bits = conv_bits(net)  # a float32 copy: the scored network may have been converted to float64
        return layer_costs(copy.deepcopy(net).float(), (1, 3, *lr_size),
                           lambda n, m: (bits[n], bits[n]) if n in bits else (32, 32))

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        info = self.searched[(job.scale, job.variant)]
        result.extra["search"] = {"mode": job.variant, "baseline_mode": "direct", **info}
        bits = conv_bits(self._final[(job.scale, job.variant)])
        result.extra["mixed_precision"] = {"mean_bits": sum(bits.values()) / len(bits), "layers": bits}
        return result
