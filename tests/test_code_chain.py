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


def _chained(model: nn.Module, seed: int):
    """(integer model, its chained copy, the joins) of ``model`` after the PTQ recipe, all layers quantized."""
    torch.manual_seed(seed)
    _, ints = _int_model(model, keep_fp=[])
    chained, joins = chain_codes(copy.deepcopy(ints))
    return ints, chained, joins


def _reference_codes(ints, name, q_in, consumer, act=None, slope=0.0, residual=None):
    """The integer reference's codes of ``consumer`` from layer ``name``'s input codes ``q_in``:
    reference.int_conv2d, then reference.requantize with the consumer's qparams."""
    layer = ints.get_submodule(name)
    acc = reference.int_conv2d(q_in, layer.weight_codes.to(torch.int64), layer.input_zero, padding=layer.padding)
    qp = ints.get_submodule(consumer).input_qparams
    return reference.requantize(acc, layer.input_scale, layer.weight_scale, float(qp.scale), int(qp.zero_point),
                                qp.qmin, qp.qmax, bias=layer.bias.double(), act=act, slope=slope, residual=residual)


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


@pytest.mark.parametrize("name", ["imdn", "carn-m", "pan", "rfdn"])
def test_whole_model_chained_within_one_output_step_of_fake_quant(name):
    torch.manual_seed(1)
    fake, ints = _int_model(create_model(name, 4))
    chained, joins = chain_codes(copy.deepcopy(ints))
    assert joins and not joins[0].startswith("not chained")
    consumers = {j.rsplit("> ", 1)[1] for j in joins}
    assert {n for n, m in chained.named_modules() if isinstance(m, ChainedConv) and m.takes_codes} == consumers
    x = torch.rand(1, 3, 20, 18, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = fake(x), chained(x)
    diff = (a - b).abs()  # outputs are images in [0, 1]: one 8-bit output step is 1/255
    assert float(diff.max()) <= 1 / 255, f"{name}: max |Δ| {float(diff.max()):.2e} with {len(joins)} joins"


class _ShuffleCat(nn.Module):
    """a -> pixel shuffle -> LeakyReLU -> b; b's output feeds c1 and c2; ReLU(c1) and c2 are
    concatenated into e; e -> f; f -> pixel shuffle -> PReLU -> g; g's output z and h(z) are
    concatenated into k."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(2, 4, 3, padding=1)
        self.c1, self.c2 = nn.Conv2d(4, 3, 1), nn.Conv2d(4, 5, 3, padding=1)
        self.e, self.f, self.g = nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(2, 3, 3, padding=1)
        self.h, self.k = nn.Conv2d(3, 3, 1), nn.Conv2d(6, 3, 1)
        self.shuffle, self.lrelu, self.relu = nn.PixelShuffle(2), nn.LeakyReLU(0.1), nn.ReLU()
        self.prelu = nn.PReLU(2, init=0.2)

    def forward(self, x):
        y = self.b(self.lrelu(self.shuffle(self.a(x))))
        e = self.e(torch.cat([self.relu(self.c1(y)), self.c2(y)], dim=1))
        z = self.g(self.prelu(self.shuffle(self.f(e))))
        return self.k(torch.cat([self.h(z), z], dim=1))


def test_joins_through_pixel_shuffle_and_concatenation_by_hand():
    """By hand: a's codes go through the shuffle (LeakyReLU, the same for every channel, moves into
    a's epilogue): a joins b. b's output has two users: b emits nothing. Both parts of e's
    concatenation are conv outputs used once: c1 and c2 join e. e joins f. A PReLU after f's shuffle
    is per channel of the shuffled tensor, not of f's channels: f does not join g. k's
    concatenation has a part (z) that is not a conv output used once: neither h nor g joins k."""
    ints, chained, joins = _chained(_ShuffleCat(), 8)
    assert joins == ["a -[pixel_shuffle, leaky_relu]-> b", "c1 -[relu, cat]-> e", "c2 -[cat]-> e", "e -> f"]
    x = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        assert chained(x).shape == ints(x).shape == (1, 3, 28, 20)


def test_codes_through_pixel_shuffle_and_concatenation_equal_the_integer_reference():
    """The codes b and e receive equal the integer reference's: the producers' exact accumulators
    (reference.int_conv2d), requantized with the consumer's qparams (reference.requantize), then
    shuffled (b) or concatenated (e), bit for bit."""
    ints, chained, _ = _chained(_ShuffleCat(), 9)
    seen = {}
    for name in ("b", "e"):
        chained.get_submodule(name).register_forward_pre_hook(lambda m, args, name=name: seen.__setitem__(name, args[0]))
    chained.get_submodule("b").register_forward_hook(lambda m, args, out: seen.__setitem__("y", out))
    x = torch.rand(2, 3, 9, 7) * 1.2 - 0.1
    with torch.no_grad():
        chained(x)

    want_b = torch.pixel_shuffle(_reference_codes(ints, "a", to_int(x, ints.a.input_qparams), "b", "leaky_relu", 0.1), 2)
    assert seen["b"].dtype == torch.uint8 and torch.equal(seen["b"].to(torch.int64), want_b)
    y = seen["y"]
    want_e = torch.cat([_reference_codes(ints, "c1", to_int(y, ints.c1.input_qparams), "e", "relu"),
                        _reference_codes(ints, "c2", to_int(y, ints.c2.input_qparams), "e")], dim=1)
    assert seen["e"].dtype == torch.uint8 and torch.equal(seen["e"].to(torch.int64), want_e)


class _Residual(nn.Module):
    """a -> ReLU -> + r -> b; c -> + r -> d; e -> + z -> LeakyReLU -> f; h(w) + h2(w) -> g; r = s(x)
    is read by both sums (and by nothing else that joins)."""

    def __init__(self):
        super().__init__()
        self.s, self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.c, self.d, self.e, self.f = (nn.Conv2d(4, 4, 3, padding=1) for _ in range(4))
        self.h, self.h2, self.g = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 3, 1)
        self.relu, self.lrelu = nn.ReLU(), nn.LeakyReLU(0.1)

    def forward(self, x):
        r = self.s(x)
        y = self.b(self.relu(self.a(x)) + r)
        z = self.d(self.c(y) + r)
        w = self.f(self.lrelu(self.e(z) + z))
        return self.g(self.h(w) + self.h2(w))


def test_residual_adds_join_by_hand():
    """By hand: a's sum with r is read only by b: a joins b through its ReLU and the add; c joins d
    the same way without an activation (b joins c plainly); e's sum goes through a LeakyReLU before f (an activation
    after the add, not the epilogue's order): no join; of h(w) + h2(w), the first operand joins g
    and h2's output is its residual; s feeds two sums: no join."""
    ints, chained, joins = _chained(_Residual(), 10)
    assert joins == ["a -[relu, add]-> b", "b -> c", "c -[add]-> d", "h -[add]-> g"]
    x = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        assert chained(x).shape == ints(x).shape == (1, 3, 7, 5)


class _SelfSum(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 1)

    def forward(self, x):
        t = self.a(x)
        return self.b(t + t)


def test_a_sum_of_a_node_with_itself_is_not_joined():
    """t + t: fx lists t's one user once, but the producer would be its own residual: no join."""
    _, ints = _int_model(_SelfSum(), keep_fp=[])
    chained, joins = chain_codes(copy.deepcopy(ints))
    assert joins == []
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(chained(x), ints(x))


def test_codes_with_a_residual_equal_the_integer_reference():
    """The codes b receives equal reference.requantize of a's exact accumulator with ReLU and the
    residual r (s's float output, as the chained model computed it) added after it, bit for bit."""
    ints, chained, _ = _chained(_Residual(), 11)
    seen = {}
    chained.get_submodule("b").register_forward_pre_hook(lambda m, args: seen.__setitem__("b", args[0]))
    chained.get_submodule("s").register_forward_hook(lambda m, args, out: seen.__setitem__("r", out))
    x = torch.rand(2, 3, 9, 7) * 1.2 - 0.1
    with torch.no_grad():
        chained(x)
    want = _reference_codes(ints, "a", to_int(x, ints.a.input_qparams), "b", "relu", residual=seen["r"])
    assert seen["b"].dtype == torch.uint8 and torch.equal(seen["b"].to(torch.int64), want)
