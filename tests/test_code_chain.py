"""Integer layers joined on their codes (qsrbench.kernels.code_chain).

Oracles: a hand-worked epilogue; the integer reference (qsrbench.kernels.reference: the exact int32
accumulator of the input codes, then ``requantize``); hand counts of which layers join in small
graphs; the fake-quant model the integer one came from (within one output step).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from qsrbench.kernels import reference
from qsrbench.kernels.code_chain import ChainedConv, Epilogue, chain_codes
from qsrbench.kernels.integer_model import integerize
from qsrbench.models import create_model
from qsrbench.quant.uniform import to_int

from .test_integer_model import _ptq


def _int_model(model, bits=8, shape=(2, 3, 24, 24), **cfg):
    """(calibrated fake-quant model, its integerized copy): test_integer_model's PTQ recipe."""
    fake = _ptq(model, bits, shape, **cfg)
    return fake, integerize(copy.deepcopy(fake))


class _Stub(nn.Module):
    """What the epilogue reads of an integer layer: s_x, per-channel s_w, bias."""

    def __init__(self):
        super().__init__()
        self.input_scale = 0.5
        self.weight_scale = torch.tensor([0.25], dtype=torch.float64)
        self.bias = None


@pytest.mark.parametrize("act,slope,expected", [
    (None, 0.0, [0, 6, 10, 12, 14, 255]),
    ("relu", 0.0, [10, 10, 10, 12, 14, 255]),
    ("leaky_relu", 0.5, [0, 8, 10, 12, 14, 255]),
])
def test_epilogue_by_hand(act, slope, expected):
    """acc · 0.5 · 0.25 = y = [-25, -1, 0, 0.625, 0.875, 1250]; y / 0.25 = [-100, -4, 0, 2.5, 3.5,
    5000] (exact binary fractions), round half to even: 2.5 -> 2, 3.5 -> 4; + zero point 10, clamp
    to [0, 255]. With ReLU the negatives become 0 (code 10); with slope 0.5, -1 -> -0.5 -> -2 -> 8."""
    acc = torch.tensor([-200, -8, 0, 5, 7, 10000], dtype=torch.int32).reshape(1, 1, 1, 6)
    layer = ChainedConv(_Stub(), epilogue=Epilogue(0.25, 10, 0, 255, act, slope))
    got = layer._emit(acc)
    assert got.dtype == torch.uint8 and got.reshape(-1).tolist() == expected


def _toy(act: nn.Module, groups=1, stride=1):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), act,
                         nn.Conv2d(8, 6, 3, stride=stride, padding=1, groups=groups), nn.Conv2d(6, 5, 1))


@pytest.mark.parametrize("act,kind", [(nn.ReLU(), "relu"), (nn.LeakyReLU(0.2), "leaky_relu"),
                                      (nn.PReLU(8, init=0.3), "prelu")])
@pytest.mark.parametrize("groups,stride", [(1, 1), (2, 2)])
def test_emitted_codes_equal_the_integer_reference(act, kind, groups, stride):
    """The producer's codes equal reference.int_conv2d of its input codes + reference.requantize
    with the consumer's qparams, bit for bit (odd sizes, padding, stride 2, groups; an input pushed
    to codes 0 and 255 at its corners)."""
    torch.manual_seed(5)
    if isinstance(act, nn.PReLU):
        with torch.no_grad():
            act.weight.copy_(torch.linspace(0.05, 0.6, 8))
    _, ints = _int_model(_toy(act, groups, stride), keep_fp=[])
    chained, joins = chain_codes(copy.deepcopy(ints))
    assert joins == [f"0 -[{kind}]-> 2", "2 -> 3"]
    producer = chained.get_submodule("0")
    assert isinstance(producer, ChainedConv) and producer.epilogue is not None and not producer.takes_codes
    x = torch.rand(2, 3, 11, 7) * 1.2 - 0.1
    x[..., 0, 0], x[..., -1, -1] = -50.0, 50.0  # beyond the calibrated range: codes 0 and 255
    got = producer(x)
    layer, consumer = ints[0], ints[2]
    q_x = to_int(x, layer.input_qparams)
    assert int(q_x.min()) == 0 and int(q_x.max()) == 255
    acc = reference.int_conv2d(q_x, layer.weight_codes.to(torch.int64), layer.input_zero, padding=1)
    slope = act.weight.detach().double() if kind == "prelu" else getattr(act, "negative_slope", 0.0)
    qp = consumer.input_qparams
    want = reference.requantize(acc, layer.input_scale, layer.weight_scale, float(qp.scale), int(qp.zero_point),
                                qp.qmin, qp.qmax, bias=layer.bias.double(), act=kind, slope=slope)
    assert got.dtype == torch.uint8 and torch.equal(got.to(torch.int64), want)


def test_chained_model_runs_the_same_codes_as_the_unchained_one_within_a_step():
    torch.manual_seed(6)
    fake, ints = _int_model(_toy(nn.ReLU()), keep_fp=[])
    chained, _ = chain_codes(copy.deepcopy(ints))
    x = torch.rand(1, 3, 13, 9)
    with torch.no_grad():
        a, b, c = chained(x), ints(x), fake(x)
    assert a.dtype == torch.float32 and a.shape == b.shape == (1, 5, 13, 9)
    # where the chained and the unchained layers compute the same codes the last (float) layer's
    # outputs are bit-identical; a code one off moves an output by at most Σ|q_w| · s_w · s_x
    last = ints[3]
    one_code = float((last.weight_codes.abs().sum((1, 2, 3)) * last.weight_scale).max()) * last.input_scale
    assert float((a == b).float().mean()) > 0.9
    assert float((a - b).abs().max()) <= 2 * one_code
    assert float((a - c).abs().max()) <= 2 * one_code


class _FanOut(nn.Module):
    """conv a feeds conv b and a residual add; conv c is called twice; d follows b through a ReLU."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = (nn.Conv2d(3, 3, 3, padding=1) for _ in range(4))
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.a(x)
        z = self.d(self.act(self.b(y))) + y
        return self.c(self.c(z))


def test_only_single_consumer_pairs_join():
    """By hand: a has two users (b and the add): no; b -[relu]-> d: yes; d feeds the add: no;
    c is called twice: no."""
    _, ints = _int_model(_FanOut(), keep_fp=[])
    chained, joins = chain_codes(copy.deepcopy(ints))
    assert joins == ["b -[relu]-> d"]
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert chained(x).shape == ints(x).shape


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x) if float(x.sum()) > 0 else x


def test_untraceable_model_is_left_as_it_is_with_the_reason():
    _, ints = _int_model(_Branchy(), keep_fp=[])
    model, joins = chain_codes(ints)
    assert model is ints and len(joins) == 1 and joins[0].startswith("not chained: _Branchy is not torch.fx-traceable")


@pytest.mark.parametrize("name", ["imdn", "carn-m", "pan"])
def test_whole_model_chained_within_one_output_step_of_fake_quant(name):
    torch.manual_seed(1)
    fake, ints = _int_model(create_model(name, 4))
    chained, joins = chain_codes(copy.deepcopy(ints))
    assert joins and not joins[0].startswith("not chained")
    assert sum(isinstance(m, ChainedConv) and m.takes_codes for m in chained.modules()) == len(joins)
    x = torch.rand(1, 3, 20, 18, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = fake(x), chained(x)
    diff = (a - b).abs()  # outputs are images in [0, 1]: one 8-bit output step is 1/255
    assert float(diff.max()) <= 1 / 255, f"{name}: max |Δ| {float(diff.max()):.2e} with {len(joins)} joins"
