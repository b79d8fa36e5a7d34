"""Budgeted performance estimation (qsrbench.nas.estimate): the proxy network of every
ground-truth genotype against an independent parameter formula, the auxiliary head at 16 and 32
pixels, and a proxy training that learns a separable toy set, reproducibly, with its best and
last scores as defined."""

from __future__ import annotations

import pytest
import torch

from qsrbench.data.cifar import ClassificationSet
from qsrbench.nas.estimate import build_proxy, estimate, select_score
from qsrbench.nas.genotype import Genotype
from qsrbench.nas.ground_truth import Recipe, load_ground_truth
from qsrbench.testing import missing_data

SKIPS = [("skip_connect", 0), ("skip_connect", 1)] * 4
POOLS = [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4


def _recipe(**kw) -> Recipe:
    base = {"epoch": 3, "batchsize": 16, "learning rate": 0.05, "n_layers": 3, "fp": 32,
            "channels": 4, "cutout_len": 0, "image_size": 16}
    return Recipe.model_validate(base | kw)


def _op_params(op: str, c: int, stride: int) -> int:
    """Parameters of one evaluation-network operation on ``c`` channels (affine BN: 2 per channel)."""
    k = {"3x3": 9, "5x5": 25}
    if op.startswith("sep_conv"):
        return 2 * (c * k[op[-3:]] + c * c + 2 * c)  # twice: depthwise, pointwise, BN
    if op.startswith("dil_conv"):
        return c * k[op[-3:]] + c * c + 2 * c
    if op == "skip_connect" and stride == 2:
        return 2 * c * (c // 2) + 2 * c  # factorized reduction: two 1x1 convs to c/2, BN
    return 0  # pooling (no BN in the evaluation network), identity, none


def _hand_count(g: Genotype, c0: int, layers: int, classes: int = 10) -> int:
    """DARTS ``NetworkCIFAR`` without the auxiliary head, counted from the genotype alone."""
    total = 3 * 3 * c0 * 9 + 2 * 3 * c0  # stem conv 3 -> 3C, BN
    c_pp = c_p = 3 * c0
    c = c0
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if reduction else c
        total += (c_pp * c + 2 * c) + (c_p * c + 2 * c)  # both preprocessings: 1x1 convs (either kind), BN
        pairs, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
        total += sum(_op_params(op, c, 2 if reduction and src < 2 else 1) for op, src in pairs)
        c_pp, c_p = c_p, len(concat) * c
    return total + c_p * classes + classes


def test_every_ground_truth_genotype_matches_the_hand_count(request, data_root):
    path = data_root.parent / "nas" / "bpe_ground_truth.json"
    if not path.is_file():
        missing_data(request.config, f"{path} not found (shipped beside the data root in shared/nas)")
    truth = load_ground_truth(path)
    for arch in truth.archs:
        for c, layers in ((8, 6), (36, 20)):
            net = build_proxy(arch.genotype, _recipe(channels=c, n_layers=layers))
            got = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary."))
            assert got == _hand_count(arch.genotype, c, layers), (arch.name, c, layers)


@pytest.mark.parametrize("size,pool", [(16, torch.nn.AdaptiveAvgPool2d), (32, torch.nn.AvgPool2d)])
def test_auxiliary_head_fits_the_image_size(size, pool):
    net = build_proxy(Genotype(normal=SKIPS, reduce=POOLS), _recipe(image_size=size)).train()
    assert isinstance(net.auxiliary[1], pool)
    logits, aux = net(torch.randn(2, 3, size, size))
    assert logits.shape == aux.shape == (2, 10)


def _toy(n: int, seed: int) -> ClassificationSet:
    """Two classes a proxy separates in a few epochs: dark and bright images with noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 190.0, 60.0)
    images = (base + 40 * torch.randn(n, 3, 32, 32, generator=g)).clamp(0, 255).to(torch.uint8)
    return ClassificationSet("toy", "train", "synthetic", images, labels, ["dark", "bright"], f"toy{seed}")


def test_a_proxy_learns_the_toy_set_reproducibly():
    g = Genotype(normal=[("sep_conv_3x3", 0), ("skip_connect", 1)] * 4, reduce=POOLS)
    train, test = _toy(96, 0), _toy(40, 1)
    a = estimate(g, _recipe(cutout_len=8), train, test, seed=3)
    b = estimate(g, _recipe(cutout_len=8), train, test, seed=3)
    assert a.top1_per_epoch == b.top1_per_epoch and len(a.top1_per_epoch) == 3
    assert a.score == max(a.top1_per_epoch) >= 90.0  # chance is 50 %
    assert a.params > 0 and a.train_s > 0 and a.extra["train_images"] == 96
    last = estimate(g, _recipe(), train, test, seed=3, score="last")
    assert len(last.top1_per_epoch) == 1 and last.score == last.top1_per_epoch[0]


def test_half_precision_recipe_runs_under_autocast():
    g = Genotype(normal=SKIPS, reduce=POOLS)
    res = estimate(g, _recipe(fp=16, epoch=1), _toy(32, 0), _toy(16, 1), seed=0)
    assert 0.0 <= res.score <= 100.0 and len(res.top1_per_epoch) == 1


def test_unknown_score_rule_is_an_error():
    with pytest.raises(ValueError, match="score must be"):
        estimate(Genotype(normal=SKIPS, reduce=POOLS), _recipe(), _toy(8, 0), _toy(8, 1), score="mean")


def test_score_rules_by_hand():
    per_epoch = [40.0, 55.5, 51.0]
    assert select_score(per_epoch, "best") == 55.5 and select_score(per_epoch, "last") == 51.0
