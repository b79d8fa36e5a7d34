"""QuantNAS (issue 17): the noise proxy, HWGQ, the entropy schedule, the BitOps penalty, the
supernet's expected BitOps, one-hot = derived network, derivation, the counter on the derived
network, and bad specs. Oracles: the formulas by hand, the authors' schedule values at E = 20,
and MAC counts by hand."""

from __future__ import annotations

import pytest
import torch

from qsrbench.errors import QsrbenchError, SpecError
from qsrbench.quant.proxy import HWGQ_STEPS, hwgq, range_noise
from qsrbench.testing import edited_spec

from reference.quantnas import QuantNAS, bitops_penalty, entropy_weight
from reference.quantnas_space import (BASIC_SPACE, OPS, QuantSRNet, derived_choices, supernet_choices)

SMOKE = "suites/specs/quantnas/quantnas-basic-x4-smoke.toml"


@pytest.mark.parametrize("distribution,var_n", [("gaussian", 0.25), ("uniform", 1 / 12)])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_noise_variance_is_the_formula(distribution, var_n, bits):
    x = torch.rand(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 - 1
    x.requires_grad_(True)
    noisy = range_noise(x, bits, distribution, generator=torch.Generator().manual_seed(1))
    assert not noisy.requires_grad  # the whole noisy tensor is detached
    expected = (float(x.detach().max() - x.detach().min()) / (2**bits - 1)) ** 2 * var_n
    # sample variance of 1e6 draws: relative standard error sqrt(2 / n) = 0.14 %
    assert float((noisy - x.detach()).var()) == pytest.approx(expected, rel=0.01)


def test_hwgq_by_hand():
    step = HWGQ_STEPS[2]  # 0.6356: levels 0, Δ, 2Δ, 3Δ
    x = torch.tensor([-1.0, 0.3, 0.32, 1.0, 5.0], requires_grad=True)
    y = hwgq(x, 2)
    assert torch.allclose(y, torch.tensor([0.0, 0.0, step, 2 * step, 3 * step]))
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # straight through inside [0, 3Δ] only
    with pytest.raises(QsrbenchError, match="HWGQ has no step for 3 bits"):
        hwgq(x, 3)


def test_entropy_schedule_matches_the_authors_values_at_E20():
    # the code's w1 · w2 at E = 20 (warm-up 5 epochs): 0 before epoch 5, then
    # 5/19 · log 2 / log 16 = 0.0658, 10/19 · log 7 / log 16 = 0.3694, 15/19 · log 12 / log 16 = 0.7075, 1
    assert [entropy_weight(e, 20, 1.0) for e in range(5)] == [0.0] * 5
    assert entropy_weight(5, 20, 1.0) == pytest.approx(5 / 19 * 0.25)
    assert entropy_weight(10, 20, 1e-3) == pytest.approx(1e-3 * 0.36936, rel=1e-4)
    assert entropy_weight(15, 20, 1e-3) == pytest.approx(1e-3 * 0.70749, rel=1e-4)
    assert entropy_weight(19, 20, 1e-3) == pytest.approx(1e-3)
    assert entropy_weight(0, 1, 1.0) == pytest.approx(1.0)  # a one-epoch search: full weight


def test_bitops_penalty_by_hand():
    f0 = 100.0  # bounds F0 / 1.25 = 80 and 1.25 F0 = 125
    assert float(bitops_penalty(torch.tensor(80.0), f0, 2.0, 1.25)) == pytest.approx(0.0)
    assert float(bitops_penalty(torch.tensor(125.0), f0, 2.0, 1.25)) == pytest.approx(2.0)
    assert float(bitops_penalty(torch.tensor(100.0), f0, 2.0, 1.25)) == pytest.approx(2.0 * 20 / 45)


def _macs(op: str, cin: int, cout: int, hw: int) -> int:
    """MACs of one operation by hand: H·W·Cout·(Cin/g)·kh·kw per conv, same padding."""
    total, c = 0, cin
    for kh, kw, g in OPS[op]:
        total += hw * cout * (c // g) * kh * kw
        c = cout
    return total


SHAPES = {"head1": (3, 12), "head2": (12, 12), "body1": (12, 12), "body2": (12, 12), "skip": (12, 12),
          "upsample": (12, 48), "tail1": (3, 12), "tail2": (12, 3)}


def test_expected_bitops_at_uniform_alpha_by_hand():
    net = QuantSRNet(supernet_choices(BASIC_SPACE, [4, 8]), channels=12, cells=2, scale=4)
    net(torch.rand(1, 3, 6, 5))
    expected = 0.0
    for pos, kind in [("head1", "head"), ("head2", "head"), *[(p, k) for _ in range(2) for p, k in
                      (("body1", "body"), ("body2", "body"), ("skip", "skip"))],
                      ("upsample", "upsample"), ("tail1", "tail"), ("tail2", "tail")]:
        hw = 30 * 16 if pos.startswith("tail") else 30
        ops = BASIC_SPACE[kind]
        for op in ops:  # p = 1 / (|ops| · 2) per (op, bits); FLOPs = 2 MACs; one bit factor
            expected += sum(2 * _macs(op, *SHAPES[pos], hw) * b / (len(ops) * 2) for b in (4, 8))
    assert float(net.expected_bitops().detach()) == pytest.approx(expected, rel=1e-6)


CHOICE = {"head1": ("conv5x5_g3", 8), "head2": ("conv3x3", 4), "body1": ("conv5x1_1x5", 4),
          "body2": ("conv3x3", 8), "skip": ("conv1x1", 4), "upsample": ("conv3x3_g3", 8),
          "tail1": ("conv5x5", 4), "tail2": ("conv3x3_g3", 8)}


def _copy_chosen(supernet: QuantSRNet, derived: QuantSRNet) -> None:
    """Give the derived network the supernet's weights of the chosen operations."""
    state, mine = supernet.state_dict(), derived.state_dict()
    for name in mine:
        if name.startswith("alpha."):
            continue
        if ".ops.0." not in name:
            mine[name] = state[name]
            continue
        pos = name.split(".ops.0.")[0].split(".")[-1]
        op, b = CHOICE[pos]
        k, j = supernet.choices[pos][0].index(op), supernet.choices[pos][1].index(b)
        mine[name] = state[name.replace(".ops.0.", f".ops.{k}.").replace(".lsq.0.", f".lsq.{j}.")]
    derived.load_state_dict(mine)


def test_one_hot_supernet_is_exactly_the_derived_network():
    torch.manual_seed(0)
    supernet = QuantSRNet(supernet_choices(BASIC_SPACE, [4, 8]), channels=12, cells=2, scale=4, mode="direct")
    derived = QuantSRNet(derived_choices(CHOICE), channels=12, cells=2, scale=4, mode="direct")
    _copy_chosen(supernet, derived)
    supernet.fix(CHOICE)
    x = torch.rand(2, 3, 7, 6)
    assert torch.equal(supernet(x), derived(x))


def test_derivation_is_the_joint_argmax():
    net = QuantSRNet(supernet_choices(BASIC_SPACE, [4, 8]), channels=12, cells=1)
    with torch.no_grad():
        for pos, (op, b) in CHOICE.items():
            ops, bits = net.choices[pos]
            net.alpha[pos][ops.index(op) * 2 + bits.index(b)] = 0.5
            net.alpha[pos][0] = 0.4  # the runner-up
    assert net.derive() == CHOICE


def test_derived_network_bitops_equal_the_hand_count():
    net = QuantSRNet(derived_choices(CHOICE), channels=12, cells=2, scale=4, mode="direct")
    method = QuantNAS()
    method._final[(4, "noise")] = net
    costs = method.layer_costs(None, 4, "noise", lr_size=(6, 5))
    by_hand = 0
    for pos, (op, b) in CHOICE.items():
        hw = 30 * 16 if pos.startswith("tail") else 30
        repeat = 2 if pos in ("body1", "body2", "skip") else 1
        by_hand += repeat * _macs(op, *SHAPES[pos], hw) * b * b
    by_hand += (2 + 2) * 1 * 32 * 32  # the ADQ scalars' 1x1 convs (2 cells, body, tail): 1 MAC each, FP
    assert sum(c.bitops for c in costs) == by_hand


@pytest.mark.parametrize("changes,field", [
    ({"method.search.space": {**BASIC_SPACE, "body": ["conv3x3", "conv9x9"]}}, "method.search"),
    ({"method.search.space": {**BASIC_SPACE, "skip": []}}, "method.search"),
    ({"method.search.bits": [3, 8]}, "method.search"),
    ({"method.search.channels": 10}, "method.search.channels"),
    ({"method.search.patch": 30}, "method.search.patch"),
    ({"method.modes": ["noisy"]}, "method.modes.0"),
    ({"model": {"name": "imdn"}}, "model"),
    ({"method.search.sets": ["Set5"]}, "method.search.sets.0"),
    ({"method.search.alpha_warmup": 2}, "method.search.alpha_warmup"),
    ({"method.search.space": {**BASIC_SPACE, "neck": ["conv3x3"]}}, "method.search.space"),
    ({"method.search.bits": [4, 4]}, "method.search.bits"),
    ({"method.modes": ["noise", "noise"]}, "method.modes"),
])
def test_bad_specs_name_the_field(changes, field):
    with pytest.raises(SpecError) as err:
        edited_spec(SMOKE, **changes)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


def test_unknown_operation_message_names_it():
    with pytest.raises(SpecError) as err:
        edited_spec(SMOKE, **{"method.search.space": {**BASIC_SPACE, "body": ["conv9x9"]}})
    assert any("unknown operation 'conv9x9'" in p for p in err.value.problems)


def test_noise_mixing_coefficients_by_hand():
    """A constant input and a one-element weight have zero range, so their noisy copies equal
    them and the mix shows its coefficients: f = 1/3 FP share (bits {4, 8}) plus p_b / (Σ p + f),
    not renormalised: with p = (1/4, 1/4), x̃ = (1/3 + 2 · (1/4) / (5/6)) x = 14/15 x; the gradient reaches x through the FP
    share only (the noisy copies are detached)."""
    from reference.quantnas_space import _QConv

    conv = _QConv(1, 1, 1, 1, 1, [4, 8])
    with torch.no_grad():
        conv.weight.fill_(0.8)
    x = torch.full((1, 1, 3, 3), 0.6, requires_grad=True)
    out = conv(x, torch.tensor([0.25, 0.25]), "noise", "gaussian")
    assert torch.allclose(out, torch.full_like(out, (14 / 15) ** 2 * 0.6 * 0.8))
    out.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 1 / 3 * 14 / 15 * 0.8))
    assert float(conv.weight.grad) == pytest.approx(9 * 1 / 3 * 14 / 15 * 0.6)


