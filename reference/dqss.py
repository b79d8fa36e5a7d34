"""DQSS: a differentiable search over quantization strategies, per layer, for a pretrained SR
network (post-training mode).

Li, Yan, Chen, "Differentiable Search for Finding Optimal Quantization Strategy" (DQSS; arXiv
2404.08010v2, 2024; only its abstract could be read here, no public code was found: see
``docs/research/dqss_algorithm.md``). Each quantized convolution holds its FP weight and
relaxations over activation strategies (α) and weight strategies (β):

    y = Σ_i α_i Σ_j β_j W_j ∗ A_i = conv(Σ_i α_i A_i(x), Σ_j β_j W_j(W))

(:class:`qsrbench.quant.composite.CompositeQuantConv2d`: one convolution, exact by bilinearity).
The candidate strategies are the harness's quantizers at one shared bit-width (:data:`ACTIVATION`,
:data:`WEIGHT`): min-max, percentile (99.99 %) and MSE-optimal uniform ranges (activations
asymmetric per tensor, calibrated; weights symmetric per output channel, from the weight), LSQ
(step initialised as the LSQ paper), PACT (activations, clip [0, α]), DoReFa (weights), PAMS
(activations: symmetric learnable clip [−α, α]; weights: symmetric per-tensor max scale).
PACT's and PAMS's α start at the largest |input| seen in calibration.

Choices this module makes where the paper's text was not available here (spec parameters where
they matter; see the issue-17 notes):

* **Search objective (PTQ mode)**: L1 between the relaxed quantized network's output and the FP
  network's output on the calibration patches, in [0, 255] pixel units (no labels needed, as in
  post-training quantization); Adam on α and β only (``search_lr``), ``search_steps`` steps over
  the calibration patches in turn; the weights and the quantizers' own parameters stay at their
  calibrated values (``train_quantizers = true`` also trains LSQ steps and PACT/PAMS clips).
* **Which layers**: those the harness's PTQ baseline quantizes (:mod:`reference.ptq`: every
  executed conv except ``keep_fp``, first and last by default), so DQSS and uniform PTQ compare
  at equal bits and BitOps.
* **Arithmetic**: calibration, search and scoring in float64 by default (``search_dtype``,
  ``eval_dtype``): in float32 the search's trajectory, and so its argmax, depends on the CPU's
  kernels (the smoke spec chose other strategies on an Intel Xeon than on an AMD EPYC).
* **Derivation**: per layer the argmax of α and of β; the derived layer runs only the chosen
  quantizers (one-hot relaxation = the chosen pair, tested).

Baselines in the same spec (``baselines``): each is the same network with one fixed (activation,
weight) strategy pair on every layer, calibrated identically and not searched; the record of the
searched variant names the best baseline on the same images.
"""

from __future__ import annotations

import copy
import time
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from qsrbench.bitops import REFERENCE_LR
from qsrbench.errors import QsrbenchError
from qsrbench.methods import SRMethod
from qsrbench.models import RangeAdapter, create_model
from qsrbench.quant.composite import CompositeQuantConv2d
from qsrbench.quant.config import QuantConfig, TensorQuant
from qsrbench.quant.convert import quantize_model
from qsrbench.quant.modules import (DoReFaWeight, LSQQuantizer, PACTQuantizer, PAMSQuantizer, UniformQuantizer,
                                    make_quantizer)
from qsrbench.registry import datasets, models, register_method
from qsrbench.simnoise import Float64Eval
from qsrbench.spec import MethodParams

from .fp import model_layer_costs, pretrained
from .ptq import PTQ

__all__ = ["DQSS", "DQSSParams", "StrategyParams", "ACTIVATION", "WEIGHT", "searchable_layers", "make_composites",
           "calibrate_composites", "search_strategies", "derive", "strategies_for", "variant_names", "strategy_problems",
           "calib_set_problems", "strategy_summary"]

