"""QuantNAS's RFDN-inspired space (issue 17): positions and shapes, the derived network's BitOps
and the supernet's expected BitOps against MAC counts by hand (ESA's strided conv and pooled
branch included), one-hot supernet = derived network, fixed layers quantized directly in noise
mode, and bad specs. Oracles: the authors' layout (On-Point-RND/QuantNAS @ a74390e) and hand counts."""

from __future__ import annotations

import pytest
import torch

from qsrbench.errors import SpecError
from qsrbench.testing import edited_spec

from reference.quantnas import QuantNAS
from reference.quantnas_rfdn import RFDN_SPACE, RFDNSearchNet, _ESA
from reference.quantnas_space import derived_choices, supernet_choices

SMOKE = "suites/specs/quantnas/quantnas-rfdn-x4-smoke.toml"

# 12 channels, 1 cell, x4, a 16 x 16 LR input (HR 64 x 64)
CHOICE = {"cell1_body1": ("growth1_3x3", 4), "cell1_body2": ("conv5x5_g2", 8), "cell1_body3": ("conv1x1", 4),
          "cell1_body4": ("conv3x3", 8), "cell1_skip1": ("conv3x3_g2", 4), "cell1_skip2": ("growth1_1x1", 8),
          "cell1_skip3": ("conv5x5", 4), "upsample": ("conv3x3", 4), "tail": ("growth1_5x5", 8)}
LR, HR = 16 * 16, 64 * 64
# MACs by hand: H·W·Cout·(Cin/groups)·kh·kw per conv; growth ops widen to C = 12 first
SEARCHED_MACS = {
    "cell1_body1": LR * 12 * 12 * 9 * 2,        # 12 -> 12 -> 12, 3x3 twice
    "cell1_body2": LR * 12 * 6 * 25,            # 12 -> 12, 5x5, 2 groups
    "cell1_body3": LR * 12 * 12,                # 12 -> 12, 1x1
    "cell1_body4": LR * 6 * 12 * 9,             # 12 -> 6 (the last body layer halves)
    "cell1_skip1": LR * 6 * 6 * 9,              # 12 -> 6, 3x3, 2 groups
    "cell1_skip2": LR * (12 * 12 + 6 * 12),     # 12 -> 12 -> 6, 1x1 twice
    "cell1_skip3": LR * 6 * 12 * 25,            # 12 -> 6, 5x5
    "upsample": LR * 48 * 12 * 9,               # 12 -> 3·4², 3x3
    "tail": HR * (12 * 3 * 25 + 3 * 12 * 25),   # 3 -> 12 -> 3 at HR, 5x5 twice
}
FIXED_MACS = (LR * 12 * 24                      # the cell's fusion 1x1, 4 x 6 -> 12
              + LR * 3 * 12 + LR * 3 * 3        # ESA conv1 (12 -> 3) and conv_f (3 -> 3), 1x1
              + 7 * 7 * 3 * 3 * 9               # ESA conv2: 3x3, stride 2, no padding: 16 -> 7
              + 3 * (1 * 3 * 3 * 9)             # conv_max, conv3, conv3_ on the 1x1 pooled map (7x7 pool, stride 3)
              + LR * 12 * 3                     # ESA conv4, 3 -> 12
              + LR * 12 * 12 + LR * 12 * 12 * 9)  # after the cells: 1x1 (12 -> 12), 3x3 (12 -> 12)


def _net(choices, mode="direct"):
    return RFDNSearchNet(choices, channels=12, cells=1, scale=4, mode=mode)


def _supernet_choices():
    return supernet_choices(RFDN_SPACE, [4, 8], RFDNSearchNet.positions(1))


def test_positions_and_shapes_are_the_authors_layout():
    pos = RFDNSearchNet.positions(4)
    assert len(pos) == 4 * (4 + 3) + 2  # body 4 and skip 3 layers per cell, upsample, tail
    shapes = RFDNSearchNet.shapes(48, 4, 4)
    assert shapes["cell2_body1"] == (48, 48) and shapes["cell2_body4"] == (48, 24)
    assert shapes["cell3_skip2"] == (48, 24) and shapes["upsample"] == (48, 48) and shapes["tail"] == (3, 3)
    assert all(not op.endswith("_g2") for op in RFDN_SPACE["tail"])  # 3 channels: no 2-group op


def test_derived_network_bitops_equal_the_hand_count():
    net = _net(derived_choices(CHOICE))
    method = QuantNAS()
    method._final[(4, "noise")] = net
    costs = method.layer_costs(None, 4, "noise", lr_size=(16, 16))
    by_hand = sum(SEARCHED_MACS[pos] * b * b for pos, (_, b) in CHOICE.items()) + FIXED_MACS * 8 * 8
    assert sum(c.bitops for c in costs) == by_hand


