"""Integer execution of PTQ models (reference/ptq_int.py) and its leaderboard section.

Oracles: the PTQ baseline's own float32 record of the same spec (the fake-quant simulation the
integer model must match), the model's convolutions counted from the network itself (every conv
but the FP first and last one runs on integers), issue 16's 0.01 dB bound, and the float64
simulation (the integer model no further from it than the float32 simulation is); the verdicts of
the section by hand.
"""

from __future__ import annotations

from torch import nn

from qsrbench.integer_board import integer_section, pixel_verdict, psnr_verdict
from qsrbench.kernels.integer_model import IntegerConv2d
from qsrbench.methods import RunContext
from qsrbench.models import create_model
from qsrbench.registry import methods
from qsrbench.runner import run_spec
from qsrbench.spec import parse_spec
from qsrbench.store import ResultStore

REF = {"name": "p", "version": 1, "tier": "small", "model": {"name": "imdn-rtc", "weights": "imdn_rtc_x2.pth"},
       "datasets": ["Set5"], "scales": [2], "protocol": {"y_rounding": "double", "gray_gt": "as-rgb"},
       "bits": {"weight": 8, "activation": 8}, "budget": {"max_images": 2}}
METHOD = {"granularity": ["per-channel"], "calibration": ["minmax"]}


def test_integer_model_matches_the_ptq_simulation(need_set, tmp_path):
    root = need_set("Set5")
    need_set("T91")
    ctx = RunContext(data_root=root)
    fake = run_spec(parse_spec({**REF, "method": {"name": "ptq", "eval_dtype": "float32", **METHOD}}, "f.toml"),
                    ResultStore(tmp_path / "f"), ctx).recorded[0]
    spec = parse_spec({**REF, "method": {"name": "ptq-int", **METHOD}}, "i.toml")
    rec = run_spec(spec, ResultStore(tmp_path / "i"), ctx).recorded[0]
    info = rec.extra["integer_execution"]
    convs = sum(isinstance(m, nn.Conv2d) for m in create_model("imdn-rtc", 2).modules())
    scored = methods.get("ptq-int")().build(spec, 2, ctx, rec.variant)  # what the job scored
    assert sum(isinstance(m, IntegerConv2d) for m in scored.modules()) == convs - 2 == info["layers_integer"]
    assert info["layers_fake"] == {}
    assert info["fake_psnr"] == fake.metrics["psnr"]
    assert rec.bitops == fake.bitops and rec.macs == fake.macs and rec.params == fake.params
    assert abs(rec.metrics["psnr"] - fake.metrics["psnr"]) <= 0.01
    # per pixel, rounding-boundary flips make the integer model differ from the float32 simulation
    # by several 8-bit steps on a few % of outputs, as much as the simulation differs from itself in
    # float64; a wrong integer layer would put it much further from the float64 simulation
    assert 0 < info["fraction_over_one_step"] < 0.1
    assert info["integer_vs_float64_steps"] <= info["fake_float32_vs_float64_steps"] + 1.0
    d = info["delta_db"]
    assert d["n"] == 2 and d["low"] <= d["estimate"] <= d["high"]
    assert integer_section([rec])[0] == "## Integer execution vs fake quantization"


def _info(low, high, steps=0.5, floor=0.3):
    return {"delta_db": {"estimate": (low + high) / 2, "low": low, "high": high, "n": 5, "level": 0.95},
            "goal_db": 0.01, "max_output_steps": steps, "fake_float32_vs_float64_steps": floor}


def test_verdicts_by_hand():
    assert psnr_verdict(_info(-0.004, 0.003)) == "met"
    assert psnr_verdict(_info(-0.01, 0.01)) == "met"  # the bounds belong to the goal
    assert psnr_verdict(_info(0.011, 0.02)) == "not met"
    assert psnr_verdict(_info(-0.03, -0.02)) == "not met"
    assert pixel_verdict(_info(-0.004, 0.003, steps=1.5)) == "not met"  # a pixel two steps off
    assert psnr_verdict(_info(-0.02, 0.003, steps=3)) == "not decided"
    assert pixel_verdict(_info(-0.004, 0.003, steps=3)) == "not met"
    assert pixel_verdict(_info(-0.004, 0.003, steps=3, floor=2.5)) == "not met (at the f32 floor)"
    assert pixel_verdict(_info(-0.004, 0.003, steps=1.0, floor=2.5)) == "met"


def test_chained_integer_model_joins_the_layers_rfdn_has_and_matches_the_simulation(need_set, tmp_path):
    """ptq-int-chain on RFDN x4: the joins are the ones its architecture allows, by hand: in each
    of the four blocks the four distillation convs (c1_d, c2_d, c3_d, c4, each through the
    LeakyReLU) into the concatenation that only c5 reads, then ESA's conv_max -> ReLU -> conv3 ->
    ReLU -> conv3_ (single consumers) and conv_f, whose sum with the upsampled branch only conv4
    reads (the sum moves into conv_f's epilogue), and the 1x1 fusion conv c.0 -> LeakyReLU ->
    LR_conv; nothing else (every other output feeds a sum read by an activation or by several
    layers, a concatenation with a non-conv part, or an FP layer).
    PSNR within issue 16's 0.01 dB of the simulation."""
    root = need_set("Set5")
    need_set("T91")
    ref = {**REF, "model": {"name": "rfdn", "weights": "rfdn_x4.pth"}, "scales": [4]}
    spec = parse_spec({**ref, "method": {"name": "ptq-int-chain", **METHOD}}, "c.toml")
    rec = run_spec(spec, ResultStore(tmp_path / "c"), RunContext(data_root=root)).recorded[0]
    info = rec.extra["integer_execution"]
    blocks = [j for b in range(1, 5) for j in (
        *(f"net.B{b}.{c} -[leaky_relu, cat]-> net.B{b}.c5" for c in ("c1_d", "c2_d", "c3_d", "c4")),
        f"net.B{b}.esa.conv_max -[relu]-> net.B{b}.esa.conv3", f"net.B{b}.esa.conv3 -[relu]-> net.B{b}.esa.conv3_",
        f"net.B{b}.esa.conv_f -[add]-> net.B{b}.esa.conv4")]
    assert info["code_joins"] == blocks + ["net.c.0 -[leaky_relu]-> net.LR_conv"]  # net: the scored wrapper
    assert info["backend"] == "harness kernels, joined on codes" and info["layers_fake"] == {}
    assert abs(rec.metrics["psnr"] - info["fake_psnr"]) <= 0.01
    assert info["integer_vs_float64_steps"] <= info["fake_float32_vs_float64_steps"] + 1.0
    row = next(line for line in integer_section([rec]) if line.startswith("|") and " v1 " in line)
    assert "(29 emit the next layer's codes)" in row and "harness kernels, joined on codes" in row
