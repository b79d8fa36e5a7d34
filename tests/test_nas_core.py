"""NAS substrate and the methods' rules: genotypes, the supernet's three modes and its operations
against the official ``OPS`` table (hand counts), the evaluation network with its auxiliary head,
the derivation rules with ties, the MDENAS update and the DDPNAS pruning on hand-computed tables,
and the rule that ``qsrbench/nas/`` names no method. Expected numbers are hand-computed here (or,
for DARTS V2, the parameter count printed by the DARTS training script: "param size = 3.349342MB")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qsrbench.errors import QsrbenchError
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
    b = net.edge_weights(net.betas_normal)
    assert torch.allclose(torch.stack([b[0:2].sum(), b[2:5].sum(), b[5:9].sum(), b[9:14].sum()]), torch.ones(4))
    with pytest.raises(QsrbenchError, match="partial_k > 1"):
        Supernet(channels=4, layers=3)(torch.randn(1, 3, 8, 8), "partial")
    with pytest.raises(QsrbenchError, match="needs a path"):
        net(torch.randn(1, 3, 8, 8), "single")


# --- the operations and the supernet against the official OPS table (C = 16, hand counts) ------
# sep_conv_kxk: 2 x (depthwise C*k*k + pointwise C*C); dil_conv_kxk: C*k*k + C*C; a stride-2 skip
# is a FactorizedReduce of two 1x1 convs C -> C/2; pooling and 'none' hold no weights; the
# supernet's BN is affine-free (no parameters).
OP_PARAMS_C16 = {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
                 "sep_conv_3x3": 2 * (16 * 9 + 256), "sep_conv_5x5": 2 * (16 * 25 + 256),
                 "dil_conv_3x3": 16 * 9 + 256, "dil_conv_5x5": 16 * 25 + 256}


def test_supernet_ops_match_the_official_table():
    from qsrbench.nas.supernet import MixedOp

    mixed = MixedOp(16, stride=1)
    assert [type(op).__name__ for op in mixed.ops][:4] == ["Zero", "Sequential", "Sequential", "Identity"]
    assert {name: n_params(op) for name, op in zip(PRIMITIVES, mixed.ops)} == OP_PARAMS_C16
    assert n_params(mixed) == 3168
    reduce = MixedOp(16, stride=2)
    assert n_params(reduce.ops[PRIMITIVES.index("skip_connect")]) == 2 * 16 * 8  # FactorizedReduce
    # evaluation-network ops: affine BN adds 2 parameters per channel and BN
    from qsrbench.nas.ops import make_op

    assert n_params(make_op("sep_conv_3x3", 16, 1, affine=True)) == OP_PARAMS_C16["sep_conv_3x3"] + 2 * 2 * 16
    assert type(make_op("max_pool_3x3", 16, 1, affine=True)).__name__ == "MaxPool2d"  # no BN there


@pytest.mark.parametrize("mode,kwargs", [("weighted", {}), ("partial", {"partial_k": 2}), ("single", {})])
def test_pooling_is_batch_normalised_in_every_supernet_mode(mode, kwargs):
    """A pooled input of mean +5 leaves each pooling op with mean ~0 and std ~1 per channel."""
    from qsrbench.nas.supernet import MixedOp

    torch.manual_seed(0)
    mixed = MixedOp(8, stride=1, **kwargs).train()
    x = torch.randn(16, 8 // mixed.k, 8, 8) + 5.0
    for name in ("max_pool_3x3", "avg_pool_3x3"):
        out = mixed.ops[PRIMITIVES.index(name)](x)
        assert out.mean().abs() < 1e-5 and (out.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05
    net = Supernet(channels=4, layers=3, partial_k=kwargs.get("partial_k", 1)).train()
    path = ([1] * 14, [2] * 14) if mode == "single" else None
    assert net(torch.randn(2, 3, 16, 16) + 5.0, mode, path=path).shape == (2, 10)


def test_darts_v2_auxiliary_head_by_hand():
    """Head at the 2nd reduction of C=36, 20 cells: 576 -> 1x1 128 (73,728) + BN (256) -> 2x2 768
    (393,216) + BN (1,536) -> linear 10 (7,690): 476,426; the network alone stays 3,349,342."""
    with_head = GenotypeNetwork(DARTS_V2, channels=36, layers=20, auxiliary=True)
    assert n_params(with_head.auxiliary) == 73_728 + 256 + 393_216 + 1_536 + 7_690 == 476_426
    assert n_params(with_head) == 3_349_342 + 476_426
    small = GenotypeNetwork(DARTS_V2, channels=4, layers=5, auxiliary=True).train()
    logits, aux = small(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    assert small.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)  # eval: logits only


# --- derivation rules -------------------------------------------------------------------------
def test_derivation_ties_go_to_the_lower_edge_and_the_earlier_op():
    e, k = num_edges(), len(PRIMITIVES)
    w = torch.zeros(e, k)
    w[0:2, PRIMITIVES.index("sep_conv_5x5")] = 0.5  # node 0: both inputs
    w[2:5, PRIMITIVES.index("dil_conv_3x3")] = 0.3  # node 1: three edges tie -> inputs 0 and 1
    w[2, PRIMITIVES.index("max_pool_3x3")] = 0.3    # op tie on edge 2 -> the earlier op (max pool)
    g = derive_genotype(w, w)
    assert g.normal[:4] == [("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 1)]


def test_supernet_alphas_set_by_hand_derive_their_genotype():
    """Relaxation (DARTS) parses softmax(α); with edge normalization (PC-DARTS) a strong op on an
    edge of low β loses to a weaker op on an edge of high β."""
    from reference.darts import Relaxation
    from reference.pc_darts import PartialRelaxation

    net = Supernet(channels=4, layers=3, partial_k=2)
    with torch.no_grad():
        net.alphas_normal.zero_()
        net.alphas_normal[0, PRIMITIVES.index("sep_conv_3x3")] = 3.0
        net.alphas_normal[1, PRIMITIVES.index("skip_connect")] = 2.0
        net.alphas_normal[2, PRIMITIVES.index("dil_conv_5x5")] = 4.0  # node 1: edges 2, 3, 4
        net.alphas_normal[3, PRIMITIVES.index("avg_pool_3x3")] = 3.0
        net.alphas_normal[4, PRIMITIVES.index("sep_conv_5x5")] = 3.5
        net.betas_normal.zero_()
        net.betas_normal[2] = -5.0  # node 1's first edge is switched off by edge normalization
    plain = Relaxation().derive(net).normal
    assert plain[:4] == [("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_5x5", 0), ("sep_conv_5x5", 2)]
    normalized = PartialRelaxation(2, 0).derive(net).normal
    assert normalized[:4] == [("sep_conv_3x3", 0), ("skip_connect", 1), ("avg_pool_3x3", 1), ("sep_conv_5x5", 2)]


# --- MDENAS: the pairwise rule, sequential, with explicit ties ---------------------------------
def test_mdenas_update_hand_case():
    """θ uniform (0.25), epochs (1, 2, 2, 0), latest accuracies (0.6, 0.5, 0.7, 0), lr 0.1; pairs
    in order: (0,1) op 0 has fewer epochs and is more accurate: 0.1 from op 1 to op 0;
    (0,2) op 2 is more accurate but trained more: nothing; (1,2) equal epochs, op 2 more accurate:
    0.1 from op 1 to op 2; op 3 was never sampled: nothing. With lr 0.2 op 1 has only 0.05 left
    at (1,2) and gives all of it."""
    from reference.mdenas import mdenas_update

    epochs = torch.tensor([[1.0, 2.0, 2.0, 0.0]], dtype=torch.float64)
    acc = torch.tensor([[0.6, 0.5, 0.7, 0.0]], dtype=torch.float64)
    p = mdenas_update(torch.full((1, 4), 0.25, dtype=torch.float64), epochs, acc, 0.1)
    assert p.flatten().tolist() == pytest.approx([0.35, 0.05, 0.35, 0.25])
    p = mdenas_update(torch.full((1, 4), 0.25, dtype=torch.float64), epochs, acc, 0.2)
    assert p.flatten().tolist() == pytest.approx([0.45, 0.0, 0.30, 0.25])
    same = mdenas_update(torch.full((1, 2), 0.5, dtype=torch.float64),
                         torch.tensor([[1.0, 3.0]]), torch.tensor([[0.5, 0.5]]), 0.1)
    assert same.flatten().tolist() == [0.5, 0.5]  # equal accuracies move nothing
    tie = mdenas_update(torch.full((1, 2), 0.5, dtype=torch.float64),
                        torch.tensor([[2.0, 2.0]]), torch.tensor([[0.7, 0.5]]), 0.1)
    assert tie.flatten().tolist() == pytest.approx([0.6, 0.4])  # equal epochs: the more accurate gains


def test_mdenas_samples_one_path_per_epoch_and_scores_it_once():
    """The papers' granularity: one path drawn at the start of the epoch, the same for every
    step, no per-step scoring, one validation at the end that counts one epoch per edge."""
    from reference.mdenas import MDENASStrategy

    s, g = MDENASStrategy(lr=0.1), torch.Generator().manual_seed(0)
    s.begin_epoch(0, g)
    paths = [s.path(step, g) for step in range(6)]
    assert all(str(p) == str(paths[0]) for p in paths)

    def never(*args, **kwargs):
        raise AssertionError("scored after a step")

    for p in paths:
        s.after_step(p, never, g)
    s.end_epoch(0, lambda path, **kw: 0.5)
    assert [float(e.sum()) for e in s.epochs] == [14.0, 14.0]


def test_mdenas_keeps_the_latest_accuracy_per_epoch():
    from reference.mdenas import MDENASStrategy

    s = MDENASStrategy(lr=0.1)
    path = ([3] * 14, [4] * 14)
    s.record(path, 0.4)
    s.record(path, 0.2)
    assert s.accuracy[0][0, 3] == 0.2 and s.epochs[0][0, 3] == 2  # overwritten, counted twice


# --- DDPNAS: sampling without replacement, the statistic, the pruning order -------------------
def test_ddpnas_pruning_order_on_a_hand_score_table():
    """Edge 0 accuracies (0.50, 0.52, 0.49): softmax(100·acc) ∝ (1, e², e⁻¹) = (0.1142, 0.8438,
    0.0420); v = 0.2 · that; θ = (1/3 + v) / 1.2 = (0.29681, 0.41841, 0.28478): op 2 goes.
    Edge 1 (0.3, 0.3, 0.4): ops 0 and 1 tie at the bottom: the first, op 0, goes."""
    from reference.ddpnas import EdgePruner

    p = EdgePruner(edges=2, ops=3)
    p.rounds = [torch.tensor([[0.50, 0.52, 0.49], [0.3, 0.3, 0.4]], dtype=torch.float64)]
    assert p.update_and_prune() == [2, 0]
    assert p.theta[0].tolist() == pytest.approx([0.29681, 0.41841, 0.28478], abs=1e-5)
    assert p.alive.tolist() == [[True, True, False], [False, True, True]]


def test_ddpnas_trains_every_survivor_once_per_round():
    from reference.ddpnas import EdgePruner

    p = EdgePruner(edges=3, ops=4)
    g = torch.Generator().manual_seed(0)
    drawn, ends = [], []
    for _ in range(4):  # one epoch each: draw, train, record
        drawn.append(p.draw(g))
        ends.append(p.record(drawn[-1], 0.5))
    assert all(sorted(col) == [0, 1, 2, 3] for col in zip(*drawn))  # per edge: each op once
    assert ends == [False, False, False, True] and len(p.rounds) == 1


def test_ddpnas_genotype_is_ranked_by_theta_not_by_the_one_hot_survivors():
    """After pruning every edge has one survivor; ranking edges by the one-hot survivors ties them
    all and keeps inputs 0 and 1 for every node. θ ranks them: node 3 takes nodes 2 and 3."""
    from reference.ddpnas import DDPNASStrategy

    s = DDPNASStrategy(pruning_step=1)
    for cell in s.cells:
        cell.alive[:] = False
        cell.alive[:, PRIMITIVES.index("sep_conv_3x3")] = True
        cell.theta[:] = 0.01
        cell.theta[:, PRIMITIVES.index("sep_conv_3x3")] = torch.linspace(0.2, 0.6, 14, dtype=torch.float64)
    g = s.derive(None)
    assert s.finished()
    assert [src for _, src in g.normal[6:8]] == [3, 4]  # node 3: the two highest-θ edges
    assert {src for _, src in g.normal} != {0, 1}


# --- layering --------------------------------------------------------------------------------
def test_the_nas_package_names_no_method():
    import re
    from pathlib import Path

    import qsrbench.nas as pkg

    names = re.compile(r"\b(darts|pc[-_ ]?darts|mdenas|mdenas|ddpnas|bnas|bpe|quantnas)\b", re.I)
    found = [f"{p.name}:{i + 1}" for p in Path(pkg.__file__).parent.glob("*.py")
             for i, line in enumerate(p.read_text().splitlines()) if names.search(line)]
    assert not found, f"method names in qsrbench/nas/: {found}"


def test_ground_truth_loads_checked_and_validated(request, data_root, tmp_path):
    """The shipped file: 100 architectures, BPE-1 / BPE-2 as published (ρ 0.4967 / 0.6245, Zheng
    et al. 2020, read from the authors' sheet); a changed or malformed copy is one line naming
    the file and the field."""
    from qsrbench.errors import DataError
    from qsrbench.nas.ground_truth import load_ground_truth

    path = data_root.parent / "nas" / "bpe_ground_truth.json"
    if not path.is_file():
        missing_data(request.config, f"{path} not found (shipped beside the data root in shared/nas)")
    truth = load_ground_truth(path)
    assert len(truth.archs) == 100 and truth.archs[0].name == "Arch_1"
    bpe1, bpe2 = truth.published_bpe["BPE-1"], truth.published_bpe["BPE-2"]
    assert (bpe1.spearman_vs_ground_truth, bpe2.spearman_vs_ground_truth) == (0.4967, 0.6245)
    assert (bpe1.recipe.epoch, bpe1.recipe.channels, bpe1.recipe.image_size) == (10, 8, 16)
    data = json.loads(path.read_text())
    with pytest.raises(DataError, match="is not that of the shipped ground truth"):
        (tmp_path / "t.json").write_text(json.dumps(data))
        load_ground_truth(tmp_path / "t.json")
    data["archs"][3]["test_accuracy"] = 170.0
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"t.json: archs.3.test_accuracy: Input should be less than or equal to 100"):
        load_ground_truth(tmp_path / "t.json", verify=False)
    data["archs"][3]["test_accuracy"] = 97.0
    data["archs"][5]["genotype"]["normal"][0][0][0] = "conv_9x9"
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"archs.5.genotype.*unknown operation 'conv_9x9'") as err:
        load_ground_truth(tmp_path / "t.json", verify=False)
    assert "\n" not in str(err.value)
    (tmp_path / "t.json").write_text("{")
    with pytest.raises(DataError, match="not JSON"):
        load_ground_truth(tmp_path / "t.json", verify=False)
