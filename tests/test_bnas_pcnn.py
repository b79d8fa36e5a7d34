"""BNAS with PCNN as the binarizer (reference/bnas_pcnn.py): exactly the convolutions ``bnas``
binarizes become PCNN convolutions (same latent weights, projection matrices of ones), nothing
outside the cells changes, and the spec's PCNN fields are checked."""

from __future__ import annotations

import copy

import pytest
import torch

from qsrbench.errors import SpecError
from qsrbench.nas.binary import binarize_cells
from qsrbench.nas.network import GenotypeNetwork
from qsrbench.quant.binary_layers import BinaryConv2d
from qsrbench.quant.pcnn import PCNNConv2d
from qsrbench.registry import methods
from qsrbench.spec import parse_spec
from reference.bnas_pcnn import pcnn_cells
from reference.random_search import random_genotype


def _net(seed=0):
    torch.manual_seed(seed)
    return GenotypeNetwork(random_genotype(torch.Generator().manual_seed(seed)), 8, 3, 10, auxiliary=False)


def test_pcnn_replaces_exactly_the_convolutions_bnas_binarizes():
    xnor, pcnn = binarize_cells(_net(), False), pcnn_cells(_net(), False, 1e-3, "elementwise")
    xnor_names = {n for n, m in xnor.named_modules() if isinstance(m, BinaryConv2d)}
    pcnn_names = {n for n, m in pcnn.named_modules() if isinstance(m, PCNNConv2d)}
    assert xnor_names and xnor_names == pcnn_names
    assert not any(isinstance(m, BinaryConv2d) and not isinstance(m, PCNNConv2d) for m in pcnn.modules())
    for n, m in pcnn.named_modules():
        if isinstance(m, PCNNConv2d):
            assert m.lam == 1e-3 and m.forward_mode == "elementwise" and torch.equal(m.projection, torch.ones_like(m.projection))
            assert torch.equal(m.weight, dict(xnor.named_modules())[n].weight)  # same latent weights
    x = torch.randn(2, 3, 16, 16)
    assert torch.isfinite(pcnn(x)[0]).all()


def test_spec_fields_are_checked():
    base = {"name": "b", "version": 1, "description": "t", "tier": "smoke", "leaderboard": "nas_cifar10",
            "datasets": ["CIFAR-10"], "method": {"name": "bnas-pcnn", "device": "cpu", "pc_epochs": 2,
                                                 "pc_arch_from": 1, "repeats": 1, "search": {"epochs": 21}},
            "metrics": {"top1": {}}}
    spec = parse_spec(base)
    assert methods.get("bnas-pcnn").__name__ == "BNASPCNN" and spec.method.lam == 1e-4
    for field, value in (("lam", -1.0), ("forward_mode", "max")):
        bad = copy.deepcopy(base)
        bad["method"][field] = value
        with pytest.raises(SpecError, match=f"method.{field}"):
            parse_spec(bad)
