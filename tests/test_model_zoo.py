"""Shipped checkpoints: exact parameter counts, strict loading, and the paper PSNR/SSIM on Set5/Set14.

Oracles: ``params_total`` of ``shared/weights/manifest.json`` and the claims in each spec's
``expected`` (paper tables, or the manifest's independent measurement where no table exists).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qsrbench.methods import RunContext
from qsrbench.models import create_model
from qsrbench.models.weights import CheckpointError, load_checkpoint
from qsrbench.runner import run_spec
from qsrbench.spec import load_spec
from qsrbench.store import ResultStore

REPO = Path(__file__).resolve().parent.parent
CHECKPOINTS = [("imdn", 2, "imdn_x2.pth", "fp-imdn-x2"), ("imdn", 4, "imdn_x4.pth", "fp-imdn-x4"),
               ("imdn-rtc", 2, "imdn_rtc_x2.pth", "fp-imdn-rtc-x2"),
               ("pan", 2, "pan_x2.pth", "fp-pan-x2"), ("pan", 4, "pan_x4.pth", "fp-pan-x4"),
               ("rfdn", 4, "rfdn_x4.pth", "fp-rfdn-x4")]


def test_a2n_loads_strictly_with_exact_params(weights):
    """A2N (shipped x2) is built and loads; its PSNR spec is still to be written (manifest flags
    the paper's Set14 value as unverified)."""
    root, info = weights
    net = create_model("a2n", 2)
    assert sum(p.numel() for p in net.parameters()) == info["a2n_x2.pth"]["params_total"]
    load_checkpoint(net, root / "a2n_x2.pth")


@pytest.fixture(scope="module")
def weights(data_root):
    root = data_root.parent / "weights"
    manifest = json.loads((root / "manifest.json").read_text())
    return root, {c["file"]: c for c in manifest["checkpoints"]}


@pytest.mark.parametrize("model,scale,file,spec", CHECKPOINTS, ids=[c[3] for c in CHECKPOINTS])
def test_checkpoint_loads_strictly_with_exact_params(weights, model, scale, file, spec):
    root, info = weights
    net = create_model(model, scale)
    assert sum(p.numel() for p in net.parameters()) == info[file]["params_total"]
    assert load_checkpoint(net, root / file) == info[file]["sha256"]
    out = net(torch.rand(1, 3, 16, 18))  # RFDN's spatial attention needs at least 15x15
    assert out.shape == (1, 3, 16 * scale, 18 * scale)


@pytest.mark.parametrize("model,scale,file,spec", CHECKPOINTS, ids=[c[3] for c in CHECKPOINTS])
def test_paper_psnr_reproduced_on_set5_and_set14(need_set, tmp_path, model, scale, file, spec):
    need_set("Set5"), need_set("Set14")
    parsed = load_spec(REPO / "suites/specs/fp" / f"{spec}.toml")
    summary = run_spec(parsed, ResultStore(tmp_path), RunContext(data_root=need_set("Set5")))
    got = {(r.dataset, r.scale): r.metrics for r in summary.recorded}
    assert parsed.expected
    for exp in parsed.expected:
        for metric, claim in exp.metrics.items():
            tol = parsed.metric(metric)[2]
            assert abs(got[(exp.dataset, exp.scale)][metric] - claim) <= tol, (exp.dataset, metric)


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