ACTIVATION = {
    "minmax": lambda b: UniformQuantizer(b, symmetric=False, calibration="minmax"),
    "percentile": lambda b: UniformQuantizer(b, symmetric=False, calibration="percentile"),
    "mse": lambda b: UniformQuantizer(b, symmetric=False, calibration="mse"),
    "lsq": lambda b: LSQQuantizer(b, signed=True),
    "pact": lambda b: PACTQuantizer(b),
    "pams": lambda b: PAMSQuantizer(b),
}
WEIGHT = {
    "minmax": lambda b: UniformQuantizer(b, symmetric=True, axis=0, calibration="minmax", observe_on_call=True),
    "percentile": lambda b: UniformQuantizer(b, symmetric=True, axis=0, calibration="percentile", observe_on_call=True),
    "mse": lambda b: UniformQuantizer(b, symmetric=True, axis=0, calibration="mse", observe_on_call=True),
    "lsq": lambda b: LSQQuantizer(b, signed=True),
    "dorefa": lambda b: DoReFaWeight(b),
    "pams": lambda b: UniformQuantizer(b, symmetric=True, axis=None, calibration="minmax", observe_on_call=True),
}
ActName = Literal["minmax", "percentile", "mse", "lsq", "pact", "pams"]
WeightName = Literal["minmax", "percentile", "mse", "lsq", "dorefa", "pams"]


class StrategyParams(MethodParams):
    """The strategy search's own fields, shared by every DQSS method (SR PTQ / QAT, CIFAR-10)."""

    activation_strategies: list[ActName] = Field(list(ACTIVATION), min_length=1, description="activation candidates")
    weight_strategies: list[WeightName] = Field(list(WEIGHT), min_length=1, description="weight candidates")
    baselines: list[tuple[ActName, WeightName]] = Field(
        [("minmax", "minmax"), ("percentile", "percentile"), ("mse", "mse"), ("lsq", "lsq"), ("pams", "pams")],
        description="fixed (activation, weight) strategy pairs scored beside the search (one variant each)")
    search_steps: int = Field(100, ge=1, description="Adam steps on α and β (one calibration batch each, in turn)")
    search_lr: float = Field(1e-2, gt=0, description="Adam step size of α and β")
    train_quantizers: bool = Field(False, description="also train LSQ steps and PACT/PAMS clips during the search")
    keep_fp: list[str] = Field(["first", "last"], description="layers left in full precision (as PTQ)")


class DQSSParams(StrategyParams):
    name: Literal["dqss"] = Field(description="DQSS: differentiable search of per-layer quantization strategies")
    mode: Literal["ptq"] = Field("ptq", description="post-training search on calibration data")
    calib_set: str = Field("T91", description="HR set whose bicubic LR patches calibrate and drive the search")
    calib_images: int = Field(8, ge=1, description="calibration images (the first of the set)")
    calib_patch: int = Field(64, ge=8, description="LR patch side, pixels")
    eval_dtype: Literal["float32", "float64"] = Field("float64", description="arithmetic of the scoring forward")
    search_dtype: Literal["float32", "float64"] | None = Field("float64", description=(
        "arithmetic of calibration and search: in float32 the searched strategies moved between CPUs "
        "(AMD EPYC and Intel Xeon chose differently on the same spec); float64 makes them the machine's no more"))


def searchable_layers(net: nn.Module, bits: int, keep_fp: list[str],
                      input_shape: tuple[int, ...] = (1, 3, 16, 16)) -> list[str]:
    """The conv layers uniform PTQ quantizes at ``bits`` (executed on an ``input_shape`` input,
    not ``keep_fp``)."""
    cfg = QuantConfig(weight=TensorQuant(bits=bits), activation=TensorQuant(bits=bits), keep_fp=keep_fp)
    _, plan = quantize_model(copy.deepcopy(net), cfg, make_quantizer, input_shape=input_shape)
    return [n for n, p in plan.items() if p.weight is not None]


def make_composites(net: nn.Module, names: list[str], acts: list[str], weights: list[str],
                    bits: int) -> dict[str, CompositeQuantConv2d]:
    """Replace each named conv of ``net`` (in place) by a composite over the strategies."""
    modules, out = dict(net.named_modules()), {}
    for name in names:
        conv = modules[name]
        if not isinstance(conv, nn.Conv2d):
            raise QsrbenchError(f"dqss: {name} is a {type(conv).__name__}; only Conv2d layers are searched")
        layer = CompositeQuantConv2d(conv, [ACTIVATION[a](bits) for a in acts], [WEIGHT[w](bits) for w in weights])
        parent, _, child = name.rpartition(".")
        setattr(modules[parent] if parent else net, child, layer)
        out[name] = layer
    return out