def test_loaded_network_keeps_its_trained_lsq_steps():
    """A derived network loaded from a state dict (a finished or resumed run) must not initialise
    its LSQ steps again on its first call (LSQQuantizer's flag is a plain attribute)."""
    torch.manual_seed(0)
    trained = QuantSRNet(derived_choices(CHOICE), channels=12, cells=1, mode="direct")
    x = torch.rand(1, 3, 6, 6)
    trained(x)
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if name.endswith(".step"):
                p.mul_(1.7)  # "trained" steps, away from their initial values
    loaded = QuantSRNet(derived_choices(CHOICE), channels=12, cells=1, mode="direct")
    loaded.load_state_dict(trained.state_dict())
    assert torch.equal(loaded(x), trained(x))
    steps = {n: float(p) for n, p in loaded.named_parameters() if n.endswith(".step")}
    assert steps == {n: float(p) for n, p in trained.named_parameters() if n.endswith(".step")}


def test_costs_of_a_network_scored_in_float64():
    net = QuantSRNet(derived_choices(CHOICE), channels=12, cells=1, scale=4, mode="direct")
    net(torch.rand(1, 3, 6, 5))
    method = QuantNAS()
    method._final[(4, "noise")] = net.to(torch.float64)  # Float64Eval converts the scored network in place
    assert sum(c.bitops for c in method.layer_costs(None, 4, "noise", lr_size=(6, 5))) > 0


