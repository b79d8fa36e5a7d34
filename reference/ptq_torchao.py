"""CPU int8 execution by the ecosystem's own stack: torchao's PT2E quantization with the
``X86InductorQuantizer`` and ``torch.compile`` (inductor lowers the quantized graph to oneDNN int8
convolutions), scored beside the quantized graph's own eager simulation (issue 16, item 2).

The flow (torchao's documented PT2E recipe; torchao ``quantization/pt2e``):

1. the shipped FP model behind the harness's [0, 255] interface (:class:`~qsrbench.models.RangeAdapter`)
   is exported with ``torch.export`` with dynamic height and width (one graph for every image size);
2. ``prepare_pt2e`` with ``X86InductorQuantizer`` and its default configuration — **torchao's
   quantizers, not the harness's**: int8 weights symmetric per output channel (min-max), uint8
   activations affine per tensor from a histogram observer — except the layers the spec's
   ``keep_fp`` names (default: first and last, resolved as :mod:`reference.ptq` resolves them),
   which get no quantization config;
3. calibration on the LR patches :mod:`reference.ptq` uses (``calib_set``, ``calib_images``,
   ``calib_patch``; same seed), then ``convert_pt2e``: a graph of quantize / dequantize ops around
   float convolutions, i.e. a fake-quant simulation of the int8 network, run eagerly;
4. ``torch.compile`` (inductor, ``dynamic=True``) of that graph, compiled and warmed up in the
   build (:data:`WARM_UP_SIDES`), so that the scored forwards do not pay for compilation (an image
   size beyond the guards met in the warm-up still recompiles once: the record's forward time
   may include that): the int8 execution this method scores.

Each job scores the compiled model (the record's metrics) and the eager simulation on the same
images and records ``extra.integer_execution`` in the keys :mod:`reference.ptq_int` writes (the
latency page's integer-execution table): the simulation's PSNR, the paired per-image difference
with its bootstrap interval, the largest output difference in 8-bit output steps and the share
above one step, the number of convolutions torchao quantized, and ``backend``. The float64
floors ``ptq-int`` records do not apply (the quantized graph runs in float32 only) and are None.

The comparison with the harness's own W8A8 PTQ (``ptq-<model>-w8a8``) is across calibrations
(torchao's histogram observer against min-max / percentile / MSE ranges): both are on the PTQ
and latency pages. Specs: ``suites/specs/torchao/``. Needs torchao (the test extra installs it,
pinned in ``constraints.txt``).

Reference: torchao, "PyTorch 2 Export Quantization with X86 Backend through Inductor"
(pytorch/ao, ``torchao/quantization/pt2e/quantizer/x86_inductor_quantizer.py``).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from qsrbench.errors import QsrbenchError
from qsrbench.evaluate import evaluate_sr, prepare_pair
from qsrbench.models import RangeAdapter, create_model
from qsrbench.quant.convert import quantize_model
from qsrbench.quant.modules import make_quantizer
from qsrbench.registry import models, register_method
from qsrbench.stats import paired_bootstrap

from .fp import pretrained
from .ptq import PTQ, PTQParams
from .ptq_int import GOAL_DB

# Compiled and warmed up in the build, not in the first scored forwards, and as the evaluation
# calls it (dynamo guards on each): in eval mode (a later .eval() that flips the flag recompiles),
# under inference_mode on normal tensors (evaluate_sr's way; an inference tensor, or no_grad
# instead, changes the input's dispatch keys), on non-square
# inputs (a square one makes the graph assume height == width), at LR sizes on both sides of the
# size thresholds inductor's conv lowering guards on here (H·W = 4096, 3·H·W = 20480).
WARM_UP_SIDES = (48, 72, 128)
BACKEND = "torchao PT2E + inductor"  # X86InductorQuantizer, torch.compile: oneDNN int8 convolutions


class PTQTorchaoParams(PTQParams):
    name: Literal["ptq-torchao"] = Field(description="int8 PTQ by torchao's X86InductorQuantizer, run compiled")
    granularity: list[Literal["per-channel"]] = Field(["per-channel"], description=(
        "torchao's X86 weights: symmetric int8 per output channel (the only choice)"))
    calibration: list[Literal["histogram"]] = Field(["histogram"], description=(
        "torchao's X86 activations: per-tensor affine uint8 from a histogram observer (the only choice)"))
    eval_dtype: Literal["float32"] = Field("float32", description="the int8 graph runs in float32")
    noise_repeats: Literal[0] = Field(0, description="not used")
    compile: bool = Field(True, description=(
        "score the torch.compile'd int8 graph (false: score the eager quantize/dequantize graph)"))


def _torchao():
    try:
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError as exc:
        raise QsrbenchError(f"ptq-torchao needs torchao ({exc}); pip install 'qsrbench[torchao]'") from None
    return prepare_pt2e, convert_pt2e, xiq, allow_exported_model_train_eval


@register_method
class PTQTorchao(PTQ):
    name = "ptq-torchao"
    Params = PTQTorchaoParams
    citation = "torchao PT2E int8 PTQ with the X86InductorQuantizer, run by torch.compile"

    def __init__(self) -> None:
        super().__init__()
        self._simulation: dict[tuple, torch.nn.Module] = {}

    @classmethod
    def check_spec(cls, spec):
        problems = super().check_spec(spec)
        if (spec.bits.weight, spec.bits.activation) != (8, 8):
            problems.append(("bits", "torchao's X86InductorQuantizer quantizes to int8 only: bits 8/8"))
        return problems

    def fp_layers(self, spec, scale) -> list[str]:
        """The ``keep_fp`` layers as :mod:`reference.ptq` resolves them ("first"/"last" in execution order)."""
        _, plan = quantize_model(create_model(spec.model.name, scale), self._config(spec, "per-channel, minmax"),
                                 make_quantizer)
        return [name for name, p in plan.items() if p.weight is None]

    def build(self, spec, scale, ctx, variant=None):
        net = RangeAdapter(pretrained(spec, scale, ctx), models.get(spec.model.name).input_range).eval()
        compiled, simulation = torchao_int8(net, self._calibration_batches(spec, scale, ctx),
                                            [f"net.{name}" for name in self.fp_layers(spec, scale)],
                                            compile=spec.method.compile)
        self._simulation = {(scale, variant): simulation}
        return compiled

    def run_job(self, spec, job, ctx):
        result = super().run_job(spec, job, ctx)
        model = self.model_for(spec, job.scale, ctx, job.variant)
        simulation = self._simulation[(job.scale, job.variant)]
        data = ctx.dataset(job.dataset, spec.scales, spec.budget.max_images)
        ref = evaluate_sr(simulation, data, job.scale, spec.protocol, device=ctx.device, ssim=False)
        mine = {p["name"]: p["psnr"] for p in result.per_image}
        theirs = {s.name: s.psnr for s in ref.per_image}
        names = sorted(mine)
        delta = paired_bootstrap([mine[n] for n in names], [theirs[n] for n in names])
        weights = sum("dequantize_per_channel" in str(n.target) for n in simulation.graph.graph.nodes)
        result.extra["integer_execution"] = {
            "backend": BACKEND if spec.method.compile else "torchao PT2E, eager",
            "fake_psnr": ref.psnr,
            "delta_db": {"estimate": delta.estimate, "low": delta.low, "high": delta.high,
                         "n": delta.n, "level": delta.level},
            **_steps(model, simulation, data, job.scale, spec.protocol, ctx.device),
            "fake_float32_vs_float64_steps": None, "integer_vs_float64_steps": None,
            "layers_integer": weights, "layers_fake": {},
            "fake_forward_s": ref.forward_s, "goal_db": GOAL_DB,
        }
        return result


def torchao_int8(net: torch.nn.Module, batches: list[torch.Tensor], keep_fp: list[str], *,
                 compile: bool = True) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``(run model, eager simulation)`` of the eval-mode ``net`` quantized by the flow of the module
    docstring: exported with dynamic height and width on ``batches[0]``, prepared with the default
    ``X86InductorQuantizer`` configuration except the modules named in ``keep_fp`` (names within
    ``net``), calibrated on ``batches``, converted; the run model is the simulation compiled and
    warmed up (:data:`WARM_UP_SIDES`), or the simulation itself when not ``compile``."""
    prepare_pt2e, convert_pt2e, xiq, allow_eval = _torchao()
    dims = ({2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},)
    graph = torch.export.export(net, (batches[0],), dynamic_shapes=dims).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    for name in keep_fp:
        quantizer.set_module_name_qconfig(name, None)
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for x in batches:
            prepared(x)
    graph = convert_pt2e(prepared)
    allow_eval(graph)  # in place: .eval() / .train() become no-ops (no dropout or BN to switch here)
    simulation = _Graph(graph)
    if not compile:
        return simulation, simulation
    compiled = torch.compile(simulation, dynamic=True).eval()
    inputs = [batches[0].new_zeros(1, 3, side, side - 1) for side in WARM_UP_SIDES]  # normal tensors
    with torch.inference_mode():
        for x in inputs:
            compiled(x)
    return compiled, simulation


class _Graph(torch.nn.Module):
    """An exported graph behind a plain module, whose ``.eval()`` returns the module as the harness expects."""

    def __init__(self, graph: torch.nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x)


def _steps(model, simulation, data, scale, protocol, device) -> dict[str, float]:
    """Largest |compiled - simulation| output over every pixel, in 8-bit steps (the [0, 255]
    interface: one step = 1), and the share of outputs more than one step apart."""
    worst, over, total = 0.0, 0, 0
    for img in data.images:
        _, lr, _ = prepare_pair(img, scale, protocol)
        x = lr[None].to(device)  # a normal tensor, run under inference_mode: evaluate_sr's way
        with torch.inference_mode():
            d = (model(x) - simulation(x)).abs()
        worst, over, total = max(worst, float(d.max())), over + int((d > 1.0).sum()), total + d.numel()
    return {"max_output_steps": worst, "fraction_over_one_step": over / total}
