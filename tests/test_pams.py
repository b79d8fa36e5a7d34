"""PAMS (reference/pams.py): SKT loss on a hand case, quantizer placement, model size, spec errors.

Oracles: the SKT value of a 2x2x3x3 case computed by hand below; EDSR-baseline x4's parameter
count by hand (Lim et al. 2017: 16 residual blocks of two 64→64 3x3 convs); the paper's
compression claim (2.42x, PAMS abstract) against that arithmetic.
"""

from __future__ import annotations

import re

import pytest
import torch

from qsrbench.errors import SpecError
from qsrbench.models import create_model
from qsrbench.quant.convert import QuantLayer
from qsrbench.quant.modules import UniformQuantizer
from qsrbench.quant.qat import LearnedClip
from qsrbench.quant.size import model_size
from qsrbench.testing import edited_spec

from reference.pams import PAMS, PLACEMENT, attention_map, skt_loss

SMOKE = "suites/specs/qat/pams-pan-x4-w4a4-smoke.toml"


def test_skt_loss_hand_case():
    # sample 0: student channels all ones -> channel mean of squares 1 everywhere -> map 1/3 at
    # each of 9 positions; teacher: 3 at one position of channel 0 -> map (1, 0, ..., 0).
    # Squared differences: (1/3 - 1)^2 + 8 (1/3)^2 = 4/3. Sample 1: equal maps, 0.
    # Mean over 2 x 9 entries: (4/3) / 18 = 2/27.
    s = torch.ones(2, 2, 3, 3)
    t = torch.zeros(2, 2, 3, 3)
    t[0, 0, 0, 0] = 3.0
    t[1] = 2.0  # any constant map normalises to 1/3 everywhere
    assert torch.allclose(attention_map(s)[0], torch.full((9,), 1 / 3))
    assert skt_loss(s, t).item() == pytest.approx(2 / 27, rel=1e-6)


def _spec(**changes):
    return edited_spec(SMOKE, **changes)


@pytest.mark.parametrize("model,expected_quantized", [("pan", 16 * 7), ("imdn", 6 * 7)])
def test_placement_quantizes_the_body_blocks_only(model, expected_quantized):
    spec = _spec(**{"model.name": model, "model.weights": "x.pth"})
    net = create_model(model, 4)
    student = PAMS()._student(spec, net)
    pattern = re.compile(PLACEMENT[model][0])
    quant = {n: m for n, m in student.named_modules() if isinstance(m, QuantLayer)}
    assert len(quant) == expected_quantized  # PAN: 7 convs per SCPA; IMDN: c1-c5 + 2 CCA convs per IMDB
    assert all(pattern.fullmatch(n) for n in quant)
    for m in quant.values():
        assert isinstance(m.input_q, LearnedClip) and m.input_q.bits == 4
        assert isinstance(m.weight_q, UniformQuantizer) and m.weight_q.axis is None and m.weight_q.symmetric
    _, head, tail = PLACEMENT[model]
    assert not isinstance(student.get_submodule(head), QuantLayer)
    assert not isinstance(student.get_submodule(tail), QuantLayer)
    assert PAMS().is_quant_param("SCPA_trunk.0.k1.0.input_q.alpha") and not PAMS().is_quant_param("conv_first.weight")


def test_layer_costs_put_the_body_at_the_spec_bits():
    spec = _spec()
    costs = PAMS().layer_costs(spec, 4, None)
    quantized = [c for c in costs if (c.weight_bits, c.activation_bits) == (4, 4)]
    assert len(quantized) == 16 * 7 and all(c.name.startswith("SCPA_trunk.") for c in quantized)
    assert all((c.weight_bits, c.activation_bits) == (32, 32) for c in costs
               if not c.name.startswith("SCPA_trunk."))


def test_edsr_baseline_8bit_compression_by_arithmetic():
    """EDSR-baseline x4: 1,517,571 parameters, 1,179,648 of them the body-block conv weights
    (32 x 64 x 64 x 9). 8-bit body weights, everything else 32 bits: 32·1,517,571 /
    (8·1,179,648 + 32·337,923) = 2.398x. PAMS's abstract states 2.42x: not reproduced by this
    count (with 8-bit biases too: 2.404x); the claim's basis is not stated in the paper's text
    that we could read."""
    spec = _spec(**{"model.name": "edsr-baseline", "bits.weight": 8, "bits.activation": 8})
    student = PAMS()._student(spec, create_model("edsr-baseline", 4))
    size = model_size(student)
    assert size.parameters - sum(1 for n, _ in student.named_parameters() if n.endswith("alpha")) == 1_517_571
    body = 32 * 64 * 64 * 9
    assert size.bits == 8 * body + 32 * (size.parameters - body)
    assert size.ratio == pytest.approx(32 * size.parameters / (8 * body + 32 * (size.parameters - body)))
    assert round(size.ratio, 3) == pytest.approx(2.398, abs=0.001)
    assert abs(size.ratio - 2.42) > 0.01  # the abstract's 2.42x does not follow from this count


