"""MACs and BitOps against hand counts (the arithmetic is written out; no number comes from the code).

A convolution with C_in input channels, C_out outputs, a k×k kernel, g groups and an H_out×W_out
output does C_out · (C_in / g) · k² · H_out · W_out multiply-accumulates; a linear layer does
in · out per sample.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qsrbench.bitops import count_macs, layer_costs, total_bitops


def test_single_conv():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    assert count_macs(net, (1, 3, 10, 10)) == {"0": 8 * 3 * 9 * 10 * 10}


def test_grouped_strided_and_linear():
    net = nn.Sequential(
        nn.Conv2d(8, 8, 3, padding=1, groups=4),   # 5x5 out
        nn.Conv2d(8, 4, 3, stride=2, padding=1),   # 3x3 out
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 10),
    )
    macs = count_macs(net, (1, 8, 5, 5))
    assert macs == {"0": 8 * (8 // 4) * 9 * 25, "1": 4 * 8 * 9 * 9, "3": 36 * 10}


def test_shared_layer_counts_every_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.conv(self.conv(x))

    assert count_macs(Twice(), (1, 4, 6, 6)) == {"conv": 2 * (4 * 4 * 1 * 36)}


def test_bitops_per_layer_bits_and_fp_default():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 1))
    macs0, macs2 = 8 * 3 * 9 * 100, 12 * 8 * 1 * 100
    fp = layer_costs(net, (1, 3, 10, 10))
    assert total_bitops(fp) == (macs0 + macs2) * 32 * 32
    mixed = layer_costs(net, (1, 3, 10, 10), lambda name, m: (32, 32) if name == "0" else (4, 8))
    assert [c.bitops for c in mixed] == [macs0 * 1024, macs2 * 32]


def test_counting_leaves_the_model_untouched():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    before = net[0].weight.detach().clone()
    count_macs(net, (1, 3, 4000, 4000))  # on the meta device: no memory, no time
    assert net[0].weight.device.type == "cpu" and torch.equal(net[0].weight, before)


def test_imdn_rtc_full_model_hand_count():
    """IMDN-RTC x2 (ARCHITECTURES.md §2) per LR pixel, every conv at LR resolution:
    head 3→12 3x3: 3*12*9 = 324; each of 5 blocks: c1 12→12 3x3 1296 + c2 9→12 3x3 972 +
    c3 9→12 3x3 972 + c4 9→3 3x3 243 + c5 12→12 1x1 144 = 3627; tail 1x1 12→12: 144;
    upsampler conv 12→12 3x3: 1296. Total 324 + 5*3627 + 144 + 1296 = 19899 MACs per LR pixel
    (= the 20,190 parameters of the manifest minus the 291 biases)."""
    from qsrbench.models import create_model
    from qsrbench.registry import models

    if "imdn-rtc" not in models.names():
        pytest.fail("model imdn-rtc is not registered")
    net = create_model("imdn-rtc", 2)
    macs = count_macs(net, (1, 3, 64, 48))
    assert sum(macs.values()) == 19899 * 64 * 48
    assert len(macs) == 1 + 5 * 5 + 1 + 1
