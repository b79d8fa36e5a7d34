"""The integer-execution section of an SR leaderboard page: for every result whose model ran its
quantized layers on integer kernels (records with ``extra["integer_execution"]``, written by the
method that executes them), the PSNR beside the fake-quant simulation of the same calibrated model
in the same job, the paired per-image difference with its bootstrap interval, the largest output
difference in 8-bit steps (the harness's [0, 255] range: one step = 1) and the layers that ran on
integers or stayed fake-quant (with why), beside the fake-quant model's own float32-vs-float64
difference (the rounding floor of the per-pixel bound).

Goals (issue 16), judged separately: within ``goal_db`` (0.01 dB) PSNR of the simulation (met
when the whole interval of the difference lies within ±goal, not met when it lies outside, else
not decided), and within one output step per pixel (met or not; a miss is marked "at the f32
floor" when the fake-quant model in float32 is itself more than a step from its float64 self).
"""

from __future__ import annotations

from .leaderboard import table
from .stats import LEVEL
from .store import Record

__all__ = ["integer_section", "psnr_verdict", "pixel_verdict"]

HARNESS = "harness kernels"  # records without a "backend": qsrbench.kernels (reference/ptq_int.py)


def psnr_verdict(info: dict) -> str:
    """``"met"``, ``"not met"`` or ``"not decided"``: the PSNR difference's interval against ±goal."""
    d, goal = info["delta_db"], float(info["goal_db"])
    if d["low"] > goal or d["high"] < -goal:
        return "not met"
    return "met" if -goal <= d["low"] and d["high"] <= goal else "not decided"


def pixel_verdict(info: dict) -> str:
    """``"met"`` when no output is more than one 8-bit step from the simulation, else ``"not met"``,
    saying when the simulation's own float32-vs-float64 difference is as large (the floor)."""
    if info["max_output_steps"] <= 1.0:
        return "met"
    floor = info.get("fake_float32_vs_float64_steps")
    return "not met (at the f32 floor)" if floor is not None and floor > 1.0 else "not met"


def _left_fake(fake: dict[str, str]) -> str:
    """``layers left fake-quant`` grouped by reason: count, reason, first name."""
    by_why: dict[str, list[str]] = {}
    for name, why in fake.items():
        by_why.setdefault(why, []).append(name)
    return "; ".join(f"{len(ns)} x {why} (e.g. {ns[0]})" for why, ns in by_why.items()) or "—"


def _steps(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def _layers(info: dict) -> str:
    """``integer / quantized``, and how many integer layers hand the next one codes, if recorded."""
    out = f"{info['layers_integer']} / {info['layers_integer'] + len(info['layers_fake'])}"
    joins = info.get("code_joins")
    if joins is None:
        return out
    joined = [j for j in joins if not j.startswith("not chained")]
    return f"{out} ({len(joined)} emit the next layer's codes)" if joined else f"{out} (none joined on codes)"


def _kib(n) -> str:
    return "—" if n is None else f"{n / 1024:.1f}"


def _row(r: Record) -> list[str]:
    info, d = r.extra["integer_execution"], r.extra["integer_execution"]["delta_db"]
    fake = info["layers_fake"]
    return [r.model or "—", f"{r.spec} v{r.spec_version}", info.get("backend", HARNESS),
            f"{r.bits.get('weight')}/{r.bits.get('activation')}",
            f"{r.dataset} ×{r.scale}", f"{r.metrics['psnr']:.4f}", f"{info['fake_psnr']:.4f}",
            f"{d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]", f"{info['max_output_steps']:.2f} ({info['fraction_over_one_step']:.2%} > 1)",
            _steps(info["fake_float32_vs_float64_steps"]), _steps(info["integer_vs_float64_steps"]),
            _layers(info), _kib(info.get("weight_bytes")), _left_fake(fake), psnr_verdict(info), pixel_verdict(info)]


def integer_section(records: list[Record]) -> list[str]:
    """Markdown lines of the section (empty when no record of ``records`` ran on integers)."""
    rows = [r for r in records if "integer_execution" in r.extra]
    if not rows:
        return []
    rows.sort(key=lambda r: (r.model or "", r.scale or 0, r.dataset, r.spec))
    goal = float(rows[0].extra["integer_execution"]["goal_db"])
    headers = ["Model", "Spec", "Backend", "W/A bits", "Set", "PSNR integer", "PSNR fake quant",
               f"Δ dB [{LEVEL:.0%} CI]", "max |Δ| steps (share > 1)", "fake f32 vs f64", "integer vs f64", "Layers on integers",
               "Integer weights (KiB)", "Left fake-quant",
               f"|Δ| ≤ {goal:g} dB", "≤ 1 step per pixel"]
    infos = [r.extra["integer_execution"] for r in rows]
    psnr_met = sum(psnr_verdict(i) == "met" for i in infos)
    pixel_met = sum(pixel_verdict(i) == "met" for i in infos)
    floor = sum(pixel_verdict(i) == "not met (at the f32 floor)" for i in infos)
    return ["## Integer execution vs fake quantization", "",
            "The same calibrated model scored twice in one job: its quantized convolutions on integer "
            f"kernels and as the fake-quant simulation. Backend *{HARNESS}*: the harness's "
            "(int8 x int8 -> int32, one float32 rounding per output; the FP layers and everything "
            "between the convolutions as the model has it); *harness kernels, joined on codes*: the "
            "same, but where a convolution's output feeds only the next one (directly, through a "
            "ReLU / LeakyReLU / PReLU or a pixel shuffle, summed with a residual, or as a part of a "
            "concatenation only the next one reads) its fused epilogue writes the next layer's uint8 codes from the "
            "int32 accumulator (float64, `qsrbench.kernels.code_chain`), no float tensor between them; *torchao PT2E + inductor*: torchao's "
            "X86InductorQuantizer (its own observers) compiled by torch.compile to oneDNN int8 "
            "convolutions, against the same quantized graph run eagerly (quantize / dequantize ops "
            "around float convolutions; no float64 floors: that graph runs in float32 only). "
            "Integer weights: the bytes the integer layers hold their weight codes in (int8; two per "
            "byte at 4 bits or fewer; —: not counted, i.e. torchao's records and those made before it was). "
            "Δ: integer minus fake, paired over images; max |Δ|: the largest output "
            "difference over every pixel of every image, in 8-bit steps, with the share of outputs "
            "more than one step away; fake f32 vs f64: the same maximum between the fake-quant model "
            "in float32 and in float64, the floor any reordering of float32 sums meets (a value "
            "within float32 rounding of a quantizer's boundary lands one code away, and the flip "
            "propagates); integer vs f64: the integer model against the float64 simulation.", "",
            table([_row(r) for r in rows], headers), "",
            f"Goals (issue 16): |Δ| ≤ {goal:g} dB met by {psnr_met} of {len(rows)} results (met: the whole "
            f"interval within ±{goal:g} dB); at most one step per pixel met by {pixel_met} of {len(rows)}, "
            f"and {floor} of the others miss it where the float32 simulation itself is more than one step "
            "from its float64 self: for these networks the per-pixel bound is below float32's rounding "
            "floor, a few steps on a few % of outputs being what any reordering of the sums shows; the "
            "PSNR bound and the per-layer bit-exactness tests are the checks that matter.", ""]
