"""Mixed-precision PTQ (reference/ptq_mixed.py): the greedy allocation on a hand-made table, the
output MSE by hand, bad specs, and an end-to-end run on the stand-ins whose record's BitOps the
counter recomputes from the recorded per-layer bits, inside the budget, promoted in the order
the recorded sensitivities give."""

from __future__ import annotations

import pytest
import torch

from qsrbench.bitops import layer_costs
from qsrbench.errors import QsrbenchError, SpecError
from qsrbench.methods import RunContext
from qsrbench.models import create_model
from qsrbench.runner import run_spec
from qsrbench.spec import parse_spec
from qsrbench.store import ResultStore
from reference.ptq_mixed import PTQMixed, allocate, output_mse

from .test_standins import standin  # noqa: F401  (the stand-in data root fixture)


def test_allocate_is_a_greedy_knapsack_by_sensitivity_per_bitops():
    """Ratios a 10/5 = 2, b 9/3 = 3, c 1/1 = 1, d 4/8 = 0.5; cap 9: b (3), a (8), c would make 9
    (fits), d (17) does not fit: [b, a, c]. Cap 6: b, a does not fit (8), c fits (4), d does not."""
    sens, extra = {"a": 10.0, "b": 9.0, "c": 1.0, "d": 4.0}, {"a": 5, "b": 3, "c": 1, "d": 8}
    assert allocate(sens, extra, 9) == ["b", "a", "c"]
    assert allocate(sens, extra, 6) == ["b", "c"]
    assert allocate(sens, extra, 0) == []


def test_output_mse_by_hand():
    """Identity model, reference shifted by 1 on half the values and 3 on the other: (1 + 9) / 2."""
    x = torch.zeros(1, 1, 2, 2)
    ref = torch.tensor([[[[1.0, 1.0], [3.0, 3.0]]]], dtype=torch.float64)
    assert output_mse(torch.nn.Identity(), [ref], [x]) == pytest.approx(5.0)


SPEC = {
    "name": "ptq-mixed-test", "version": 1, "tier": "small", "leaderboard": "ptq", "datasets": ["Set5"],
    "scales": [4], "budget": {"max_images": 1},
    "method": {"name": "ptq-mixed", "granularity": ["per-channel"], "calibration": ["minmax"],
               "budgets": [0.25], "high_bits": 8, "calib_images": 2, "calib_patch": 16},
    "model": {"name": "imdn", "weights": "imdn_x4.pth"}, "bits": {"weight": 4, "activation": 4}}


@pytest.mark.parametrize("field, value, message", [
    ("high_bits", 4, "must exceed the spec's bits"),
    ("budgets", [0.5, 1.5], "each budget is a fraction in \\(0, 1\\), got \\[1.5\\]")])
def test_bad_specs_name_the_file_and_field(field, value, message):
    data = {**SPEC, "method": {**SPEC["method"], field: value}}
    with pytest.raises(SpecError, match=f"x.toml(.|\n)*method.{field}: {message}"):
        parse_spec(data, "x.toml")


def test_end_to_end_bitops_budget_and_order(standin, tmp_path):  # noqa: F811
    spec = parse_spec(SPEC, "ptq-mixed-test.toml")
    with pytest.raises(QsrbenchError, match="chooses each layer's bits from calibration data"):
        PTQMixed().layer_costs(spec, 4, PTQMixed().variants(spec)[0])
    (record,) = run_spec(spec, ResultStore(tmp_path), RunContext(data_root=standin)).recorded
    bits = record.extra["mixed_precision"]["layers"]
    alloc = record.extra["allocation"]
    assert set(alloc["promoted"]) == {n for n, b in bits.items() if b == 8}
    assert {b for n, b in bits.items() if n not in alloc["promoted"]} == {4}
    # the counter, independently, on the recorded bits (first and last layers FP: 32/32)
    costs = layer_costs(create_model("imdn", 4), (1, 3, 180, 320),
                        lambda name, m: (bits[name], bits[name]) if name in bits else (32, 32))
    assert record.bitops == sum(c.bitops for c in costs)
    macs = {c.name: c.macs for c in costs}
    fp = sum(c.bitops for c in costs if c.name not in bits)
    low, high = fp + 16 * sum(macs[n] for n in bits), fp + 64 * sum(macs[n] for n in bits)
    assert low < record.bitops <= low + 0.25 * (high - low)
    ratio = {n: alloc["sensitivity"][n] / max(48 * macs[n], 1) for n in bits}
    assert alloc["promoted"] == sorted(alloc["promoted"], key=lambda n: (-ratio[n], n))
    assert record.extra["mixed_precision"]["mean_bits"] == pytest.approx(sum(bits.values()) / len(bits))


@pytest.mark.parametrize("calibration", ["minmax", "mse"])
def test_shared_range_pass_equals_calibrating_each_single_layer_model(standin, calibration):  # noqa: F811
    """The one FP-weight calibration pass gives each layer the range (and so the sensitivity)
    that calibrating its own single-layer model gives, exactly."""
    import copy

    from qsrbench.models import RangeAdapter
    from qsrbench.quant.convert import quantize_model
    from qsrbench.quant.modules import calibrate, make_quantizer
    from qsrbench.registry import models
    from reference.fp import pretrained

    spec = parse_spec(SPEC, "ptq-mixed-test.toml")
    method, ctx = PTQMixed(), RunContext(data_root=standin)
    sens = method._sensitivities(spec, 4, ctx, "per-channel", calibration)
    fp, rng = pretrained(spec, 4, ctx).eval(), models.get("imdn").input_range
    batches = method._calibration_batches(spec, 4, ctx)
    reference = [RangeAdapter(copy.deepcopy(fp), rng).double()(b.double()) for b in batches]
    names = list(sens)
    for name in (names[0], names[len(names) // 2], names[-1]):
        only = method._mixed_config(spec, "per-channel", keep_fp=[n for n in names if n != name] + ["first", "last"])
        qnet, _ = quantize_model(copy.deepcopy(fp), only, make_quantizer)
        model = calibrate(RangeAdapter(qnet, rng).eval(), batches, calibration)
        assert output_mse(model, reference, batches) == sens[name]