class _Chosen(nn.Module):
    """A derived layer: ``conv(act_q(x), weight_q(W)) + b`` with the chosen strategies only."""

    def __init__(self, layer: CompositeQuantConv2d, act: int, weight: int):
        super().__init__()
        self.conv, self.act_q, self.weight_q = layer.conv, layer.act_quantizers[act], layer.weight_quantizers[weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv2d(self.act_q(x), self.weight_q(c.weight), c.bias, c.stride, c.padding, c.dilation, c.groups)


@torch.no_grad()
def calibrate_composites(fp: nn.Module, layers: dict[str, CompositeQuantConv2d], batches: list[torch.Tensor]) -> None:
    """Calibrate every activation candidate on the FP network's inputs to its layer: uniform
    ranges observed over all batches, LSQ steps initialised on the first (weight candidates' LSQ
    steps on the weight, here once, so that a checkpoint loaded later keeps its trained steps), PACT/PAMS clips set to
    the largest |input| (1 where a layer's calibration input is all zero, e.g. a channel-attention
    branch whose ReLU is dead on these patches: any positive step quantizes zeros exactly, and a
    zero step would divide by zero). Weight candidates take their ranges from the weight on each call."""
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in layers}
    modules = dict(fp.named_modules())
    hooks = [modules[n].register_forward_pre_hook(lambda m, args, n=n: seen[n].append(args[0].detach()))
             for n in layers]
    try:
        for x in batches:
            fp(x)
    finally:
        for h in hooks:
            h.remove()
    for name, layer in layers.items():
        top = max(float(x.abs().max()) for x in seen[name])
        for q in layer.act_quantizers:
            if isinstance(q, UniformQuantizer):
                q.observing = True
                for x in seen[name]:
                    q(x)
                q.freeze()
            elif isinstance(q, (PACTQuantizer, PAMSQuantizer)):
                q.alpha.fill_(top if top > 0 else 1.0)
            else:
                q(seen[name][0])  # LSQ: the step from the first batch
                if float(q.step) <= 0:  # an all-zero input (e.g. a dead attention branch): any step quantizes it
                    q.step.fill_(1.0)
        for q in layer.weight_quantizers:  # LSQ weight steps start now, not at a resumed run's first call
            q(layer.conv.weight)


def search_strategies(qnet: nn.Module, fp: nn.Module, layers: dict[str, CompositeQuantConv2d],
                      batches: list[torch.Tensor], steps: int, lr: float, train_quantizers: bool,
                      scale_to_pixels: float = 1.0) -> dict:
    """Adam on α and β (and the quantizers' parameters when asked) against L1 to the FP output
    (times ``scale_to_pixels``: 255 / the network's input range, so the loss is in pixel units)."""
    arch = [p for layer in layers.values() for p in (layer.alpha, layer.beta)]
    quant = [p for layer in layers.values() for q in (*layer.act_quantizers, *layer.weight_quantizers)
             for p in q.parameters()]
    for p in qnet.parameters():
        p.requires_grad_(False)
    for p in arch + (quant if train_quantizers else []):
        p.requires_grad_(True)
    opt = torch.optim.Adam(arch + (quant if train_quantizers else []), lr=lr)
    with torch.no_grad():
        targets = [fp(x) for x in batches]
    losses = []
    for t in range(steps):
        x, y = batches[t % len(batches)], targets[t % len(batches)]
        loss = F.l1_loss(qnet(x), y) * scale_to_pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {"steps": steps, "first_l1": losses[0], "last_l1": losses[-1]}


def derive(qnet: nn.Module, layers: dict[str, CompositeQuantConv2d], acts: list[str],
           weights: list[str]) -> dict[str, dict]:
    """Replace each composite (in place) by its argmax pair; returns the choices per layer."""
    modules, out = dict(qnet.named_modules()), {}
    for name, layer in layers.items():
        i, j = layer.choice()
        alpha, beta = layer.probs()
        out[name] = {"activation": acts[i], "weight": weights[j],
                     "alpha": [round(float(p), 4) for p in alpha.detach()],
                     "beta": [round(float(p), 4) for p in beta.detach()]}
        parent, _, child = name.rpartition(".")
        setattr(modules[parent] if parent else qnet, child, _Chosen(layer, i, j))
    return out


def strategies_for(m: StrategyParams, variant: str) -> tuple[list[str], list[str]]:
    """The candidate (activation, weight) strategies of a job: every listed one for ``"search"``,
    the pair of a ``"fixed <activation>/<weight>"`` baseline."""
    if variant == "search":
        return list(m.activation_strategies), list(m.weight_strategies)
    a, w = variant.removeprefix("fixed ").split("/")
    return [a], [w]


def variant_names(m: StrategyParams) -> list[str]:
    return ["search"] + [f"fixed {a}/{w}" for a, w in m.baselines]


