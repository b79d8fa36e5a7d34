"""The integer-execution section of an SR leaderboard page: for every result whose model ran its
quantized layers on integer kernels (records with ``extra["integer_execution"]``, written by the
method that executes them), the PSNR beside the fake-quant simulation of the same calibrated model
in the same job, the paired per-image difference with its bootstrap interval, the largest output
difference in 8-bit steps (the harness's [0, 255] range: one step = 1) and the layers that ran on
integers or stayed fake-quant (with why), beside the fake-quant model's own float32-vs-float64
difference (the rounding floor of the per-pixel bound).

Goal (issue 16): integer execution within one output step per pixel and within ``goal_db``
(0.01 dB) PSNR of the simulation. Met when the whole interval of the difference lies within
±goal and no pixel is more than one step away; not met when the interval lies outside ±goal or a
pixel is further; otherwise not decided.
"""

from __future__ import annotations

from .leaderboard import table
from .stats import LEVEL
from .store import Record

__all__ = ["integer_section", "integer_verdict"]


def integer_verdict(info: dict) -> str:
    """``"met"``, ``"not met"`` or ``"not decided"`` for one record's ``integer_execution``."""
    d, goal = info["delta_db"], float(info["goal_db"])
    if info["max_output_steps"] > 1.0 or d["low"] > goal or d["high"] < -goal:
        return "not met"
    if -goal <= d["low"] and d["high"] <= goal:
        return "met"
    return "not decided"


def _row(r: Record) -> list[str]:
    info, d = r.extra["integer_execution"], r.extra["integer_execution"]["delta_db"]
    fake = info["layers_fake"]
    return [r.model or "—", f"{r.spec} v{r.spec_version}", f"{r.bits.get('weight')}/{r.bits.get('activation')}",
            f"{r.dataset} ×{r.scale}", f"{r.metrics['psnr']:.4f}", f"{info['fake_psnr']:.4f}",
            f"{d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]", f"{info['max_output_steps']:.2f} ({info['fraction_over_one_step']:.2%} > 1)",
            f"{info['fake_float32_vs_float64_steps']:.2f}", f"{info['integer_vs_float64_steps']:.2f}",
            f"{info['layers_integer']} / {info['layers_integer'] + len(fake)}",
            "; ".join(f"{n}: {why}" for n, why in fake.items()) or "—", integer_verdict(info)]


def integer_section(records: list[Record]) -> list[str]:
    """Markdown lines of the section (empty when no record of ``records`` ran on integers)."""
    rows = [r for r in records if "integer_execution" in r.extra]
    if not rows:
        return []
    rows.sort(key=lambda r: (r.model or "", r.scale or 0, r.dataset, r.spec))
    goal = float(rows[0].extra["integer_execution"]["goal_db"])
    headers = ["Model", "Spec", "W/A bits", "Set", "PSNR integer", "PSNR fake quant",
               f"Δ dB [{LEVEL:.0%} CI]", "max |Δ| steps (share > 1)", "fake f32 vs f64", "integer vs f64", "Layers on integers", "Left fake-quant",
               f"Goal (≤ 1 step, |Δ| ≤ {goal:g} dB)"]
    met = sum(integer_verdict(r.extra["integer_execution"]) == "met" for r in rows)
    return ["## Integer execution vs fake quantization", "",
            "The same calibrated model scored twice in one job: its quantized convolutions on integer "
            "kernels (int8 x int8 -> int32, one float32 rounding per output; the FP layers and "
            "everything between the convolutions as the model has it) and as the fake-quant "
            "simulation. Δ: integer minus fake, paired over images; max |Δ|: the largest output "
            "difference over every pixel of every image, in 8-bit steps, with the share of outputs "
            "more than one step away; fake f32 vs f64: the same maximum between the fake-quant model "
            "in float32 and in float64, the floor any reordering of float32 sums meets (a value "
            "within float32 rounding of a quantizer's boundary lands one code away, and the flip "
            "propagates); integer vs f64: the integer model against the float64 simulation.", "",
            table([_row(r) for r in rows], headers), "",
            f"Goal met by {met} of {len(rows)} results.", ""]
