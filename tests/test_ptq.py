"""PTQ baseline: plumbing, BitOps of the quantized plan by hand, and a W8A8 sanity bound."""

from __future__ import annotations

import pytest

from qsrbench.errors import SpecError
from qsrbench.methods import RunContext
from qsrbench.registry import methods
from qsrbench.runner import run_spec
from qsrbench.spec import parse_spec
from qsrbench.store import ResultStore

REF = {"name": "p", "version": 1, "tier": "small", "model": {"name": "imdn-rtc", "weights": "imdn_rtc_x2.pth"},
       "datasets": ["Set5"], "scales": [2], "protocol": {"y_rounding": "double", "gray_gt": "as-rgb"}}


def spec(**kw):
    return parse_spec({**REF, "method": {"name": "ptq", "granularity": ["per-channel"],
                                         "calibration": ["mse"]}, "bits": {"weight": 8, "activation": 8},
                       **kw}, "p.toml")


def test_bitops_of_the_plan_by_hand():
    """IMDN-RTC x2 per LR pixel (ARCHITECTURES.md §2): first conv 324 MACs and the upsampler conv
    1296 MACs stay FP (32x32 bits); the other 19899 - 324 - 1296 = 18279 MACs run at 8x8 bits."""
    macs, bitops = methods.get("ptq")().cost(spec(), 2, "per-channel, mse")
    pixels = 180 * 320
    assert macs == 19899 * pixels
    assert bitops == ((324 + 1296) * 32 * 32 + 18279 * 8 * 8) * pixels


def test_ptq_converges_to_full_precision_with_bits(need_set, tmp_path):
    """At 16 bits the rounding error (step ≈ range / 65535) is far below one grey level, so PTQ must
    match the FP model within the PSNR tolerance; at 8 bits it must cost something, yet stay far
    above bicubic (33.64 dB on Set5 x2, leaderboards/sr.md)."""
    root = need_set("Set5")
    need_set("T91")
    fp = run_spec(parse_spec({**REF, "method": {"name": "fp"}}, "f.toml"), ResultStore(tmp_path / "f"),
                  RunContext(data_root=root)).recorded[0].metrics["psnr"]
    w16 = run_spec(spec(bits={"weight": 16, "activation": 16}), ResultStore(tmp_path / "q16"),
                   RunContext(data_root=root)).recorded[0]
    w8 = run_spec(spec(), ResultStore(tmp_path / "q8"), RunContext(data_root=root)).recorded[0]
    assert w8.variant == "per-channel, mse" and w8.bitops < w8.macs * 1024
    assert abs(w16.metrics["psnr"] - fp) <= 0.02
    assert 34.0 < w8.metrics["psnr"] < fp


@pytest.mark.parametrize("change,field", [({"bits": {"weight": 32, "activation": 32}}, "bits"),
                                          ({"model": {"name": "imdn-rtc"}}, "model.weights")])
def test_illegal_ptq_specs(change, field):
    with pytest.raises(SpecError) as info:
        spec(**change)
    assert any(p.startswith(field) for p in info.value.problems)
