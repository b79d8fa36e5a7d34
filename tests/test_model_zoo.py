"""Shipped checkpoints: exact parameter counts, strict loading, and a claimed FP spec for each.

Oracles: ``params_total`` of ``shared/weights/manifest.json`` and the claims in each spec's
``expected`` (paper tables, or the manifest's independent measurement where no table exists).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qsrbench.models import create_model
from qsrbench.models.weights import CheckpointError, load_checkpoint
from qsrbench.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
CHECKPOINTS = [("imdn", 2, "imdn_x2.pth"), ("imdn", 4, "imdn_x4.pth"),
               ("imdn-rtc", 2, "imdn_rtc_x2.pth"), ("pan", 2, "pan_x2.pth"),
               ("pan", 4, "pan_x4.pth"), ("rfdn", 4, "rfdn_x4.pth"), ("a2n", 2, "a2n_x2.pth"),
               ("carn-m", 2, "carn_m_x4.pth"), ("carn-m", 3, "carn_m_x4.pth"),
               ("carn-m", 4, "carn_m_x4.pth"), ("latticenet", 2, "latticenet_x2.pth"),
               ("latticenet", 4, "latticenet_x4.pth"), ("smsr", 2, "smsr_x2.pth")]
_IDS = [f"{m}-x{s}" for m, s, _ in CHECKPOINTS]


@pytest.fixture(scope="module")
def weights(data_root):
    root = data_root.parent / "weights"
    manifest = json.loads((root / "manifest.json").read_text())
    return root, {c["file"]: c for c in manifest["checkpoints"]}


@pytest.mark.parametrize("model,scale,file", CHECKPOINTS, ids=_IDS)
def test_checkpoint_loads_strictly_with_exact_params(weights, model, scale, file):
    root, info = weights
    net = create_model(model, scale)
    assert sum(p.numel() for p in net.parameters()) == info[file]["params_total"]
    assert load_checkpoint(net, root / file) == info[file]["sha256"]
    out = net(torch.rand(1, 3, 16, 18))  # RFDN's spatial attention needs at least 15x15
    assert out.shape == (1, 3, 16 * scale, 18 * scale)


def test_every_shipped_checkpoint_has_a_claimed_spec(weights):
    """Each checkpoint and scale is evaluated by a small-tier FP spec that claims Set5 and Set14 PSNR
    (the claims themselves are checked by ``suites/test_sr_specs.py::test_sr_eval``)."""
    _, info = weights
    specs = [load_spec(p) for p in sorted((REPO / "suites/specs/fp").glob("*.toml"))]
    claimed = {(s.model.weights, e.scale, e.dataset) for s in specs if s.tier == "small"
               for e in s.expected if "psnr" in e.metrics}
    for c in info.values():
        for scale in [c["scale"], *c.get("also_supports_scales", [])]:
            for ds in ("Set5", "Set14"):
                assert (c["file"], scale, ds) in claimed, (c["file"], scale, ds)


def test_checkpoint_mismatches_are_listed(weights, tmp_path):
    root, _ = weights
    state = torch.load(root / "imdn_rtc_x2.pth", map_location="cpu", weights_only=True)
    bad = dict(state)
    bad.pop("model.2.bias")
    bad["model.9.weight"] = torch.zeros(1)
    bad["model.0.weight"] = torch.zeros(12, 3, 5, 5)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(create_model("imdn-rtc", 2), tmp_path / "bad.pth")
    msg = str(info.value)
    assert "1 missing: model.2.bias" in msg and "1 unexpected: model.9.weight" in msg
    assert "model.0.weight: checkpoint (12, 3, 5, 5) vs model (12, 3, 3, 3)" in msg


@pytest.mark.parametrize("obj", [[1, 2], torch.zeros(3), {"a": 1}])
def test_not_a_state_dict(tmp_path, obj):
    torch.save(obj, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_checkpoint(create_model("imdn-rtc", 2), tmp_path / "x.pth")


def test_missing_weights_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(create_model("imdn-rtc", 2), tmp_path / "nope.pth")


def test_imdn_contrast_std_is_numpy_std_with_a_finite_gradient_on_constant_channels():
    """IMDN's contrast-aware attention uses the population std over positions. Oracle: numpy's
    ``std(ddof=0)`` for the value and the analytic derivative ``(x - mean) / (N std)`` for the
    gradient; a constant channel (reached in quantized training) must give a zero, not NaN,
    gradient — plain ``var.sqrt()`` gives NaN there (checked, so the test can fail)."""
    from qsrbench.models.imdn import population_std

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    x[1, 2] = 0.25  # a constant channel
    x.requires_grad_(True)
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = population_std(x, mean)
    ref = x.detach().numpy().std(axis=(2, 3), ddof=0)
    torch.testing.assert_close(std.detach().squeeze(), torch.from_numpy(ref), rtol=1e-14, atol=0)
    assert std[1, 2].item() == 0.0
    std.sum().backward()
    xd = x.detach()
    m = xd.mean(dim=(2, 3), keepdim=True)
    s = torch.from_numpy(ref)[..., None, None]
    analytic = torch.where(s > 0, (xd - m) / (20 * s.clamp_min(1e-300)), torch.zeros_like(xd))
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, analytic, rtol=1e-10, atol=1e-12)

    x2 = x.detach().clone().requires_grad_(True)
    naive = (x2 - x2.mean(dim=(2, 3), keepdim=True)).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
    naive.sum().backward()
    assert torch.isnan(x2.grad[1, 2]).all()  # what the helper exists to avoid


def test_imdn_attention_value_unchanged_by_the_safe_std():
    """The safe std must leave the forward bit-identical to ``var.sqrt()`` (shipped checkpoints'
    scores depend on it)."""
    from qsrbench.models.imdn import population_std

    x = torch.randn(1, 64, 9, 7, generator=torch.Generator().manual_seed(1))
    mean = x.mean(dim=(2, 3), keepdim=True)
    plain = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
    assert torch.equal(population_std(x, mean), plain)
