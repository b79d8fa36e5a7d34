"""Integer execution of calibrated fake-quant models (qsrbench.kernels.integer_model).

Oracles: the exact real value of the integer layer (float64 convolution of the dequantized codes,
exact here, see qsrbench.kernels.reference) and the fake-quant model the integer one came from.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from qsrbench.errors import QsrbenchError
from qsrbench.kernels.integer_model import IntegerConv2d, IntegerLinear, integer_layers, integerize, weight_bytes
from qsrbench.models import create_model
from qsrbench.quant.config import QuantConfig, TensorQuant
from qsrbench.quant.convert import QuantLayer, quantize_model
from qsrbench.quant.modules import calibrate, make_quantizer
from qsrbench.quant.uniform import from_int, to_int


def _ptq(model, bits=8, shape=(2, 3, 24, 24), **cfg):
    config = QuantConfig(weight=TensorQuant(bits=bits, granularity="per-channel"),
                         activation=TensorQuant(bits=bits, symmetric=False), **cfg)
    qmodel, _ = quantize_model(model, config, make_quantizer, input_shape=shape)
    g = torch.Generator().manual_seed(0)
    calibrate(qmodel, [torch.rand(shape, generator=g)])
    return qmodel.eval()


def test_one_layer_equals_its_exact_integer_value():
    torch.manual_seed(0)
    net = _ptq(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 3, padding=1, groups=1)),
               keep_fp=[])
    ql = net[2]
    layer = IntegerConv2d(ql)
    x = torch.relu(torch.randn(2, 8, 9, 7))
    got = layer(x)
    qp = ql.input_q.qparams
    real_x = from_int(to_int(x, qp), qp).double()
    wq = ql.weight_q
    with torch.no_grad():
        real_w = wq(ql.layer.weight).double()  # the fake-quant weight: codes · per-channel scale
        exact = nn.functional.conv2d(real_x, real_w, ql.layer.bias.double(), padding=1)
    assert torch.allclose(got.double(), exact, rtol=1e-6, atol=1e-6 * float(exact.abs().max()))
    with torch.no_grad():
        fake = ql(x)
    assert torch.allclose(got, fake, rtol=1e-5, atol=1e-5 * float(fake.abs().max()))
    assert layer.weight_codes.dtype == torch.int8 and int(layer.weight_codes.abs().max()) <= 127


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("granularity", ["per-channel", "per-tensor"])
def test_transposed_conv_layer_equals_its_exact_integer_value(granularity, bits):
    """A ConvTranspose2d (stride 2, output padding, 2 groups: per-channel scales along the weight's
    axis 1, repeated per group) on integers against the float64 transposed conv of its dequantized
    codes, and against the fake-quant layer."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
                        nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2))
    config = QuantConfig(weight=TensorQuant(bits=bits, granularity=granularity),
                         activation=TensorQuant(bits=bits, symmetric=False), keep_fp=[])
    net, _ = quantize_model(net, config, make_quantizer, input_shape=(2, 3, 8, 8))
    calibrate(net, [torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))])
    ql = net.eval()[2]
    layer = integerize(copy.deepcopy(net))[2]
    assert type(layer).__name__ == "IntegerConvTranspose2d"
    # weight (cin 6, cout/groups 2, 3, 3): 6 rows of K = 18 taps, packed 9 bytes each at 4 bits
    assert layer.weight_store.shape == ((6, 9) if bits == 4 else (6, 2, 3, 3))
    x = torch.relu(torch.randn(2, 6, 7, 5))
    got = layer(x)
    qp = ql.input_q.qparams
    with torch.no_grad():
        real_w = ql.weight_q(ql.layer.weight).double()
        exact = nn.functional.conv_transpose2d(from_int(to_int(x, qp), qp).double(), real_w, ql.layer.bias.double(),
                                               stride=2, padding=1, output_padding=1, groups=2)
        fake = ql(x)
    assert got.shape == exact.shape == (2, 4, 14, 10)
    assert torch.allclose(got.double(), exact, rtol=1e-6, atol=1e-6 * float(exact.abs().max()))
    assert torch.allclose(got, fake, rtol=1e-5, atol=1e-5 * float(fake.abs().max()))


def test_every_smsr_layer_runs_on_integers_transposed_convs_included():
    """SMSR's sparse-mask branches end in ConvTranspose2d layers: all of its quantized layers now
    convert. (Its whole-model output is not compared here: with random weights its hard masks sit
    at float32's floor, the fake-quant model is 12 steps from its own float64 self.)"""
    fake = _ptq(create_model("smsr", 2), bits=8)
    plan = integer_layers(fake)
    kinds = {type(m.layer).__name__ for m in fake.modules() if isinstance(m, QuantLayer)}
    assert "ConvTranspose2d" in kinds and plan and all(why is None for why in plan.values())


def test_linear_layer_equals_its_exact_integer_value():
    torch.manual_seed(3)
    net = _ptq(nn.Sequential(nn.Linear(40, 10, bias=False), nn.ReLU(), nn.Linear(10, 3)), shape=(6, 40), keep_fp=[])
    x = torch.relu(torch.randn(2, 5, 10))  # leading dims (2, 5) kept
    ql = net[2]
    layer = IntegerLinear(ql)
    got = layer(x)
    qp = ql.input_q.qparams
    with torch.no_grad():
        exact = nn.functional.linear(from_int(to_int(x, qp), qp).double(), ql.weight_q(ql.layer.weight).double(),
                                     ql.layer.bias.double())
        fake = ql(x)
    assert got.shape == (2, 5, 3)
    assert torch.allclose(got.double(), exact, rtol=1e-6, atol=1e-6 * float(exact.abs().max()))
    assert torch.allclose(got, fake, rtol=1e-5, atol=1e-5 * float(fake.abs().max()))


@pytest.mark.parametrize("bits,packed", [(4, True), (3, True), (5, False), (8, False)])
def test_weights_of_four_bits_or_fewer_are_stored_two_per_byte(bits, packed):
    """Storage by hand: conv 3->8 3x3 has K = 27 taps per output channel; packed, a row is
    ceil(27 / 2) = 14 bytes (8 x 14 = 112), int8 27 bytes (216); linear 10->3 at 4 bits 3 x 5 = 15,
    else 30; a 1x1 conv 8->5, K = 8: 5 x 4 = 20, else 40. The codes read back equal the weight
    fake-quant weights (codes x scale), and the layer's output equals the float64
    convolution of the dequantized codes as at 8 bits."""
    torch.manual_seed(7)
    net = _ptq(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 1)), bits=bits, keep_fp=[])
    lin = _ptq(nn.Sequential(nn.Linear(10, 3)), bits=bits, shape=(4, 10), keep_fp=[])
    ints, lints = integerize(copy.deepcopy(net)), integerize(copy.deepcopy(lin))
    first = ints[0]
    assert first.weight_store.dtype == (torch.uint8 if packed else torch.int8)
    assert (weight_bytes(ints), weight_bytes(lints)) == ((112 + 20, 15) if packed else (216 + 40, 30))
    for ql, layer in ((net[0], ints[0]), (net[2], ints[2]), (lin[0], lints[0])):
        w = ql.layer.weight.detach()
        with torch.no_grad():
            real_w = ql.weight_q(w).double()  # codes x per-channel scale, rounded to float32
        scale = layer.weight_scale.reshape(-1, *[1] * (w.dim() - 1))
        got_w = layer.weight_codes.reshape(w.shape).double() * scale  # a code off would be a whole step off
        assert torch.allclose(got_w, real_w, rtol=1e-6, atol=0)
        assert int(layer.weight_codes.abs().max()) <= 2 ** (bits - 1) - 1
    x = torch.rand(2, 3, 9, 7)
    with torch.no_grad():
        qp = net[0].input_q.qparams
        exact = nn.functional.conv2d(from_int(to_int(x, qp), qp).double(), net[0].weight_q(net[0].layer.weight).double(),
                                     net[0].layer.bias.double(), padding=1)
    got = first(x)
    assert torch.allclose(got.double(), exact, rtol=1e-6, atol=1e-6 * float(exact.abs().max()))


@pytest.mark.parametrize("name,bits", [("imdn", 8), ("carn-m", 8), ("imdn", 4), ("a2n", 8)])
def test_whole_model_within_one_output_step_of_fake_quant(name, bits):
    torch.manual_seed(1)
    fake = _ptq(create_model(name, 4), bits=bits)
    ints = integerize(copy.deepcopy(fake))
    plan = integer_layers(fake)
    converted = [m for m in ints.modules() if isinstance(m, IntegerConv2d)]  # IntegerLinear is one too
    assert converted and len(converted) == sum(why is None for why in plan.values())
    x = torch.rand(1, 3, 20, 18, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = fake(x), ints(x)
    # outputs are images in [0, 1]: one 8-bit output step is 1/255
    diff = (a - b).abs()
    assert float(diff.max()) <= 1 / 255, f"{name} W{bits}A{bits}: max |Δ| {float(diff.max()):.2e}"
    assert float(diff.mean()) < 1e-3


def test_unsupported_layers_stay_fake_or_are_named():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1))
    fake = _ptq(net, keep_fp=[])
    fake[1].input_q.symmetric = True  # pretend: a signed activation quantizer (not the uint8 path)
    assert integer_layers(fake) == {"0": None, "1": "symmetric activation codes (signed) are not handled by the uint8 path"}
    mixed = integerize(copy.deepcopy(fake))
    assert isinstance(mixed[0], IntegerConv2d) and isinstance(mixed[1], QuantLayer)
    with pytest.raises(QsrbenchError, match=r"layers that cannot run on integers: 1 \(symmetric"):
        integerize(copy.deepcopy(fake), strict=True)
