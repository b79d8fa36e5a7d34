"""DQSS on CIFAR-10 (issue 17): the classifier by hand (parameters, MACs and BitOps with the first
conv and the FC in FP), BN folding against the unfolded network, the crop-and-flip augmentation
against plain slicing, the per-image correctness encoding, and bad specs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qsrbench.errors import SpecError
from qsrbench.testing import edited_spec

from reference.dqss import searchable_layers
from qsrbench.strategy_cls_board import correct_bits
from reference.dqss_cifar import _augment, classifier_costs, correct_hex, fold_bn, vgg_small

SMOKE = "suites/specs/dqss/dqss-cifar-vgg-w4a4-smoke.toml"


def test_vgg_small_parameters_by_hand():
    w = 8
    convs = 9 * (3 * w + w * w + w * 2 * w + 2 * w * 2 * w + 2 * w * 4 * w + 4 * w * 4 * w)
    bns = 2 * (w + w + 2 * w + 2 * w + 4 * w + 4 * w)
    fc = 4 * w * 4 * 4 * 10 + 10
    assert sum(p.numel() for p in vgg_small(w).parameters()) == convs + bns + fc


def test_bitops_by_hand_first_conv_and_fc_in_fp():
    w = 8
    net = fold_bn(vgg_small(w))
    names = searchable_layers(net, 4, ["first", "last"], (1, 3, 32, 32))
    assert names == ["3", "7", "10", "14", "17"]  # convs 2..6 (Sequential indices), not conv 1 or the FC
    macs = [32 * 32 * w * 3 * 9, 32 * 32 * w * w * 9, 16 * 16 * 2 * w * w * 9, 16 * 16 * 2 * w * 2 * w * 9,
            8 * 8 * 4 * w * 2 * w * 9, 8 * 8 * 4 * w * 4 * w * 9, 4 * w * 16 * 10]
    bits = [32, 4, 4, 4, 4, 4, 32]
    costs = classifier_costs(net, names, 4)
    assert [c.macs for c in costs] == macs
    assert sum(c.bitops for c in costs) == sum(m * b * b for m, b in zip(macs, bits))


def test_folded_network_equals_the_network_in_eval():
    torch.manual_seed(0)
    net = vgg_small(4)
    with torch.no_grad():  # BN statistics away from (0, 1), so that folding has work to do
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    x = torch.randn(3, 3, 32, 32)
    folded = fold_bn(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), net.eval()(x), atol=1e-5, rtol=1e-5)


def test_augmentation_is_a_padded_crop_and_a_flip():
    x = torch.arange(4 * 3 * 32 * 32, dtype=torch.float32).view(4, 3, 32, 32)
    out = _augment(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the same order
    dy, dx = torch.randint(0, 9, (4,), generator=g), torch.randint(0, 9, (4,), generator=g)
    flip = torch.rand(4, generator=g) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(4):
        crop = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        assert torch.equal(out[i], crop.flip(2) if flip[i] else crop)


def test_correctness_encoding_by_hand():
    bits = torch.tensor([1, 0, 1, 1, 0, 0, 0, 0, 1], dtype=torch.bool)
    assert correct_hex(bits) == "b080"  # 1011 0000, 1000 0000 (padded)
    assert correct_bits("b080", 9).tolist() == bits.int().tolist()  # what the leaderboard reads back


@pytest.mark.parametrize("changes,field", [
    ({"model": {"name": "imdn"}}, "model"),
    ({"scales": [4]}, "scales"),
    ({"datasets": ["Set5"]}, "datasets.0"),
    ({"bits": {"weight": 4, "activation": 8}}, "bits"),
    ({"method.activation_strategies": ["minmax", "nope"]}, "method.activation_strategies"),
])
def test_bad_specs_name_the_field(changes, field):
    with pytest.raises(SpecError) as err:
        edited_spec(SMOKE, **changes)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems
