"""BNAS: the operation-space reduction on hand-built tables (pools, sampling without replacement,
the selection likelihood and the UCB bound computed by hand), the epoch count, the binarized
search space, single-path partial channels, and a whole search on a synthetic set (seconds)."""

from __future__ import annotations

import math

import pytest
import torch

from qsrbench.nas import PRIMITIVES
from qsrbench.nas.binary import binarize_cells
from qsrbench.nas.search import SearchBudget, search
from qsrbench.nas.supernet import MixedOp, Supernet, channel_shuffle
from qsrbench.quant.binary_layers import BinaryConv2d
from qsrbench.testing import synthetic_classification
from reference.bnas import BNASStrategy, OperationReducer, search_epochs

ALPHA = torch.tensor([[0.4, 0.1, 0.3, 0.2], [0.1, 0.1, 0.5, 0.6]])


def test_pool_is_the_less_promising_half_and_each_pooled_op_is_drawn_once_per_repeat():
    r = OperationReducer(edges=2, ops=4, repeats=3)
    n = r.start_round(ALPHA, torch.Generator().manual_seed(0))
    # edge 0: the two smallest α are ops 1 (0.1) and 3 (0.2); edge 1: ops 0 and 1 tie at 0.1
    assert r.pool.tolist() == [[False, True, False, True], [True, True, False, False]]
    assert n == 6 and len(r.queue) == 6
    for t in range(3):
        block = r.queue[2 * t:2 * t + 2]
        assert sorted(p[0] for p in block) == [1, 3] and sorted(p[1] for p in block) == [0, 1]
    full = OperationReducer(edges=2, ops=4, repeats=1, warm_start=False)
    assert full.start_round(ALPHA, torch.Generator().manual_seed(0)) == 4
    assert full.pool.all()


def test_likelihood_rule_abandons_the_lowest_on_a_hand_table():
    """Edge 0 pool {1, 3} scored 0.6 / 0.5: s_S = softmax = (1/(1+e^-0.1), ...) = (0.524979,
    0.475021); ops 0 and 2 get s_L = (0.524979 + 0.5)/2 = 0.512490; op 3 is abandoned. Edge 1
    pool {0, 1} scored 0.6 / 0.5 alike: op 1 is abandoned."""
    r = OperationReducer(edges=2, ops=4, repeats=1)
    r.start_round(ALPHA, torch.Generator().manual_seed(0))
    r.record([1, 0], 0.6)
    r.record([3, 1], 0.5)
    assert r.reduce() == [3, 1]
    expected = [[0.512490, 0.524979, 0.512490, 0.475021], [0.524979, 0.475021, 0.512490, 0.512490]]
    assert r.likelihood.tolist() == [pytest.approx(row, abs=1e-6) for row in expected]
    assert r.alive.tolist() == [[True, True, True, False], [True, False, True, True]]
    # round 2 (3 left, pools of 2: edge 0 ops 1, 2; edge 1 ops 0, 2), every path scored 0.5:
    # s_S = s_L = 0.5, and the old likelihood is halved first: 0.512490 / 2 + 0.5 = 0.756245 ...
    r.start_round(ALPHA, torch.Generator().manual_seed(1))
    assert r.pool.tolist() == [[False, True, True, False], [True, False, True, False]]
    r.record([1, 0], 0.5)
    r.record([2, 2], 0.5)
    assert r.reduce() == [0, 2]  # ties: the lower index
    assert r.likelihood[0, :3].tolist() == pytest.approx([0.756245, 0.762490, 0.756245], abs=1e-6)
    assert r.likelihood[1, [0, 2, 3]].tolist() == pytest.approx([0.762490, 0.756245, 0.756245], abs=1e-6)


def test_likelihood_ties_abandon_the_lower_index():
    r = OperationReducer(edges=1, ops=3, repeats=1, warm_start=False)
    r.start_round(torch.zeros(1, 3), torch.Generator().manual_seed(0))
    for op in range(3):
        r.record([op], 0.5)
    assert r.reduce() == [0]


def test_ucb_bound_by_hand():
    """op 0: 0.5, 0.7 (n 2, m 0.6), op 1: 0.9 (n 1), N = 3: 0.6 + sqrt(ln 3) = 1.648147 and
    0.9 + sqrt(2 ln 3) = 2.382304; op 2 never sampled: kept (+inf). Op 0 goes."""
    r = OperationReducer(edges=1, ops=3, repeats=1, rule="ucb")
    for op, acc in ((0, 0.5), (0, 0.7), (1, 0.9)):
        r.record([op], acc)
    ucb = r.ucb()[0]
    assert ucb[0].item() == pytest.approx(0.6 + math.sqrt(math.log(3)), abs=1e-12)
    assert ucb[1].item() == pytest.approx(0.9 + math.sqrt(2 * math.log(3)), abs=1e-12)
    assert math.isinf(ucb[2].item())
    assert r.reduce() == [0]


def test_search_epochs_count():
    # pools of 8..2 remaining: 4+4+3+3+2+2+1 = 19 paths per repeat; without warm start 35
    assert search_epochs(5, 3, 1, True) == 5 + 57
    assert search_epochs(5, 3, 1, False) == 105
    assert search_epochs(2, 1, 2, True) == 2 + 38


def test_binarized_cells_keep_stem_and_reduction_preprocess_full_precision():
    net = binarize_cells(Supernet(4, 3, 10, partial_k=2))
    fp = sorted(n for n, m in net.named_modules() if type(m) is torch.nn.Conv2d)
    assert fp == ["cells.2.preprocess0.conv_1", "cells.2.preprocess0.conv_2", "stem.0"]
    # a stride-1 edge: two separable ops (2 x (depthwise + pointwise) each) and two dilated ones
    assert sum(isinstance(m, BinaryConv2d) for m in net.cells[0].edges[0].modules()) == 4 + 4 + 2 + 2
    conv = next(m for m in net.cells[0].modules() if isinstance(m, BinaryConv2d))
    x = torch.randn(1, conv.in_channels, 6, 6)
    w = conv.weight
    ref = torch.nn.functional.conv2d(x, w.sign() * w.abs().mean(dim=(1, 2, 3), keepdim=True), None,
                                     conv.stride, conv.padding, conv.dilation, conv.groups)
    torch.testing.assert_close(conv(x), ref, rtol=0, atol=0)


def test_single_path_on_partial_channels():
    op = MixedOp(8, 1, partial_k=2).eval()
    x = torch.randn(2, 8, 5, 5)
    k = PRIMITIVES.index("sep_conv_3x3")
    expected = channel_shuffle(torch.cat([op.ops[k](x[:, :4]), x[:, 4:]], dim=1), 2)
    torch.testing.assert_close(op(x, index=k), expected, rtol=0, atol=0)


@pytest.fixture(scope="module")
def tiny():
    return synthetic_classification(64)


@pytest.mark.parametrize("rule", ["likelihood", "ucb"])
def test_whole_search_reduces_to_one_op_per_edge(tiny, rule):
    s = BNASStrategy(partial_k=2, pc_epochs=2, pc_arch_from=1, repeats=1, rule=rule)
    epochs = search_epochs(2, 1, 1, True)
    r = search(s, tiny, SearchBudget(epochs=epochs, batch_size=16, images=64, channels=4, layers=3))
    assert s.finished() and r.epochs == epochs == 21
    # rounds end after 4, 4, 3, 3, 2, 2, 1 sampled paths, after the 2 warm-start epochs
    assert [a["epoch"] for a in s.abandoned] == [6, 10, 13, 16, 18, 20, 21]
    assert all(c.alive.sum(dim=1).tolist() == [1] * 14 for c in s.cells)
    # passes: warm-start epoch 0 weights only (2), epoch 1 α + weights (4); then 19 epochs of 2
    # weight steps and a 2-batch validation
    assert (r.forward_passes, r.backward_passes) == (2 + 4 + 19 * 4, 2 + 4 + 19 * 2)
    starts = [0, 2, 5, 9]  # first edge of each node
    for pairs, cell in zip((r.genotype.normal, r.genotype.reduce), s.cells):
        for i, (op, src) in enumerate(pairs):
            survivor = PRIMITIVES[int(cell.alive[starts[i // 2] + src].nonzero())]
            assert op == survivor or survivor == "none"


def test_genotype_takes_survivors_and_ranks_a_none_survivor_last():
    s = BNASStrategy(partial_k=2)
    net = Supernet(4, 3, 10, partial_k=2)
    sep, none, maxp = (PRIMITIVES.index(n) for n in ("sep_conv_3x3", "none", "max_pool_3x3"))
    for cell in s.cells:
        cell.alive[:] = False
        cell.alive[:, sep] = True
        cell.alive[0, sep], cell.alive[0, none] = False, True  # edge 0 (node 0) kept 'none'
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_normal[0, maxp] = 1.0  # edge 0's best other op
    g = s.derive(net)
    assert g.normal[:2] == [("max_pool_3x3", 0), ("sep_conv_3x3", 1)]
    assert all(op == "sep_conv_3x3" for op, _ in g.normal[2:])