@pytest.mark.parametrize("changes,field", [
    ({"bits.weight": 1}, "bits.weight"),
    ({"model.name": "rfdn", "model.weights": "rfdn.pth"}, "model.name"),
    ({"method.train.patch": 50}, "method.train.patch"),
    ({"method.train.sets": ["Set14"]}, "method.train.sets.0"),
    ({"method.train.lr": -1.0}, "method.train.lr"),
    ({"method.alpha_grad": "lsq"}, "method.alpha_grad"),
    ({"method.train.sets": ["T9l"]}, "method.train.sets.0"),
    ({"method.train.val_set": "T91"}, "method.train.val_set"),
])
def test_bad_specs_name_the_field(changes, field):
    with pytest.raises(SpecError) as err:
        _spec(**changes)
    assert any(p.startswith(field) for p in err.value.problems), err.value.problems


def test_warmup_mode_is_the_spec_choice():
    spec = _spec(**{"method.alpha_warmup": "unclipped"})
    student = PAMS()._student(spec, create_model("pan", 4))
    modes = {m.input_q.init_mode for m in student.modules() if isinstance(m, QuantLayer)}
    assert modes == {"unclipped"}
    assert {m.input_q.init_mode for m in PAMS()._student(_spec(), create_model("pan", 4)).modules()
            if isinstance(m, QuantLayer)} == {"bypass"}  # the smoke spec's choice


def test_weight_granularity_is_the_spec_choice():
    """Per-tensor max-scale weights by default (the paper's); per output channel on request."""
    for granularity, axis in (("per-tensor", None), ("per-channel", 0)):
        spec = _spec(**{"method.weight_granularity": granularity})
        student = PAMS()._student(spec, create_model("pan", 4))
        axes = {m.weight_q.axis for m in student.modules() if isinstance(m, QuantLayer)}
        assert axes == {axis}
    with pytest.raises(SpecError):
        _spec(**{"method.weight_granularity": "per-group"})


def test_pan_w4_per_tensor_weights_blow_up_the_shipped_checkpoint(request, data_root):
    """The finding reference/pams.py documents: PAN x4 at W4A4 cannot take the paper's per-tensor
    weights. On the shipped PAN x4, with activations passed through (the bypass warm-up's first iteration), the 4-bit
    per-tensor weights of SCPA_trunk.0.conv1_b alone take a Set5 LR crop's output from ~1 to
    astronomically large (the first training loss is NaN); per-channel scales keep it near the FP
    output. Oracle: the FP network on the same crop (max |output| ~1, a [0, 1] image)."""
    from PIL import Image

    from qsrbench.data.imresize import imresize
    from qsrbench.methods import RunContext
    from qsrbench.testing import missing_weights
    from reference.fp import pretrained

    spec = edited_spec(SMOKE)  # PAN x4 W4A4 from pan_x4.pth, bypass warm-up
    missing_weights(request.config, spec, data_root)
    with Image.open(data_root / "Set5" / "HR" / "baby.png") as im:
        hr = torch.tensor(list(im.convert("RGB").getdata()), dtype=torch.float64).T.reshape(3, im.height, im.width)
    x = imresize(hr / 255, 1 / 4)[None, :, :48, :48].clamp(0, 1).float()
    ctx = RunContext(data_root=data_root)
    fp = pretrained(spec, 4, ctx).eval()
    outputs = {}
    with torch.no_grad():
        reference = float(fp(x).abs().max())
        for granularity in ("per-tensor", "per-channel"):
            student = PAMS()._student(edited_spec(SMOKE, **{"method.weight_granularity": granularity}),
                                      pretrained(spec, 4, ctx)).train()  # bypass: activations pass
            outputs[granularity] = float(student(x).abs().max())
        layer = pretrained(spec, 4, ctx).eval()
        conv = layer.get_submodule("SCPA_trunk.0.conv1_b")
        step = conv.weight.abs().max() / 7
        conv.weight.copy_(torch.round(conv.weight / step).clamp(-7, 7) * step)  # that layer alone, by hand
        one_layer = float(layer(x).abs().max())
    assert 0.5 < reference < 2
    assert outputs["per-tensor"] > 1e6 and one_layer > 1e6
    assert abs(outputs["per-channel"] - reference) < 0.5


def test_default_granularity_keeps_old_spec_hashes():
    """Specs written before the option keep their hash (their records stay matched); per-channel
    changes the hash (it changes results)."""
    from qsrbench.spec import spec_hash

    base = _spec()
    assert "weight_granularity" not in base.method.model_dump()
    assert spec_hash(_spec(**{"method.weight_granularity": "per-channel"})) != spec_hash(base)
