"""FQSR (reference/fqsr.py) and its quantizer: clip gradients against finite differences, clip
initialisation, the fully-quantized graph (walked node by node), BitOps by hand, spec errors.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch
from torch import fx, nn

from qsrbench.errors import SpecError
from qsrbench.models import ModelInfo, create_model
from qsrbench.quant.convert import QuantLayer
from qsrbench.quant.qat import LearnedClip, range_quant
from qsrbench.registry import models
from qsrbench.testing import edited_spec

from reference.fqsr import FQSR, _student, output_tail

SMOKE = "suites/specs/qat/fqsr-pan-x4-w4a4-smoke.toml"
H = 1e-6


class ToyTwoBlocks(nn.Module):
    """head 3→4, two residual blocks of one 4→4 conv, conv 4→12 + PixelShuffle(2); all 3x3."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.b1 = nn.Conv2d(4, 4, 3, padding=1)
        self.b2 = nn.Conv2d(4, 4, 3, padding=1)
        self.up = nn.Conv2d(4, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        f = self.head(x)
        f = f + self.b1(f)
        f = f + self.b2(f)
        return self.shuffle(self.up(f))


class ToyNoAdd(nn.Module):
    def __init__(self, scale: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.conv(x))


@pytest.fixture
def toys():
    for name, cls in (("toy-two-blocks", ToyTwoBlocks), ("toy-no-add", ToyNoAdd)):
        models.register(ModelInfo(name, cls, scales=(2,), input_range=255.0))
    yield
    for name in ("toy-two-blocks", "toy-no-add"):
        models.unregister(name)


def _spec(**changes):
    return edited_spec(SMOKE, **changes)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_range_quant_clip_gradient_matches_finite_differences(bits, signed):
    g = torch.Generator().manual_seed(bits)
    c = torch.tensor(1.7, dtype=torch.float64)
    x = (torch.rand(80, generator=g, dtype=torch.float64) * 5 - 2.5)
    x = x[((x.abs() - c).abs() > 1e-3) & (x.abs() > 1e-3)]
    n = 2**bits - 1
    lo = -1.0 if signed else 0.0
    y = torch.clamp(x / c, lo, 1.0)
    u = (y + 1) / 2 * n if signed else y * n
    r = torch.round(u) - u  # the straight-through rounding residual, frozen

    def surrogate(xv, cv):
        yv = torch.clamp(xv / cv, lo, 1.0)
        uv = (yv + 1) / 2 * n if signed else yv * n
        q = (uv + r) / n
        return (q * 2 - 1) * cv if signed else q * cv

    cg, xg = c.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out = range_quant(xg, cg, bits, signed=signed)
    torch.testing.assert_close(out.detach(), surrogate(x, c))
    grid = (torch.arange(n + 1, dtype=torch.float64) * 2 / n - 1 if signed
            else torch.arange(n + 1, dtype=torch.float64) / n) * c  # the 2^b levels, by hand
    assert torch.isclose(out.detach()[:, None], grid[None]).any(dim=1).all()
    out.sum().backward()
    fd_c = (surrogate(x, c + H) - surrogate(x, c - H)).sum() / (2 * H)
    torch.testing.assert_close(cg.grad, fd_c, rtol=1e-6, atol=1e-7)
    fd_x = (surrogate(x + H, c) - surrogate(x - H, c)) / (2 * H)
    torch.testing.assert_close(xg.grad, fd_x, rtol=1e-6, atol=1e-7)


def test_two_bit_signed_levels_exclude_zero():
    out = range_quant(torch.linspace(-2, 2, 101), torch.tensor(1.5), 2)
    assert sorted(set(np.round(out.numpy(), 6))) == pytest.approx([-1.5, -0.5, 0.5, 1.5])


def test_clip_initialisation_is_the_mean_of_max_abs_over_the_warmup():
    batches = [torch.tensor([[1.0, -4.0]]), torch.tensor([[2.0, 0.5]]), torch.tensor([[-9.0, 3.0]])]
    q = LearnedClip(4, form="signed-range", init_steps=3, decay=None, statistic="max-abs").train()
    for b in batches:
        assert torch.equal(q(b), b)
    assert q.alpha.item() == pytest.approx((4 + 2 + 9) / 3)
    q(batches[0])
    assert q.last_error is None  # no error tracked unless asked
    t = LearnedClip(4, form="signed-range", init_steps=1, decay=None, statistic="max-abs", track_error=True).train()
    t(batches[2])
    out = t(batches[0])
    assert t.last_error.item() == pytest.approx((out - batches[0]).abs().mean().item())


def _walk(gm: fx.GraphModule):
    """(unquantized add inputs, unquantized conv inputs, unquantized shuffle inputs) outside the
    output tail; a quantizer is an ``act_q`` LearnedClip or a QuantLayer's input_q."""
    tail = set(output_tail(gm))
    mods = dict(gm.named_modules())

    def quantized(node):
        return (node.op == "call_module" and isinstance(mods.get(node.target), LearnedClip))

    adds, convs, shuffles = [], [], []
    for node in gm.graph.nodes:
        if node in tail:
            continue
        if node.op == "call_function" and node.target in (operator.add, torch.add):
            adds += [a for a in node.all_input_nodes if not quantized(a)]
        if node.op == "call_module" and isinstance(mods[node.target], QuantLayer):
            layer = mods[node.target]
            if not isinstance(layer.input_q, LearnedClip):
                convs.append(node.target)
            assert isinstance(layer.weight_q, LearnedClip), f"{node.target}: weight not quantized"
        if node.op == "call_module" and isinstance(mods[node.target], nn.PixelShuffle):
            shuffles += [a for a in node.all_input_nodes if not quantized(a)]
        if node.op == "call_module" and isinstance(mods[node.target], nn.Conv2d):
            convs.append(node.target)  # a conv left FP
    return adds, convs, shuffles


@pytest.mark.parametrize("model", ["pan", "edsr-baseline", "imdn"])
def test_fully_quantized_except_the_declared_fp_ends(model):
    spec = _spec(**{"model.name": model})
    student = _student(spec, create_model(model, 4))
    adds, convs, shuffles = _walk(student)
    first = next(n for n, m in student.named_modules() if isinstance(m, QuantLayer))
    assert convs == [first], f"convs with an FP input: {convs}"  # only the RGB input stays FP
    assert adds == [] and shuffles == []
    freed = [n for n in output_tail(student) if n.op == "call_module" and n.target.startswith("act_q")]
    assert freed and all(isinstance(student.get_submodule(n.target), nn.Identity) for n in freed)
    student.train()
    student(torch.rand(1, 3, 8, 8))


def test_bitops_hand_count_on_a_two_block_toy(toys):
    """Convs: MACs = LR pixels x Cout x Cin x 9 at (4, 4) bits, the head's RGB input at 32; the two
    residual adds: 4 channels x LR pixels elements at 4 bits (b BitOps per element)."""
    spec = _spec(**{"model.name": "toy-two-blocks", "scales": [2], "method.train.patch": 48})
    costs = {c.name: c for c in FQSR().layer_costs(spec, 2, None)}
    px = 180 * 320  # the reference LR input
    head, block, up = px * 4 * 3 * 9, px * 4 * 4 * 9, px * 12 * 4 * 9
    assert {n: c.macs for n, c in costs.items()} == {"head": head, "b1": block, "b2": block, "up": up,
                                                      "add:add": 0, "add:add_1": 0}
    assert costs["head"].bitops == head * 4 * 32  # weight 4 bits, RGB input 32
    assert costs["add:add"].bitops == costs["add:add_1"].bitops == 4 * px * 4
    by_hand = head * 128 + 2 * block * 16 + up * 16 + 2 * 4 * px * 4
    assert sum(c.bitops for c in costs.values()) == by_hand == 1_461_657_600
    skip8 = _spec(**{"model.name": "toy-two-blocks", "scales": [2], "method.train.patch": 48,
                     "method.skip_bits": 8})
    assert {c.name: c.bitops for c in FQSR().layer_costs(skip8, 2, None)}["add:add"] == 4 * px * 8
    no_skips = _spec(**{"model.name": "toy-two-blocks", "scales": [2], "method.train.patch": 48,
                        "method.quantize_skips": False})
    assert [c.name for c in FQSR().layer_costs(no_skips, 2, None)] == ["head", "b1", "b2", "up"]


def test_pan_output_tail_add_is_not_counted():
    spec = _spec()
    adds = [c for c in FQSR().layer_costs(spec, 4, None) if c.kind == "add"]
    assert len(adds) == 16 + 1  # one per SCPA block and the trunk's long skip; the image skip is FP
    assert all(c.elements == 40 * 180 * 320 for c in adds)


def test_skip_quantization_of_a_model_without_residual_add_is_an_error(toys):
    with pytest.raises(SpecError) as err:
        _spec(**{"model.name": "toy-no-add", "scales": [2], "method.train.patch": 48})
    assert any(p.startswith("method.quantize_skips: model 'toy-no-add' has no residual addition")
               for p in err.value.problems)
    _spec(**{"model.name": "toy-no-add", "scales": [2], "method.train.patch": 48,
             "method.quantize_skips": False})


@pytest.mark.parametrize("changes,field", [
    ({"bits.activation": 1}, "bits.activation"),
    ({"method.skip_bits": 1}, "method.skip_bits"),
    ({"method.train.sets": []}, "method.train.sets"),
])
def test_bad_specs_name_the_field(changes, field):
    with pytest.raises(SpecError) as err:
        _spec(**changes)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems
