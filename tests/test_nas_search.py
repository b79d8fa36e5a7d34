"""The shared search loop with every method's strategy at smoke size (a synthetic 10-class set,
CPU, seconds): pass accounting per the protocol, per-epoch sampling, the schedule, budget errors."""

from __future__ import annotations

import math

import pytest
import torch

from qsrbench.errors import QsrbenchError
from qsrbench.nas.genotype import Genotype
from qsrbench.nas.search import SearchBudget, epoch_lr, search, train_and_test
from qsrbench.testing import synthetic_classification
from reference.darts import Relaxation
from reference.ddpnas import DDPNASStrategy
from reference.mdenas import MDENASStrategy
from reference.pc_darts import PartialRelaxation


@pytest.fixture(scope="module")
def tiny():
    return synthetic_classification(64)


BUDGET = dict(batch_size=16, images=64, channels=4, layers=3)  # 32 training images: 2 steps/epoch


@pytest.mark.parametrize("name,strategy,epochs,passes", [
    # one architecture step and one weight step per mini-batch
    ("darts", lambda: Relaxation(), 1, (4, 4)),
    # no architecture step during the warm-up epoch
    ("pc-darts", lambda: PartialRelaxation(2, warmup_epochs=1), 2, (6, 6)),
    # a path per epoch: 2 weight steps, then the validation split (32 images = 2 batches)
    ("mdenas", lambda: MDENASStrategy(0.1), 2, (8, 4)),
    # a path per mini-batch, each scored on one validation batch
    ("mdenas-batch", lambda: MDENASStrategy(0.1, "batch"), 1, (4, 2)),
])
def test_search_loop_accounting(tiny, name, strategy, epochs, passes):
    r = search(strategy(), tiny, SearchBudget(epochs=epochs, **BUDGET))
    assert isinstance(r.genotype, Genotype) and r.epochs == epochs and r.wall_s > 0
    assert (r.forward_passes, r.backward_passes) == passes
    assert len(r.history) == epochs


def test_mdenas_samples_one_path_per_epoch(tiny):
    s = MDENASStrategy(0.1)
    search(s, tiny, SearchBudget(epochs=3, **BUDGET))
    # each epoch trained one operation per edge: three epochs counted on every edge in total
    assert s.epochs[0].sum(dim=1).tolist() == [3.0] * 14 and s.epochs[1].sum(dim=1).tolist() == [3.0] * 14


def test_ddpnas_prunes_to_one_operation_per_edge(tiny):
    s = DDPNASStrategy(pruning_step=1)
    r = search(s, tiny, SearchBudget(epochs=40, **BUDGET))
    assert s.finished() and r.epochs == 35  # rounds of 8, 7, ..., 2 epochs, then it stops
    assert [p["epoch"] for p in s.pruned] == [8, 15, 21, 26, 30, 33, 35]
    assert all(int(c.alive.sum()) == 14 for c in s.cells)


def test_cosine_schedule_is_evaluated_at_epoch_plus_one():
    """The official code stepped the scheduler at the start of each epoch (PyTorch 0.3): epoch 0
    runs at lr_min + (lr - lr_min)(1 + cos(π/T))/2 and the last epoch at lr_min."""
    assert epoch_lr(0.025, 0.001, 0, 50) == pytest.approx(0.001 + 0.024 * (1 + math.cos(math.pi / 50)) / 2)
    assert epoch_lr(0.025, 0.001, 49, 50) == pytest.approx(0.001)


def test_train_and_test_with_the_auxiliary_head(tiny):
    geno = search(Relaxation(), tiny, SearchBudget(epochs=1, **BUDGET)).genotype
    out = train_and_test(geno, tiny, tiny, epochs=1, channels=4, layers=3, batch_size=32,
                         cutout=4, drop_path=0.1, auxiliary_weight=0.4)
    assert 0.0 <= out["test_acc"] <= 100.0 and out["correct"] == round(out["test_acc"] * 64 / 100)
    no_head = train_and_test(geno, tiny, tiny, epochs=0, channels=4, layers=3, auxiliary_weight=0.0)
    assert out["params"] == no_head["params"]  # the head is not counted


def test_budget_errors(tiny):
    with pytest.raises(QsrbenchError, match="cannot fill one training batch"):
        search(Relaxation(), tiny, SearchBudget(images=16, batch_size=16))
