"""Whole-model latency of W8A8 integer execution against fp32, side by side (issue 16).

``test_int8_model_latency[<model>-<reference>]`` times, alternately in every round, one forward of
a 320x180 LR image (``1 x 3 x 180 x 320``, the BitOps reference size) through

* ``int8 (harness)``: the model after uniform PTQ (W8A8, per-channel weights, per-tensor
  asymmetric activations, first and last layers FP; :mod:`reference.ptq`'s configuration) with
  every quantized convolution replaced by :class:`qsrbench.kernels.integer_model.IntegerConv2d`
  (activation codes, im2col and ``torch._int_mm`` int8 x int8 -> int32, float32 rescale): the
  harness's integer execution as it stands, without a fused requantizing epilogue (each integer
  layer quantizes its float input and returns float32);
* the reference: the FP model in float32, either eager (``fp32 eager``, NCHW, oneDNN) or after
  ``torch.compile`` (``fp32 compiled``, inductor's default mode; compiled and warmed up outside
  the timing).

The weights are random (``torch.manual_seed(0)``) and the activation ranges calibrated on one
random image: latency does not depend on the values, and the suite needs no data root. Each
round times ``CALLS`` forwards of each after a warm-up forward, under ``torch.no_grad``, with
freed memory kept in malloc's heap (:func:`qsrbench.kernels.cpu_timing.keep_freed_memory`).

Goals (issue 16, on this CPU): a whole IMDN x4 and PAN x4 forward >= 5x faster than fp32 eager
(time ratio <= 0.2) and >= 2x faster than fp32 compiled (<= 0.5). Asserted (not timed): the
integer model's output is within one 8-bit step (1/255 of the network's pixel range) of the
fake-quant model it came from, on the timed input.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest
import torch

from qsrbench.bitops import layer_costs, total_bitops
from qsrbench.kernels.code_chain import chain_codes
from qsrbench.kernels.integer_model import IntegerConv2d, integerize
from qsrbench.models import create_model
from qsrbench.quant.convert import quantize_model
from qsrbench.quant.modules import calibrate, make_quantizer
from qsrbench.registry import methods, models
from qsrbench.spec import load_spec
from qsrbench.kernels.cpu_timing import keep_freed_memory

from .conftest import timing_record_only


LR, CALLS, ROUNDS = (1, 3, 180, 320), 2, 6
SUBJECT = "int8 (harness)"
GOALS = {"fp32 eager": 0.2, "fp32 compiled": 0.5}
CASES = [(m, ref) for m in ("imdn", "pan") for ref in GOALS]


SPECS = Path(__file__).parent / "specs" / "int"  # a W8A8 ptq-int spec per shipped checkpoint (+ others)
# backend -> (spec folder, weight / activation bits) of the specs that score it on the real checkpoint
CHAINED = "int8 (harness, joined on codes)"  # reference.ptq_int_chain's construction
INT4 = "int4 (harness)"  # W4A4: weights packed two per byte, computed on the same int8 kernel
SCORING = {"fp32 eager": ("fp", (32, 32)), "bf16 eager": ("bf16", (16, 16)), "int8 torchao": ("torchao", (8, 8)),
           CHAINED: ("int-chain", (8, 8)), INT4: ("int", (4, 4))}
BOARD_ROUNDS = 3


def _w8a8_specs() -> list:
    """The W8A8 ptq-int specs, in file order: the timed configuration. Specs at other bit-widths
    in the same folder (e.g. IMDN x4 W4A4) are scored by the store, not timed here."""
    specs = [load_spec(p) for p in sorted(SPECS.glob("*.toml"))]
    return [s for s in specs if (s.bits.weight, s.bits.activation) == (8, 8)]


def _shipped() -> list[tuple[str, int]]:
    """(model, scale) of every shipped checkpoint: the models of the W8A8 ptq-int specs, at the
    spec's largest scale (CARN-M's one checkpoint serves x2-x4; it is timed at x4)."""
    return sorted({(s.model.name, max(s.scales)) for s in _w8a8_specs()})


def _ptq(name: str, scale: int):
    """(PTQ method, spec, variant) of the shipped W8A8 ptq-int spec for ``name`` x``scale``: the
    quantization configuration and the BitOps rule come from :mod:`reference.ptq` itself."""
    for spec in _w8a8_specs():
        if spec.model.name == name and scale in spec.scales:
            method = methods.get(spec.method.name)()
            return method, spec, method.variants(spec)[0]
    raise LookupError(f"no W8A8 spec in {SPECS} for {name} x{scale}")


def _models(name: str, scale: int = 4, bits: int = 8):
    """(fp32 model, integer model, fake-quant model) of ``name`` x``scale``, random weights, quantized
    as the shipped W8A8 spec's method does at ``bits`` / ``bits``."""
    method, spec, variant = _ptq(name, scale)
    spec = _at_bits(spec, bits)
    torch.manual_seed(0)
    fp = create_model(name, scale).eval()
    fake, _ = quantize_model(copy.deepcopy(fp), method._config(spec, variant), make_quantizer)
    calibrate(fake, [torch.rand(LR, generator=torch.Generator().manual_seed(1)) * models.get(name).input_range])
    fake.eval()
    return fp, integerize(copy.deepcopy(fake)), fake