def test_expected_bitops_of_the_fixed_supernet_by_hand():
    """Search-time BitOps count the searched layers only, FLOPs (2 MACs) times one bit factor."""
    net = _net(_supernet_choices())
    net.fix(CHOICE)
    net(torch.rand(1, 3, 16, 16))
    expected = sum(2 * SEARCHED_MACS[pos] * b for pos, (_, b) in CHOICE.items())
    assert float(net.expected_bitops().detach()) == expected


def _copy_chosen(supernet, derived, choice) -> None:
    """Give the derived network the supernet's weights of the chosen operations and its fixed layers."""
    mine = derived.state_dict()
    for (pos, big), (_, small) in zip(supernet.layers(), derived.layers()):
        op, b = choice[pos]
        k, j = supernet.choices[pos][0].index(op), supernet.choices[pos][1].index(b)
        for name, value in big.ops[k].state_dict().items():
            if ".lsq." in name and f".lsq.{j}." not in name:
                continue
            small.ops[0].state_dict()[name.replace(f".lsq.{j}.", ".lsq.0.")].copy_(value)
    state = supernet.state_dict()
    for name in mine:
        if ".ops." not in name and not name.startswith("alpha."):
            mine[name].copy_(state[name])


def test_one_hot_supernet_is_exactly_the_derived_network():
    torch.manual_seed(0)
    supernet, derived = _net(_supernet_choices()), _net(derived_choices(CHOICE))
    _copy_chosen(supernet, derived, CHOICE)
    supernet.fix(CHOICE)
    x = torch.rand(2, 3, 16, 17)
    assert torch.equal(supernet(x), derived(x))


def test_cell_wiring_by_hooks():
    """Inside a cell each of the first three body layers adds to its input (a residual), the skip
    layers read the running sum, the cell's input is the 3-channel image repeated to C, the
    upsampler reads the post-cell 3x3 plus that repeated image, and the tail's output is added."""
    torch.manual_seed(0)
    net, seen = _net(derived_choices(CHOICE)), {}
    for pos, layer in [*net.layers(), ("smooth", net.smooth)]:
        layer.register_forward_hook(lambda m, args, out, pos=pos: seen.update({pos: (args[0], out)}))
    x = torch.rand(1, 3, 16, 16)
    net(x)
    assert torch.equal(seen["cell1_body1"][0], x.repeat(1, 4, 1, 1))
    assert torch.equal(seen["cell1_skip1"][0], seen["cell1_body1"][0])
    for j in (1, 2, 3):
        body_in, body_out = seen[f"cell1_body{j}"]
        nxt = seen[f"cell1_body{j + 1}"][0]
        assert torch.equal(nxt, body_in + body_out)
        if j < 3:
            assert torch.equal(seen[f"cell1_skip{j + 1}"][0], nxt)
    assert torch.equal(seen["upsample"][0], seen["smooth"][1] + x.repeat(1, 4, 1, 1))
    tail_in, tail_out = seen["tail"]
    assert torch.equal(net(x), tail_in + tail_out)


def test_fixed_layers_are_quantized_directly_in_noise_mode():
    """ESA and the fusion convs take no noise (the authors' quant_noise=False): two draws agree."""
    torch.manual_seed(0)
    esa, x = _ESA(12, 8), torch.rand(2, 12, 16, 16)
    torch.manual_seed(1)
    first = esa(x, "gaussian")
    torch.manual_seed(2)
    assert torch.equal(first, esa(x, "gaussian"))
    net, x = _net(_supernet_choices(), mode="noise"), torch.rand(1, 3, 16, 16)
    torch.manual_seed(1)
    first = net(x)
    torch.manual_seed(2)
    assert not torch.equal(first, net(x))  # while the searched layers are noisy


@pytest.mark.parametrize("changes,field", [
    ({"method.search.patch": 56}, "method.search.patch"),      # 14-pixel LR: ESA needs 15
    ({"method.train.patch": 48}, "method.train.patch"),
    ({"method.search.channels": 18}, "method.search.channels"),  # not a multiple of 12
    ({"scales": [3]}, "method.search.space"),                  # 3·3² = 27 channels: no 2-group upsample
    ({"method.search.space": {**RFDN_SPACE, "head": ["conv3x3"]}}, "method.search.space"),
])
def test_bad_rfdn_specs_name_the_field(changes, field):
    with pytest.raises(SpecError) as err:
        edited_spec(SMOKE, **changes)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems
