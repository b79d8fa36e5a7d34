"""Minimum-importance pruning (reference/bpe_mip.py) on synthetic recipe → (ρ, cost) functions:
it prunes the uninformative hyper-parameters first, each at its measured cheapest value, keeps the
informative one free, never evaluates a recipe twice, stops on its budget; the cheapest-value rule
on a non-monotone cost, the Pareto front and the cheap-biased sampling by hand."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from reference.bpe_mip import Evaluation, cheapest_value, draw_recipe, mip, pareto_front

SPACE = {"epoch": [1, 2, 4, 8], "channels": [4, 8, 16], "n_layers": [3, 6], "image_size": [16, 32]}


def _synthetic(noise_seed=0):
    rng = np.random.default_rng(noise_seed)
    calls = []

    def evaluate(recipe):
        r = dict(recipe)
        calls.append(recipe)
        rho = 0.1 * np.log2(r["epoch"]) + rng.normal(0, 0.003)  # only the epochs matter
        cost = r["epoch"] * r["channels"] * r["n_layers"] * (r["image_size"] / 16) ** 2
        return rho, cost

    return evaluate, calls


def test_uninformative_hyper_parameters_are_pruned_at_their_cheapest():
    evaluate, calls = _synthetic()
    res = mip(SPACE, evaluate, first_round=12, per_round=4, temperature=2.0, seed=0)
    assert res.stopped == "one hyper-parameter left free"
    assert [p.fixed for p in res.prunings] and "epoch" not in res.fixed
    assert res.fixed == {"channels": 4, "n_layers": 3, "image_size": 16}
    assert len(calls) == len(set(calls)) == len(res.evaluations)  # nothing evaluated twice
    for p in res.prunings:  # the pruned one was the least important of those still free
        assert p.importances[p.fixed] == min(p.importances.values())
    assert res.best.rho == max(e.rho for e in res.evaluations)
    assert res.best.value("epoch") == 8
    assert res.spent_s == pytest.approx(sum(e.cost_s for e in res.evaluations))


def test_budget_stops_after_the_round_that_spends_it():
    evaluate, calls = _synthetic()
    res = mip(SPACE, evaluate, first_round=6, per_round=4, seed=1, budget_s=1.0)
    assert res.stopped == "budget of 1 s spent" and len(res.prunings) == 1 and len(calls) == 6


def test_cost_cap_picks_the_best_affordable_recipe():
    evaluate, _ = _synthetic()
    res = mip(SPACE, evaluate, first_round=16, per_round=4, temperature=3.0, seed=2, cost_cap_s=60)
    assert res.best.cost_s <= 60
    assert res.best.rho == max(e.rho for e in res.evaluations if e.cost_s <= 60)


def _e(fp, cost, rho=0.5, epoch=10):
    return Evaluation((("epoch", epoch), ("fp", fp)), rho, cost)


def test_cheapest_value_is_measured_not_assumed():
    # fp 16 listed first (assumed cheaper) but measured slower on this device: 32 is chosen
    evals = [_e(16, 30.0), _e(16, 34.0), _e(32, 20.0), _e(32, 26.0, epoch=20)]
    assert cheapest_value(evals, "fp", [16, 32]) == 32
    assert cheapest_value(evals[:2], "fp", [16, 32]) == 16  # 32 never evaluated: not a candidate
    assert cheapest_value([_e(16, 5.0), _e(32, 5.0)], "fp", [16, 32]) == 16  # ties: listed first
    with pytest.raises(ValueError, match="no evaluated recipe"):
        cheapest_value(evals, "fp", [8])


def test_pareto_front_by_hand():
    a, b, c, d = _e(16, 1.0, 0.2), _e(16, 2.0, 0.5, 20), _e(32, 3.0, 0.4), _e(32, 4.0, 0.7, 20)
    assert pareto_front([c, a, d, b]) == [a, b, d]  # c costs more than b and ranks worse


def test_sampling_is_biased_to_the_cheap_end():
    rng = np.random.default_rng(0)
    space = {"a": [1, 2, 3], "b": [10, 20]}
    cold = Counter(dict(draw_recipe(space, {}, rng, 1e-3))["a"] for _ in range(200))
    assert cold == {1: 200}
    warm = Counter(dict(draw_recipe(space, {"b": 20}, rng, 1.0))["a"] for _ in range(6000))
    w = np.exp(-np.arange(3.0))
    for k, v in enumerate([1, 2, 3]):  # p ∝ e^0, e^-1, e^-2
        assert warm[v] / 6000 == pytest.approx(w[k] / w.sum(), abs=0.02)
    assert all(dict(draw_recipe(space, {"b": 20}, rng, 1.0))["b"] == 20 for _ in range(20))


def test_a_space_of_one_hyper_parameter_is_an_error():
    with pytest.raises(ValueError, match="at least two"):
        mip({"epoch": [1, 2]}, lambda r: (0.0, 1.0))