def _at_bits(spec, bits: int):
    """``spec`` with weights and activations at ``bits``."""
    return spec.model_copy(update={"bits": spec.bits.model_copy(update={"weight": bits, "activation": bits})})


def _bitops(name: str, scale: int) -> tuple[int, int, int, int]:
    """(MACs, fp32 BitOps, W8A8 BitOps, W4A4 BitOps) of one LR input of shape ``LR``: qsrbench.bitops
    for fp32, the PTQ method's own cost function for W8A8 and W4A4 (its quantized layers at 8/8 or
    4/4, keep_fp at 32/32)."""
    method, spec, variant = _ptq(name, scale)
    fp = layer_costs(create_model(name, scale), LR)
    w8, w4 = (method.layer_costs(_at_bits(spec, b), scale, variant, LR[-2:]) for b in (8, 4))
    return sum(c.macs for c in fp), total_bitops(fp), total_bitops(w8), total_bitops(w4)


def _what(name: str, ref: str) -> str:
    how = ("after torch.compile (inductor, default mode; compiled and warmed up outside the timing)"
           if ref == "fp32 compiled" else "eager (NCHW, oneDNN)")
    return (f"One forward of {name.upper()} x4 on a 1x3x180x320 LR input (a 320x180 image), alternated in each "
            f"round: `{SUBJECT}`, W8A8 PTQ with every quantized conv on the int8 kernel (im2col + torch._int_mm, "
            f"int32 accumulation, float32 rescale; first and last layers FP; no fused requantizing epilogue), "
            f"against `{ref}`, the FP model in float32 {how}. Each round: mean seconds per forward over "
            f"{CALLS} forwards after a warm-up forward; random weights (latency does not depend on them).")


@pytest.mark.parametrize("name,ref", CASES, ids=[f"{m}-{r.replace(' ', '-')}" for m, r in CASES])
def test_int8_model_latency(benchmark, name, ref):
    heap = keep_freed_memory()
    fp, ints, fake = _models(name)
    pixel = models.get(name).input_range / 255  # one 8-bit step in the network's pixel range
    x = torch.rand(LR, generator=torch.Generator().manual_seed(2)) * (255 * pixel)
    reference = torch.compile(fp) if ref == "fp32 compiled" else fp
    runs = {SUBJECT: lambda: ints(x), ref: lambda: reference(x)}
    times: dict[str, list[float]] = {k: [] for k in runs}

    def pair():
        for label, fn in runs.items():
            fn()  # warm-up
            t0 = time.perf_counter()
            for _ in range(CALLS):
                fn()
            times[label].append((time.perf_counter() - t0) / CALLS)

    with torch.no_grad():
        reference(x)  # compile (when compiled) outside the rounds
        benchmark.pedantic(pair, rounds=ROUNDS, iterations=1)
        diff = float((ints(x) - fake(x)).abs().max())
    layers = sum(isinstance(m, IntegerConv2d) for m in ints.modules())
    benchmark.extra_info.update({
        "board": "latency", "threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__, "shape": list(LR), "model": name, "integer_layers": layers,
        "compare": {"labels": [SUBJECT, ref], "seconds": dict(times), "what": _what(name, ref)},
        "goal": {"max_ratio": GOALS[ref], "source": "issue 16 goal",
                 "text": f"a whole {name.upper()} x4 int8 forward at least {1 / GOALS[ref]:g}x faster than {ref}"},
        "notes": [f"{layers} convolutions ran on integers; max |integer - fake quant| on the timed input "
                  f"{diff / pixel:.3f} 8-bit steps.",
                  "Memory: " + ("freed memory kept in malloc's heap (mallopt)." if heap else
                                "mallopt unavailable: fresh buffers pay their page faults.")],
        "heap_kept": heap})
    assert diff <= pixel


