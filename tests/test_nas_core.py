"""NAS substrate: genotypes, the supernet's three modes, genotype networks and the distribution
updates of MDENAS and DDPNAS. Expected numbers are hand-computed here (or, for DARTS V2, the
parameter count printed by the DARTS training script: "param size = 3.349342MB")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qsrbench.errors import QsrbenchError
from qsrbench.nas.distributions import DDPNASDistribution, MDENASDistribution, sample_path
from qsrbench.nas.genotype import PRIMITIVES, Genotype, derive_genotype, num_edges
from qsrbench.nas.network import GenotypeNetwork
from qsrbench.nas.supernet import Supernet, channel_shuffle
from qsrbench.testing import missing_data

DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)])
SKIPS = [("skip_connect", 0), ("skip_connect", 1)] * 4
POOLS = [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_darts_v2_network_has_the_published_param_count():
    assert n_params(GenotypeNetwork(DARTS_V2, channels=36, layers=20)) == 3_349_342


def test_tiny_genotype_network_param_hand_count():
    # C = 4, 3 cells (both after the first are reductions). stem conv 3->12 (324) + BN (24);
    # cell 0: two ReLUConvBN 12->4 (48 + 8 each); cell 1: ReLUConvBN 12->8 (96 + 16) and 16->8
    # (128 + 16); cell 2: FactorizedReduce 16->16 (2 x 128 + 32) and ReLUConvBN 32->16 (512 + 32);
    # skip/max-pool edges hold nothing; classifier 64->10 (650).
    base = 348 + 2 * 56 + (112 + 144) + (288 + 544) + 650
    assert base == 2198
    assert n_params(GenotypeNetwork(Genotype(normal=SKIPS, reduce=POOLS), 4, 3)) == base
    # one normal edge as sep_conv_3x3 on 4 channels: 2 x (depthwise 36 + pointwise 16 + BN 8)
    sep = Genotype(normal=[("sep_conv_3x3", 0)] + SKIPS[1:], reduce=POOLS)
    assert n_params(GenotypeNetwork(sep, 4, 3)) == base + 120


def test_bpe_ground_truth_genotypes_parse(request, data_root):
    path = data_root.parent / "nas" / "bpe_ground_truth.json"
    if not path.is_file():
        missing_data(request.config, f"{path} not found (shipped beside the data root in shared/nas)")
    archs = json.loads(path.read_text())["archs"]
    genotypes = [Genotype.parse(a["genotype"], a["name"]) for a in archs]
    assert len(genotypes) == 100 and all(g.steps == 4 for g in genotypes)


@pytest.mark.parametrize("bad,match", [
    ({"normal": [("conv_7x7", 0), ("skip_connect", 1)], "reduce": POOLS[:2]}, "unknown operation 'conv_7x7'"),
    ({"normal": [("skip_connect", 0), ("skip_connect", 2)], "reduce": POOLS[:2]}, "node 0 can take inputs 0..1, not 2"),
    ({"normal": [("skip_connect", 0)], "reduce": POOLS[:2]}, "two .operation, input. pairs per node"),
    ({"normal": SKIPS, "reduce": POOLS, "normal_concat": [2, 9]}, "normal_concat"),
    ({"normal": SKIPS, "reduce": POOLS, "extra": 1}, "extra"),
])
def test_malformed_genotypes_are_clear_errors(bad, match):
    with pytest.raises(QsrbenchError, match=match):
        Genotype.parse(bad, "spec.genotype")


def test_derive_genotype_hand_case():
    """Per node: the two incoming edges whose best non-'none' op weighs most, with that op."""
    e, k = num_edges(), len(PRIMITIVES)
    w = torch.zeros(e, k)
    w[:, 0] = 1.0  # 'none' dominates everywhere but is never chosen
    w[0, PRIMITIVES.index("sep_conv_3x3")] = 0.5  # node 0: edges 0, 1
    w[1, PRIMITIVES.index("max_pool_3x3")] = 0.4
    w[3, PRIMITIVES.index("dil_conv_5x5")] = 0.9  # node 1: edges 2-4 -> inputs 1 and 2
    w[4, PRIMITIVES.index("skip_connect")] = 0.8
    w[2, PRIMITIVES.index("avg_pool_3x3")] = 0.1
    g = derive_genotype(w, w)
    assert g.normal[:4] == [("sep_conv_3x3", 0), ("max_pool_3x3", 1), ("dil_conv_5x5", 1), ("skip_connect", 2)]
    with pytest.raises(QsrbenchError, match="expected \\(14, 8\\)"):
        derive_genotype(torch.zeros(3, 8), w)


def test_one_hot_weights_equal_the_single_path():
    torch.manual_seed(0)
    net = Supernet(channels=4, layers=3).eval()
    x = torch.randn(2, 3, 16, 16)
    gen = torch.Generator().manual_seed(1)
    path = (torch.randint(1, 8, (14,), generator=gen).tolist(), torch.randint(1, 8, (14,), generator=gen).tolist())
    one_hot = tuple(torch.nn.functional.one_hot(torch.tensor(p), 8).float() for p in path)
    with torch.no_grad():
        assert torch.allclose(net(x, "weighted", weights=one_hot), net(x, "single", path=path), atol=1e-6)


def test_partial_channel_mode_and_shuffle():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    torch.manual_seed(0)
    net = Supernet(channels=8, layers=3, partial_k=4)
    assert net(torch.randn(2, 3, 16, 16), "partial").shape == (2, 10)
    # edge normalization: each node's betas are a softmax over its incoming edges
    b = net._edge_betas(net.betas_normal)
    assert torch.allclose(torch.stack([b[0:2].sum(), b[2:5].sum(), b[5:9].sum(), b[9:14].sum()]), torch.ones(4))
    with pytest.raises(QsrbenchError, match="partial_k > 1"):
        Supernet(channels=4, layers=3)(torch.randn(1, 3, 8, 8), "partial")
    with pytest.raises(QsrbenchError, match="needs a path"):
        net(torch.randn(1, 3, 8, 8), "single")


def test_mdenas_update_hand_case():
    """Epochs (1, 2, 3), accuracies (0.9, 0.5, 0.7), uniform p, lr 0.1: op 0 beats both
    more-trained ops (+2); op 1 and op 2 each lose to op 0 (less trained, more accurate) (-1)."""
    d = MDENASDistribution(1, 3, lr=0.1)
    d.epochs[:] = torch.tensor([[1.0, 2.0, 3.0]])
    d.acc_sum[:] = torch.tensor([[0.9, 1.0, 2.1]])  # means 0.9, 0.5, 0.7
    p = d.update()
    assert torch.allclose(p, torch.tensor([[1 / 3 + 0.2, 1 / 3 - 0.1, 1 / 3 - 0.1]], dtype=torch.float64))


def test_ddpnas_prune_hand_case():
    d = DDPNASDistribution(2, 3)
    d.record([0, 1], 0.9)
    d.record([1, 1], 0.5)
    # edge 0: means (0.9, 0.5, untried -> scored as the edge's best, 0.9): op 1 goes.
    # edge 1: (untried, 0.7, untried) all score 0.7: a tie removes the first, op 0.
    assert d.prune() == [1, 0]
    d.record([2, 2], 0.1)  # edge 0: (0.9, -, 0.1); edge 1: (-, 0.7, 0.1): op 2 goes on both
    assert d.prune() == [2, 2]
    assert d.done and d.final_path() == [0, 1]
    assert d.prune() == [-1, -1]


@pytest.mark.parametrize("seed", range(4))
def test_distribution_methods_find_the_known_best_architecture(seed):
    """Fake oracle: accuracy = mean over edges of a known per-operation quality (distinct ranks)."""
    g = torch.Generator().manual_seed(seed)
    edges, ops = 4, 5
    quality = torch.stack([torch.randperm(ops, generator=g).double() / ops for _ in range(edges)])
    best = quality.argmax(1).tolist()

    def accuracy(path):
        return float(quality[torch.arange(edges), torch.tensor(path)].mean())

    m = MDENASDistribution(edges, ops, lr=0.01)
    for _ in range(400):
        path = sample_path(m.probs, g)
        m.record(path, accuracy(path))
        m.update()
    assert m.probs.argmax(1).tolist() == best
    d = DDPNASDistribution(edges, ops)
    while not d.done:
        for _ in range(40):
            path = sample_path(d.probs, g)
            d.record(path, accuracy(path))
        d.prune()
    assert d.final_path() == best
