"""reference.fp_bf16: the FP checkpoint under bfloat16 autocast (the latency page's bf16 backend).

Oracle: the same layers written by hand in bfloat16 (operands cast with ``.to(torch.bfloat16)``,
no autocast), which is what CPU autocast is documented to do for convolutions; equality is exact
because both sides run the same bfloat16 kernels on the same bfloat16 operands.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qsrbench.registry import methods
from qsrbench.spec import load_spec
from reference.fp_bf16 import Autocast

SPECS = Path(__file__).resolve().parent.parent / "suites" / "specs" / "bf16"
BF16 = torch.bfloat16


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()


def test_autocast_equals_bf16_by_hand():
    net, x = _net(), torch.rand(1, 3, 9, 11) * 255
    c1, c2 = net[0], net[2]
    h = F.relu(F.conv2d(x.to(BF16), c1.weight.to(BF16), c1.bias.to(BF16), padding=1))
    by_hand = F.conv2d(h, c2.weight.to(BF16), c2.bias.to(BF16), padding=1).float()
    with torch.no_grad():
        out = Autocast(net)(x)
    assert out.dtype == torch.float32
    assert torch.equal(out, by_hand)
    fp32 = net(x).detach()
    assert not torch.equal(out, fp32)  # bfloat16 really ran
    assert (out - fp32).abs().max() <= 2 ** -7 * fp32.abs().max() * 8  # a few bf16 ulps of the range, not garbage


def test_specs_are_bf16_and_cost_16_by_16_bits():
    specs = [load_spec(p) for p in sorted(SPECS.glob("*.toml"))]
    assert len(specs) == 11  # one per shipped checkpoint timed on the latency page
    method = methods.get("fp-bf16")()
    fp = methods.get("fp")()
    spec = next(s for s in specs if s.model.name == "imdn-rtc")
    costs, fp_costs = method.layer_costs(spec, 2, None), fp.layer_costs(spec, 2, None)
    assert [c.macs for c in costs] == [c.macs for c in fp_costs]
    assert all(c.bitops == c.macs * 16 * 16 for c in costs)
    assert sum(c.bitops for c in costs) * 4 == sum(c.bitops for c in fp_costs)  # 32 x 32 / (16 x 16)


def test_bits_other_than_16_are_refused_naming_the_field():
    spec = load_spec(next(SPECS.glob("*.toml")))
    bad = spec.model_copy(update={"bits": spec.bits.model_copy(update={"weight": 32, "activation": 32})})
    problems = methods.get("fp-bf16").check_spec(bad)
    assert [field for field, _ in problems] == ["bits"]
    assert methods.get("fp-bf16").check_spec(spec) == []


def test_checkpoint_runs_under_autocast(request, data_root):
    """How the method assembles its model (Autocast's arithmetic is the first test's): the
    checkpoint under Autocast inside the range adapter, not the adapter under Autocast; its output
    on a small LR input equals that assembly done by hand from the FP method's network."""
    from qsrbench.methods import RunContext
    from qsrbench.testing import missing_weights

    spec = load_spec(SPECS / "fp-bf16-imdn-rtc-x2.toml")
    missing_weights(request.config, spec, data_root)
    ctx = RunContext(data_root=data_root)
    got = methods.get("fp-bf16")().build(spec, 2, ctx).eval()
    fp = methods.get("fp")().build(spec, 2, ctx).eval()
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        k = 255.0 / fp.input_range
        assert torch.equal(got(x), Autocast(fp.net)(x / k) * k)