BF16_MAC_BITS = 16 * 16  # a bf16 multiply-accumulate counted at 16 x 16 bits (the counter's convention, MACs x bits x bits)
TORCHAO = "int8 torchao"  # reference.ptq_torchao's PT2E flow, compiled


def _board_backends(name: str, scale: int, fp, ints, costs: tuple[int, int, int, int]) -> dict[str, tuple]:
    """``{backend: (forward, BitOps)}`` of one shipped model for the latency page: fp32 eager and
    compiled, bf16 autocast eager, W8A8 on the harness's integer kernels (as they are, and joined on
    codes by :func:`~qsrbench.kernels.code_chain.chain_codes`), W4A4 on the same kernels (weights
    packed two per byte) and W8A8 by torchao's PT2E flow compiled (quantized as ``reference.ptq_torchao`` does; the same first / last layers FP;
    calibrated on one random image: latency does not depend on the ranges). Compilation and the
    torchao build happen here, outside the timing. ``costs``: :func:`_bitops` of the model. The
    bf16 backend is :class:`reference.fp_bf16.Autocast`, the construction the fp-bf16 specs score."""
    from reference.fp_bf16 import Autocast
    from reference.ptq_torchao import PTQTorchao, torchao_int8

    macs, bitops_fp, bitops_w8, bitops_w4 = costs
    _, spec, _ = _ptq(name, scale)
    calib = [torch.rand(LR, generator=torch.Generator().manual_seed(1)) * models.get(name).input_range]
    out = {"fp32 eager": (fp, bitops_fp), "fp32 compiled": (torch.compile(fp), bitops_fp),
           "bf16 eager": (Autocast(fp), macs * BF16_MAC_BITS), SUBJECT: (ints, bitops_w8),
           CHAINED: _joined(ints, bitops_w8), INT4: (_models(name, scale, 4)[1], bitops_w4)}
    try:
        out[TORCHAO] = (torchao_int8(fp, calib, PTQTorchao().fp_layers(spec, scale))[0], bitops_w8)
    except Exception as exc:  # an architecture torch.export or the quantizer cannot take: its row is left out, with why
        out[TORCHAO] = (None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
    return out


def _joined(ints, bitops: int) -> tuple:
    """(forward, BitOps) of ``ints`` joined on codes, or (None, why) where nothing joins (a model
    fx cannot trace, or one without a joinable pair: it would time the plain int8 model again) or
    the joining fails: that row is then listed as not timed, with the reason."""
    try:
        chained, joins = chain_codes(copy.deepcopy(ints))
    except Exception as exc:  # noqa: BLE001 - any failure leaves the row out, with why
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    real = [j for j in joins if not j.startswith("not chained")]
    return (chained, bitops) if real else (None, joins[0] if joins else "no pair of integer layers joins")


def _scored_by(name: str, scale: int) -> dict[str, str | None]:
    """``{backend: spec name or None}``: the small-tier spec whose Set5 record scores the shipped
    checkpoint of ``name`` x``scale`` built as the backend is (the ptq-int W8A8 spec for the
    harness's int8; an fp, fp-bf16 or ptq-torchao spec of the same checkpoint from the folders of
    ``SCORING``); None where no spec scores it (fp32 compiled)."""
    _, ptq, _ = _ptq(name, scale)
    out = {backend: None for backend in ("fp32 compiled", *SCORING)} | {SUBJECT: ptq.name}
    for backend, (folder, bits) in SCORING.items():
        for path in sorted((SPECS.parent / folder).glob("*.toml")):
            s = load_spec(path)
            if (s.tier == "small" and s.model is not None and s.model.name == name and scale in s.scales
                    and s.model.weights == ptq.model.weights and "Set5" in s.datasets
                    and (s.bits.weight, s.bits.activation) == bits):
                out[backend] = s.name
                break
    return out


def test_every_timed_checkpoint_names_its_scoring_specs():
    """The latency page reads each row's Set5 PSNR from the spec the row names: for every shipped
    checkpoint, fp32 eager, bf16 eager and the harness's int8 are scored by a spec of that very
    checkpoint and scale that runs the backend's construction (method fp, fp-bf16, ptq-int at
    W8A8); torchao's int8 wherever a ptq-torchao spec exists (IMDN and PAN x4), the joined int8
    wherever a ptq-int-chain spec exists at the timed scale (IMDN, PAN, RFDN x4; A2N, LatticeNet x2), the harness's
    int4 where a W4A4 ptq-int spec of the checkpoint does (IMDN x4; that spec calibrates by MSE where the timed
    build uses the W8A8 spec's calibration at 4 bits: the same layers and bits, other ranges, which latency does not
    depend on)."""
    methods_of = {"fp32 eager": ("fp", 32), "bf16 eager": ("fp-bf16", 16), SUBJECT: ("ptq-int", 8),
                  TORCHAO: ("ptq-torchao", 8), CHAINED: ("ptq-int-chain", 8), INT4: ("ptq-int", 4)}
    specs = {s.name: s for folder in ("fp", "bf16", "int", "torchao", "int-chain")
             for s in map(load_spec, sorted((SPECS.parent / folder).glob("*.toml")))}
    optional = {TORCHAO: [], CHAINED: [], INT4: []}
    for name, scale in _shipped():
        named = _scored_by(name, scale)
        assert named["fp32 compiled"] is None
        for backend, spec in named.items():
            if spec is None:
                assert backend == "fp32 compiled" or backend in optional, (name, backend)
                continue
            s, (method, bits) = specs[spec], methods_of[backend]
            assert (s.method.name, s.model.name, s.bits.weight, s.bits.activation) == (method, name, bits, bits)
            assert scale in s.scales and "Set5" in s.datasets
        for backend, found in optional.items():
            found += [(name, scale)] if named[backend] else []
    assert optional == {TORCHAO: [("imdn", 4), ("pan", 4)],
                        CHAINED: [("a2n", 2), ("imdn", 4), ("latticenet", 2), ("pan", 4), ("rfdn", 4)],
                        INT4: [("imdn", 4)]}


def test_latency_against_bitops(benchmark, request):
    """Every shipped architecture at its shipped scale on every backend of :func:`_board_backends`:
    the median forward of one 320x180 LR image per backend beside the model's BitOps, for the latency
    page's table and rank correlation. A timing record, run alone:
    ``pytest suites/test_model_latency.py --benchmark-only``."""
    timing_record_only(request, "the latency page")
    heap = keep_freed_memory()
    rows, runs, skipped = [], {}, []
    x = torch.rand(LR, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for name, scale in _shipped():
            fp, ints, _ = _models(name, scale)
            costs = _bitops(name, scale)
            xin = x * models.get(name).input_range
            scored_by = _scored_by(name, scale)
            for backend, (fn, bitops) in _board_backends(name, scale, fp, ints, costs).items():
                if fn is None:
                    skipped.append({"model": name, "scale": scale, "backend": backend, "reason": bitops})
                    continue
                fn(xin)  # compiled graphs meet this input's guards here, outside the timing
                runs[(name, scale, backend)] = (fn, xin)
                rows.append({"model": name, "scale": scale, "backend": backend, "macs": costs[0], "bitops": bitops,
                             "seconds": [], "scored_by": scored_by.get(backend)})

    def sweep():
        for row in rows:
            fn, xin = runs[(row["model"], row["scale"], row["backend"])]
            fn(xin)  # warm-up
            t0 = time.perf_counter()
            fn(xin)
            row["seconds"].append(time.perf_counter() - t0)

    with torch.no_grad():
        benchmark.pedantic(sweep, rounds=BOARD_ROUNDS, iterations=1)
    benchmark.extra_info.update({
        "board": "latency", "threads": torch.get_num_threads(), "torch": torch.__version__, "shape": list(LR),
        "heap_kept": heap,
        "latency_table": {"rows": rows, "skipped": skipped, "what": (
            f"One forward of a 1x3x180x320 LR input (a 320x180 image) through every shipped architecture at "
            f"its shipped scale on each backend: fp32 eager (NCHW, oneDNN); fp32 compiled (torch.compile, "
            f"inductor's default mode); bf16 eager (CPU autocast to bfloat16); `{SUBJECT}` (W8A8 PTQ on the "
            f"harness's integer kernels, first and last layers FP); `{CHAINED}` (the same, with every integer conv "
            f"whose output only the next one reads writing that one's uint8 codes from its int32 accumulator: "
            f"qsrbench.kernels.code_chain); `{INT4}` (W4A4 PTQ on the same kernels, weights packed two per byte "
            f"and unpacked per forward); `{TORCHAO}` (W8A8 by torchao's PT2E flow "
            f"with the X86InductorQuantizer, compiled by inductor to oneDNN int8, the same layers FP). One timed "
            f"forward after a warm-up per model and backend in each of {BOARD_ROUNDS} rounds over all models; "
            "compilation and quantization before the rounds; random weights. BitOps: qsrbench.bitops of the same "
            "input (MACs x weight bits x activation bits; FP layers at 32 x 32, bf16 at 16 x 16).")}})
