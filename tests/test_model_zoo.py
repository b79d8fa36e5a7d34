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
