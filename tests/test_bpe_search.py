"""Search with a recipe as the estimator (reference/bpe_search.py): aging evolution against
Real et al.'s Algorithm 1 on a synthetic fitness (the oldest dies, the tournament's best is the
parent, a child differs from its parent by exactly one pair), random search's draws, a killed
search that replays its kept trainings, spec checks, and the board's section by hand."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

import reference.bpe_search as bpe_search
from qsrbench.errors import SpecError
from qsrbench.methods import RunContext
from qsrbench.nas import Genotype
from qsrbench.nas.estimate import EstimateResult
from qsrbench.recipe_search_board import estimator_search_section
from qsrbench.registry import methods
from qsrbench.spec import parse_spec
from qsrbench.store import Record
from reference.bpe_search import OPS, aging_evolution, mutate, random_search
from reference.random_search import random_genotype

import torch

from .test_bpe import _truth

SPEC = {"name": "bs-t", "version": 1, "description": "test", "tier": "smoke", "leaderboard": "bpe",
        "datasets": ["CIFAR-10"],
        "method": {"name": "bpe-search", "recipe": "BPE-1", "candidates": 12, "population": 4, "sample_size": 2,
                   "search_seeds": [0], "seeds": [0], "device": "cpu"},
        "metrics": {"search_s": {}}}


def spec(**method):
    d = copy.deepcopy(SPEC)
    d["method"].update(method)
    return d


def _diff(a: Genotype, b: Genotype) -> list[tuple[str, int]]:
    return [(cell, k) for cell in ("normal", "reduce")
            for k, (p, q) in enumerate(zip(getattr(a, cell), getattr(b, cell))) if p != q]


def _convs(g: Genotype) -> int:
    return sum(op.startswith(("sep", "dil")) for op, _ in g.normal + g.reduce)


def test_a_mutation_changes_exactly_one_pair_and_keeps_a_valid_cell():
    g = torch.Generator().manual_seed(3)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(300):
        parent = random_genotype(g)
        child = mutate(parent, rng)
        ((cell, k),) = _diff(parent, child)
        (op0, src0), (op1, src1) = getattr(parent, cell)[k], getattr(child, cell)[k]
        assert (op0 != op1) != (src0 != src1)  # operation or input, not both
        kinds.add("op" if op0 != op1 else "input")
        assert op1 in OPS and src1 < k // 2 + 2 and src1 != getattr(child, cell)[k ^ 1][1]
        Genotype.model_validate(child.model_dump())  # still a valid genotype
    assert kinds == {"op", "input"}


def test_aging_evolution_follows_algorithm_1():
    seen = []

    def fitness(g):
        seen.append(g)
        return float(_convs(g))

    history = aging_evolution(fitness, candidates=60, population=10, sample_size=3, seed=1)
    assert len(history) == 60 and [h[0] for h in history] == seen
    for i in range(10, 60):  # each child's parent is among the 10 most recent members before it
        alive = history[i - 10:i]
        parents = [j for j, (g, _) in enumerate(alive) if len(_diff(g, history[i][0])) == 1]
        assert parents, f"child {i} has no parent among the living population"
    # selection pressure on a fitness that counts convolutions: the late members beat the first ones
    assert np.mean([f for _, f in history[-10:]]) > np.mean([f for _, f in history[:10]]) + 2


def test_tournament_of_one_is_random_walk_and_population_bound():
    with pytest.raises(ValueError, match="population 5 exceeds the 4 candidates"):
        aging_evolution(lambda g: 0.0, candidates=4, population=5, sample_size=1, seed=0)
    h = aging_evolution(lambda g: 0.0, candidates=8, population=4, sample_size=1, seed=0)
    assert len(h) == 8


def test_random_search_draws_the_random_baseline_genotypes():
    h = random_search(lambda g: 1.0, candidates=5, seed=7)
    g = torch.Generator().manual_seed(7)
    assert [x[0] for x in h] == [random_genotype(g) for _ in range(5)]


@pytest.mark.parametrize("changes,match", [
    ({"population": 20}, r"method.population: 20 exceeds the 12 candidates"),
    ({"sample_size": 5}, r"method.sample_size: 5 exceeds the population 4"),
    ({"strategies": ["annealing"]}, r"method.strategies"),
    ({"candidates": 1}, r"method.candidates"),
])
def test_bad_specs_name_the_field(changes, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(spec(**changes))


def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("QSRBENCH_NAS_TRUTH", str(tmp_path / "truth.json"))
    monkeypatch.setenv("QSRBENCH_RUNS", str(tmp_path / "runs"))
    _truth(tmp_path / "truth.json")
    calls = []

    def estimate(genotype, recipe, train, test, *, seed, device, score, compile):
        calls.append(genotype)
        top1 = 10.0 + _convs(genotype)
        return EstimateResult([top1], top1, 1000, 0.9, 0.1, "stand-in CPU", recipe.epoch, 1.0)

    monkeypatch.setattr(bpe_search, "estimate", estimate)
    monkeypatch.setattr(bpe_search.BPESearch, "_split", lambda self, ctx, name, split, n, seed: None)
    return calls


def test_a_killed_search_replays_its_kept_trainings(tmp_path, monkeypatch):
    calls = _setup(tmp_path, monkeypatch)
    s = parse_spec(spec())
    m = methods.get("bpe-search")()
    jobs = m.jobs(s)
    assert [j.variant for j in jobs] == ["random seed 0", "evolution seed 0"]
    whole = m.run_job(s, jobs[1], RunContext(verify=False))
    search = whole.extra["estimator_search"]
    assert len(search["estimates"]) == 12 and len(calls) == search["distinct"]
    assert search["found_estimate"] == max(search["estimates"]) == search["estimates"][search["found_index"]]
    assert whole.metrics["search_s"] == pytest.approx(1.0 * search["distinct"])  # each training paid once
    kept = sorted(next((tmp_path / "runs").rglob("trainings")).glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for p in kept[5:]:
        p.unlink()
    calls.clear()
    again = m.run_job(s, jobs[1], RunContext(verify=False))
    assert len(calls) == len(kept) - 5 and again.extra == whole.extra and again.metrics == whole.metrics


def _rec(strategy, seed, found, estimates):
    geno = random_genotype(torch.Generator().manual_seed(seed)).model_dump(mode="json")
    return Record(spec="bs-s", spec_version=1, spec_hash="h", spec_file="f.toml", leaderboard="bpe", tier="small",
                  method="bpe-search", model=None, bits={"weight": 32, "activation": 32}, dataset="CIFAR-10",
                  scale=None, variant=f"{strategy} seed {seed}", metrics={"search_s": 600.0},
                  metric_info={"search_s": {"unit": "s", "direction": "lower", "tolerance": math.inf}},
                  wall_s=600.0, env={"device": "cpu"}, timestamp="2026-01-01T00:00:00",
                  extra={"device": "cpu", "estimator_search": {
                      "strategy": strategy, "search_seed": seed, "recipe_name": "custom", "recipe": {},
                      "published": None, "estimates": estimates, "found_index": estimates.index(found),
                      "found": geno, "found_estimate": found, "distinct": len(estimates), "candidates": len(estimates),
                      "population": 2, "sample_size": 2, "seeds": [2]}})


def test_board_section_by_hand():
    recs = [_rec("random", 0, 50.0, [40.0, 50.0, 45.0, 48.0]), _rec("random", 1, 52.0, [52.0, 41.0, 43.0, 44.0]),
            _rec("evolution", 0, 55.0, [40.0, 42.0, 49.0, 55.0]), _rec("evolution", 1, 57.0, [41.0, 57.0, 43.0, 44.0])]
    text = "\n".join(estimator_search_section(recs))
    # random: found 50, 52 → mean 51, t(1) interval 51 ± 12.706 · 1 = [38.29, 63.71]
    assert "| 51.00 [38.29, 63.71]" in text
    # best so far at 25 / 50 / 100 %: random seeds (40, 50, 50) and (52, 52, 52) → 46.00 / 51.00 / 51.00
    assert "46.00 / 51.00 / 51.00" in text
    # evolution − random: (56 - 51) with Welch: se = sqrt(2/2 + 2/2) = 1.41421, df = 2, t = 4.30265 → ± 6.0849
    assert "+5.00 [-1.08, +11.08]" in text
    assert estimator_search_section([]) == []
    json.dumps(text)  # plain text