def strategy_problems(spec) -> list[tuple[str, str]]:
    """One shared bit-width, and every listed strategy able to quantize at it."""
    b, m = spec.bits, spec.method
    if b.weight != b.activation:
        return [("bits", f"{m.name} searches strategies at one shared bit-width; got W{b.weight}A{b.activation}")]
    problems = []
    for where, table, names in (("method.activation_strategies", ACTIVATION, m.activation_strategies),
                                ("method.weight_strategies", WEIGHT, m.weight_strategies)):
        for name in names:
            try:
                table[name](b.weight)
            except (QsrbenchError, ValueError) as exc:  # check_bits: a ValueError naming the bits
                problems.append((where, f"{name}: {exc}"))
    return problems


def calib_set_problems(spec) -> list[tuple[str, str]]:
    """A pretrained SR model's checks: its weights given, the calibration set a registered
    training set."""
    if spec.model is not None and not spec.model.weights:
        return [("model.weights", f"{spec.method.name} quantizes a pretrained model: give its weights")]
    try:
        role = getattr(datasets.get(spec.method.calib_set), "role", "test")
    except QsrbenchError as exc:
        return [("method.calib_set", str(exc))]
    if role != "train":
        return [("method.calib_set", f"{spec.method.calib_set} is a {role} set; calibrate on a training set "
                 "(T91, BSD200)")]
    return []


def strategy_summary(facts: dict) -> dict:
    """A job's ``extra.strategies``: its facts and how often each chosen pair occurs."""
    picked = [(c["activation"], c["weight"]) for c in facts["layers"].values()]
    return {**facts, "counts": {f"{a}/{w}": picked.count((a, w)) for a, w in sorted(set(picked))}}


@register_method
class DQSS(SRMethod):
    name = "dqss"
    Params = DQSSParams
    citation = "Li, Yan, Chen, DQSS (arXiv 2404.08010)"

    def __init__(self) -> None:
        super().__init__()
        self.facts: dict[tuple, dict] = {}

    @classmethod
    def check_spec(cls, spec):
        return super().check_spec(spec) + calib_set_problems(spec) + strategy_problems(spec)

    @classmethod
    def data_sets(cls, spec):
        return [*spec.datasets, spec.method.calib_set]

    def variants(self, spec):
        return variant_names(spec.method)

    def _calibration_batches(self, spec, scale, ctx) -> list[torch.Tensor]:
        # the PTQ baseline's calibration patches (same set, images, patch size and seed): one code path
        return PTQ._calibration_batches(self, spec, scale, ctx)

    def build(self, spec, scale, ctx, variant=None):
        m, bits = spec.method, spec.bits.weight
        input_range = models.get(spec.model.name).input_range
        dtype = getattr(torch, m.search_dtype)
        fp = pretrained(spec, scale, ctx).to(ctx.device).eval()
        names = searchable_layers(fp, bits, m.keep_fp)
        acts, weights = strategies_for(m, variant)
        qnet = copy.deepcopy(fp)
        layers = make_composites(qnet, names, acts, weights, bits)
        fp, qnet = fp.to(dtype), qnet.to(dtype)  # the quantizers' parameters and buffers too
        batches = [(x * input_range / 255).to(ctx.device, dtype) for x in self._calibration_batches(spec, scale, ctx)]
        calibrate_composites(fp, layers, batches)
        facts = {}
        if variant == "search":
            t0 = time.perf_counter()
            facts = search_strategies(qnet, fp, layers, batches, m.search_steps, m.search_lr, m.train_quantizers,
                                      255 / input_range)
            facts["search_s"] = time.perf_counter() - t0
        choices = derive(qnet, layers, acts, weights)
        self.facts[(scale, variant)] = {"variant": variant, "layers": choices, **facts}
        model = RangeAdapter(qnet.eval(), input_range)
        return Float64Eval(model) if m.eval_dtype == "float64" else model.float()

    def layer_costs(self, spec, scale, variant, lr_size=REFERENCE_LR):
        """The searched layers at the shared bits, ``keep_fp`` and unexecuted layers at 32/32."""
        bits = spec.bits.weight
        names = set(searchable_layers(create_model(spec.model.name, scale), bits, spec.method.keep_fp))
        return model_layer_costs(spec, scale, lambda n, mod: (bits, bits) if n in names else (32, 32), lr_size)

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        result.extra["strategies"] = strategy_summary(self.facts[(job.scale, job.variant)])
        return result
