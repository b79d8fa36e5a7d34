"""DQSS (issue 17): the derived layer equals the one-hot relaxation, derivation is the argmax,
calibration sees the FP network's inputs, DQSS's BitOps equal uniform PTQ's at the same bits,
and bad specs name their field."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from qsrbench.errors import SpecError
from qsrbench.models import create_model
from qsrbench.testing import edited_spec

from reference.dqss import ACTIVATION, DQSS, WEIGHT, calibrate_composites, derive, make_composites, searchable_layers
from reference.ptq import PTQ

SMOKE = "suites/specs/dqss/dqss-imdn-x4-w4a4-smoke.toml"
PTQ_SPEC = "suites/specs/ptq/imdn-x4/ptq-imdn-x4-w4a4.toml"


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 3, 1)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def _composite_net(acts, weights):
    torch.manual_seed(0)
    fp = _Net().eval()
    q = copy.deepcopy(fp)
    layers = make_composites(q, ["b"], acts, weights, 4)
    batches = [torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    calibrate_composites(fp, layers, batches)
    return fp, q, layers, batches


def test_calibration_observes_the_fp_inputs():
    fp, _, layers, batches = _composite_net(["minmax", "pams"], ["minmax"])
    with torch.no_grad():
        inputs = torch.cat([torch.relu(fp.a(x)).flatten() for x in batches])
    minmax, pams = layers["b"].act_quantizers
    qp = minmax.qparams  # asymmetric 4-bit grid over [min, max] of every calibration input
    assert float(qp.scale) == pytest.approx(float(inputs.max() - inputs.min()) / 15, rel=1e-6)
    assert float(pams.alpha) == pytest.approx(float(inputs.abs().max()))


def test_derived_layer_is_the_one_hot_relaxation_and_the_argmax():
    _, q, layers, batches = _composite_net(list(ACTIVATION), list(WEIGHT))
    layer = layers["b"]
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.0, 0.1, 0.9, 0.2, 0.0, 0.3]))  # argmax: mse
        layer.beta.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.7, 0.1]))  # argmax: dorefa
    assert layer.choice() == (2, 4)
    layer.fix(2, 4)
    with torch.no_grad():
        relaxed = q(batches[0])
    choices = derive(q, layers, list(ACTIVATION), list(WEIGHT))
    assert (choices["b"]["activation"], choices["b"]["weight"]) == ("mse", "dorefa")
    with torch.no_grad():
        assert torch.equal(q(batches[0]), relaxed)


def test_bitops_equal_uniform_ptq_at_the_same_bits():
    """DQSS quantizes exactly the layers uniform PTQ does, so both count the same BitOps."""
    dqss_spec, ptq_spec = edited_spec(SMOKE), edited_spec(PTQ_SPEC)
    ptq = PTQ()
    mine = DQSS().layer_costs(dqss_spec, 4, "search")
    theirs = ptq.layer_costs(ptq_spec, 4, ptq.variants(ptq_spec)[0])
    assert [(c.name, c.weight_bits, c.activation_bits) for c in mine] == [
        (c.name, c.weight_bits, c.activation_bits) for c in theirs]
    assert sum(c.bitops for c in mine) == sum(c.bitops for c in theirs)
    assert sum(c.weight_bits == 4 for c in mine) == 6 * 7 + 2  # IMDN: 6 IMDBs x (c1-c5 + 2 CCA), fusion c, LR_conv


@pytest.mark.parametrize("changes,field,text", [
    ({"bits.activation": 8}, "bits", "one shared bit-width"),
    ({"bits.weight": 1, "bits.activation": 1}, "method.activation_strategies", "pams"),
    ({"method.activation_strategies": ["minmax", "dorefa"]}, "method.activation_strategies.1", ""),
    ({"method.weight_strategies": ["pact"]}, "method.weight_strategies.0", ""),
    ({"method.baselines": [["mse", "hwgq"]]}, "method.baselines.0", ""),
    ({"model.weights": None}, "model.weights", "pretrained"),
    ({"method.calib_set": "Set5"}, "method.calib_set", "training set"),
])
def test_bad_specs_name_the_field(changes, field, text):
    with pytest.raises(SpecError) as err:
        edited_spec(SMOKE, **changes)
    assert any(p.startswith(field) and text in p for p in err.value.problems), err.value.problems


QAT_SMOKE = "suites/specs/dqss/dqss-qat-imdn-x4-w4a4-smoke.toml"


@pytest.mark.parametrize("changes,field,text", [
    ({"bits.activation": 8}, "bits", "one shared bit-width"),
    ({"method.train.patch": 50}, "method.train.patch", "multiple"),
    ({"method.search_steps": 10}, "method.search_steps", ""),
])
def test_qat_mode_checks_both_tables(changes, field, text):
    with pytest.raises(SpecError) as err:
        edited_spec(QAT_SMOKE, **changes)
    assert any(p.startswith(field) and text in p for p in err.value.problems), err.value.problems


def test_qat_mode_trains_relaxations_with_the_quantizers_and_costs_like_ptq_mode():
    from reference.dqss_qat import DQSSQAT

    m = DQSSQAT()
    assert [m.is_quant_param(n) for n in ("IMDB1.c1.alpha", "IMDB1.c1.beta", "IMDB1.c1.act_quantizers.3.step",
                                          "IMDB1.c1.conv.weight", "IMDB1.c1.conv.bias")] == [True] * 3 + [False] * 2
    qat, ptq = edited_spec(QAT_SMOKE), edited_spec(SMOKE)
    assert m.variants(qat) == ["search", "fixed mse/mse"]
    assert sum(c.bitops for c in m.layer_costs(qat, 4, "search")) == sum(
        c.bitops for c in DQSS().layer_costs(ptq, 4, "search"))