def test_search_result_is_kept_and_reused(tmp_path):
    """A finished or killed retraining must not search again: the run folder keeps the result."""
    method, calls = QuantNAS(), []

    def search(spec, scale, ctx, mode):
        calls.append(mode)
        return dict(CHOICE), {"search_s": 1.5, "iterations": 4}

    method.search = search
    path = tmp_path / "run" / "search.json"
    first = method.search_once(None, 4, None, "noise", path)
    again = method.search_once(None, 4, None, "noise", path)
    assert calls == ["noise"] and first[0] == again[0] == CHOICE
    assert (first[1]["reused"], again[1]["reused"], again[1]["search_s"]) == (False, True, 1.5)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(QsrbenchError, match="search.json: not a search result of this harness"):
        method.search_once(None, 4, None, "noise", path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_expected_bitops_on_cuda():
    net = QuantSRNet(supernet_choices(BASIC_SPACE, [4, 8]), channels=12, cells=1, scale=4).cuda()
    net(torch.rand(1, 3, 6, 5, device="cuda"))
    cpu = QuantSRNet(supernet_choices(BASIC_SPACE, [4, 8]), channels=12, cells=1, scale=4)
    cpu(torch.rand(1, 3, 6, 5))
    assert float(net.expected_bitops().detach()) == pytest.approx(float(cpu.expected_bitops().detach()))
