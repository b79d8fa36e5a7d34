"""The model converter: which layers get quantized, with which bits, and where skip quantizers go.

A recording "quantizer" (identity that counts its calls and remembers its bits) stands in for the
real ones, so these tests check the plumbing, not the quantizers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qsrbench.errors import QsrbenchError
from qsrbench.quant.config import QuantConfig
from qsrbench.quant.convert import QuantLayer, execution_order, quantize_model


class Tag(nn.Module):
    def __init__(self, tq, role):
        super().__init__()
        self.bits, self.role, self.calls = tq.bits, role, 0

    def forward(self, x):
        self.calls += 1
        return x


class TinySR(nn.Module):
    """head → body (residual) → tail → PixelShuffle(2), like the SR models of the zoo."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Conv2d(8, 8, 3, padding=1)
        self.tail = nn.Conv2d(8, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)

    def forward(self, x):
        f = self.head(x)
        return self.up(self.tail(self.body(f) + f))


def tags(model):
    return [m for m in model.modules() if isinstance(m, Tag)]


def test_first_and_last_stay_fp_by_default():
    model, plan = quantize_model(TinySR(), QuantConfig(), Tag)
    assert {n: p.bits for n, p in plan.items()} == {"head": (32, 32), "body": (8, 8), "tail": (32, 32)}
    assert isinstance(model.body, QuantLayer) and isinstance(model.head, nn.Conv2d)


def test_mixed_precision_and_output_unchanged_by_identity_quantizers():
    ref = TinySR()
    x = torch.randn(1, 3, 6, 6)
    want = ref(x)
    cfg = QuantConfig(keep_fp=[], layers={"tail": {"weight": 4, "activation": 6}})
    model, plan = quantize_model(ref, cfg, Tag)
    assert plan["tail"].bits == (4, 6) and plan["head"].bits == (8, 8)
    assert torch.allclose(model(x), want)
    assert sorted(t.bits for t in tags(model)) == [4, 6, 8, 8, 8, 8]


def test_skip_and_upsampler_quantizers_are_inserted():
    cfg = QuantConfig(quantize_skips=True, quantize_upsampler_input=True)
    model, _ = quantize_model(TinySR(), cfg, Tag)
    model(torch.randn(1, 3, 6, 6))
    inserted = [m for n, m in model.named_modules() if n.startswith("act_q")]
    assert len(inserted) == 3  # two inputs of the residual add, one upsampler input
    assert all(t.calls == 1 for t in inserted)


def test_unknown_layer_name_is_a_clear_error():
    with pytest.raises(QsrbenchError, match=r"quant.layers.bdy: 'bdy' is not a conv/linear layer.*did you mean body"):
        quantize_model(TinySR(), QuantConfig(layers={"bdy": {"weight": 4}}), Tag)


def test_execution_order_follows_the_forward_not_registration():
    class Reordered(TinySR):
        def __init__(self):
            super().__init__()
            self.tail, self.head = self.head, self.tail  # registered order differs from use

        def forward(self, x):
            return self.up(self.head(self.body(self.tail(x))))

    assert execution_order(Reordered(), (1, 3, 4, 4)) == ["tail", "body", "head"]


def test_bits_out_of_range_rejected():
    with pytest.raises(ValueError):
        QuantConfig(weight={"bits": 0})
    with pytest.raises(ValueError):
        QuantConfig(layers={"body": {"activation": 33}})


def test_conv_transpose_is_quantized_per_output_channel():
    """A transposed conv (SMSR's mask branch) runs its own op under fake quant, and per-channel
    weight quantization is per *output* channel, i.e. along dim 1 of its (in, out, k, k) weight."""
    from qsrbench.quant.config import QuantConfig, TensorQuant
    from qsrbench.quant.convert import quantize_model
    from qsrbench.quant.modules import make_quantizer
    from qsrbench.quant.uniform import fake_quant, qparams_from_range

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),
                              torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
                              torch.nn.Conv2d(2, 3, 3, padding=1))
    with torch.no_grad():
        net[1].weight[:, 1] *= 50  # output channel 1 has a 50x larger range
    ref = torch.nn.functional.conv_transpose2d
    cfg = QuantConfig(weight=TensorQuant(bits=4, granularity="per-channel", symmetric=True),
                      activation=TensorQuant(bits=32), keep_fp=[])
    wt = net[1].weight.detach().clone()
    qnet, _ = quantize_model(net, cfg, make_quantizer)
    layer = qnet[1]
    x = torch.randn(1, 4, 5, 6)
    expected_w = torch.stack([fake_quant(wt[:, c], qparams_from_range(
        wt[:, c].min(), wt[:, c].max(), 4, symmetric=True)) for c in range(2)], dim=1)
    got = layer(x)
    want = ref(x, expected_w, layer.layer.bias, 2, 1, 1)
    assert got.shape == (1, 2, 10, 12)
    assert torch.allclose(got, want, atol=1e-6)
