"""Architectures without shipped weights: parameter counts hand-counted from the papers' layer
lists (conv k x k from a to b channels = a*b*k*k + b), and the papers' rounded totals.

Also the zoo's scale handling and SMSR's odd-size spatial mask.
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.errors import QsrbenchError
from qsrbench.models import create_model


def conv(a: int, b: int, k: int = 3) -> int:
    return a * b * k * k + b


def up(scale: int, ch: int = 64) -> int:  # conv(C -> r^2 C) per sub-pixel stage
    return 2 * conv(ch, 4 * ch) if scale == 4 else conv(ch, scale * scale * ch)


def edsr(scale: int, ch: int, blocks: int) -> int:
    return conv(3, ch) + blocks * 2 * conv(ch, ch) + conv(ch, ch) + up(scale, ch) + conv(ch, 3)


def rdn(scale: int, g0: int = 64, g: int = 64, d: int = 16, c: int = 8) -> int:
    rdb = sum(conv(g0 + i * g, g) for i in range(c)) + conv(g0 + c * g, g0, 1)
    return conv(3, g0) + conv(g0, g0) + d * rdb + conv(d * g0, g0, 1) + conv(g0, g0) + up(scale, g) + conv(g, 3)


def srresnet(scale: int, ch: int = 64) -> int:
    bn, prelu = 2 * ch, ch
    stages = 2 if scale == 4 else 1
    return (conv(3, ch, 9) + prelu + 16 * (2 * conv(ch, ch) + 2 * bn + prelu) + conv(ch, ch) + bn
            + up(scale, ch) + stages * prelu + conv(ch, 3, 9))


CASES = [("edsr-baseline", s, edsr(s, 64, 16)) for s in (2, 3, 4)] \
    + [("edsr", s, edsr(s, 256, 32)) for s in (2, 3, 4)] \
    + [("rdn", s, rdn(s)) for s in (2, 3, 4)] + [("srresnet", s, srresnet(s)) for s in (2, 3, 4)]


@pytest.mark.parametrize("name,scale,count", CASES, ids=[f"{n}-x{s}" for n, s, _ in CASES])
def test_param_count_matches_hand_count(name, scale, count):
    net = create_model(name, scale)
    assert sum(p.numel() for p in net.parameters()) == count
    assert net(torch.rand(1, 3, 6, 7)).shape == (1, 3, 6 * scale, 7 * scale)


@pytest.mark.parametrize("name,scale,paper_millions", [
    ("edsr-baseline", 4, 1.5), ("edsr", 4, 43.1), ("edsr", 2, 40.7), ("rdn", 4, 22.3)])
def test_param_count_matches_paper_rounding(name, scale, paper_millions):
    """EDSR Table 1 (1.5M / 43M), the EDSR code's 40.7M at x2, RDN Table (22M)."""
    n = sum(p.numel() for p in create_model(name, scale).parameters())
    assert round(n / 1e6, 1) == paper_millions


def test_unsupported_scale_is_a_clear_error():
    with pytest.raises(QsrbenchError, match=r"model 'carn-m' does not support scale 5 \(supported: 2, 3, 4\)"):
        create_model("carn-m", 5)


def test_smsr_odd_sizes_and_mask_crop():
    """SMSR's spatial mask halves and re-doubles the map: odd sizes are padded for the mask only,
    so the output keeps its size and equals the even-size result away from the padded border."""
    torch.manual_seed(0)
    net = create_model("smsr", 2).eval()
    with torch.no_grad():
        for m in net.body:  # make the masks non-trivial: half the channels sparse
            m.body.ch_mask.copy_(torch.randn_like(m.body.ch_mask))
        x = torch.rand(1, 3, 15, 17) * 255
        assert net(x).shape == (1, 3, 30, 34)
        module = net.body[0]
        f = torch.randn(1, 64, 15, 17)
        mask = module.spatial_mask(f)
        assert mask.shape == (1, 1, 15, 17) and set(mask.unique().tolist()) <= {0.0, 1.0}


def test_smsr_dense_equivalent_with_full_mask_is_plain_convs():
    """With every pixel selected (M = 1) the sparse/dense split is irrelevant: each layer is conv + ReLU."""
    torch.manual_seed(1)
    body = create_model("smsr", 2).body[0].body
    with torch.no_grad():
        body.ch_mask.copy_(torch.randn_like(body.ch_mask))
        x = torch.randn(1, 64, 8, 8)
        got = body(x, torch.ones(1, 1, 8, 8))
        f, outs = x, []
        for layer in body.body:
            f = torch.relu(layer(f))
            outs.append(f)
        assert torch.allclose(got, body.collect(torch.cat(outs, 1)), atol=1e-5)
        body.collect = torch.nn.Identity()  # expose cat[f_0..f_3]
        f0 = body(x, torch.zeros(1, 1, 8, 8))[:, :64]  # M = 0: layer 0's sparse channels vanish
        sparse0 = body.sparse_channels()[0]
        assert sparse0.any() and (~sparse0).any()
        assert torch.equal(f0[:, sparse0], torch.zeros_like(f0[:, sparse0]))
        assert torch.allclose(f0[:, ~sparse0], torch.relu(body.body[0](x))[:, ~sparse0])
