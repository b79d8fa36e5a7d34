"""The four search methods end to end at smoke size (a synthetic 10-class set, CPU, seconds),
their pass accounting, and budget errors."""

from __future__ import annotations

import pytest
import torch

from qsrbench.data.cifar import ClassificationSet
from qsrbench.errors import QsrbenchError
from qsrbench.nas.genotype import Genotype
from qsrbench.nas.search import SearchBudget, search, train_and_test


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 10
    images = torch.randint(0, 256, (64, 3, 32, 32), generator=g, dtype=torch.uint8)
    return ClassificationSet("synthetic", "train", "synthetic", images, labels,
                             [str(i) for i in range(10)], "synthetic")


@pytest.mark.parametrize("method,epochs", [("darts", 1), ("pc-darts", 1), ("mdenas", 2), ("ddpnas", 7)])
def test_search_smoke(tiny, method, epochs):
    budget = SearchBudget(epochs=epochs, batch_size=16, images=64, channels=4, layers=3)
    r = search(method, tiny, budget)
    assert isinstance(r.genotype, Genotype) and r.epochs == epochs and r.wall_s > 0
    steps = epochs * (32 // 16)  # 32 weight-half images per epoch, batches of 16
    if method in ("darts", "pc-darts"):  # one architecture step and one weight step per batch
        assert (r.forward_passes, r.backward_passes) == (2 * steps, 2 * steps)
    else:  # a weight step and a validation forward of the sampled path
        assert (r.forward_passes, r.backward_passes) == (2 * steps, steps)
    assert len(r.history) == epochs


def test_train_and_test_reports_accuracy(tiny):
    geno = search("mdenas", tiny, SearchBudget(epochs=1, batch_size=16, images=64, channels=4, layers=3)).genotype
    out = train_and_test(geno, tiny, tiny, epochs=1, channels=4, layers=3, batch_size=32)
    assert 0.0 <= out["test_acc"] <= 100.0 and out["params"] > 0


@pytest.mark.parametrize("method,budget,match", [
    ("enas", SearchBudget(), "unknown search method 'enas'"),
    ("darts", SearchBudget(images=16, batch_size=16), "cannot fill one batch"),
    ("ddpnas", SearchBudget(epochs=5, images=64, batch_size=16), "at least 7 epochs"),
])
def test_budget_errors(tiny, method, budget, match):
    with pytest.raises(QsrbenchError, match=match):
        search(method, tiny, budget)
