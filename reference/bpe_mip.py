"""Minimum-importance pruning (MIP): searching the budgeted estimation space for a cheap recipe
that ranks architectures well (Zheng et al., "Rethinking Performance Estimation in Neural
Architecture Search", CVPR 2020, arXiv 2005.09917).

The paper's description (Fig. 2 caption and Sec. 3, as quoted): "We first sample the example with
the lowest time cost. Then the sampled example is used to train the random forest, which is used
to evaluate the importance of the corresponding hyper-parameters. The hyper-parameter with the
lowest importance is pruned by assigning the value with a minimum time cost", and "the algorithm
stops when every hyper-parameter is set". The authors' repository
(MAC-AutoML/rethinking_performance_estimation_in_NAS @ af83b7a) has no MIP code; its README links
automl/fanova, hence fANOVA-style main-effect importances (:mod:`qsrbench.importance`). What the
text leaves open is a parameter here, with the choice stated:

* the space: candidate values per hyper-parameter, listed **cheapest first** (the spec's order);
* sampling "with the lowest time cost": each free hyper-parameter draws its value with
  probability ∝ ``exp(-rank / temperature)`` (rank 0 = cheapest listed), ``first_round`` recipes
  before the first fit, ``per_round`` after each pruning; recipes already evaluated are not
  drawn again;
* the forest: ``sklearn`` random forest (``trees``) from the free hyper-parameters' values of
  every evaluated recipe to its Spearman ρ; importance ``"marginal"`` (fANOVA-style) or
  ``"impurity"``;
* "the value with a minimum time cost": measured, not assumed (a setting slower on this device
  than its listing says is not chosen): a second forest maps every hyper-parameter of the
  evaluated recipes to log cost, and the value with the lowest marginal mean (the cost main
  effect, averaged over the other hyper-parameters' values, so that a value tried with cheap
  company does not look cheap) wins; values never evaluated are not candidates; ties: the one
  listed first;
* stopping: when one hyper-parameter is left free (fixing it too would return the cheapest
  recipe, whatever it ranks) or when the evaluations have cost ``budget_s``;
* the result: the evaluated recipe with the highest ρ among those costing at most ``cost_cap_s``
  per network (None: any), and the (cost, ρ) Pareto front of all evaluated recipes — the
  published BPE-1 / BPE-2 are two points of such a front, not the last assignment of the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qsrbench.importance import fit_forest, importances, marginal_means

__all__ = ["Evaluation", "Pruning", "MIPResult", "draw_recipe", "cheapest_value", "pareto_front", "mip"]


@dataclass(frozen=True)
class Evaluation:
    recipe: tuple[tuple[str, float], ...]  # (name, value) in the space's order
    rho: float
    cost_s: float  # per network

    def value(self, name: str) -> float:
        return dict(self.recipe)[name]


@dataclass
class Pruning:
    """One MIP iteration: importances of the free hyper-parameters, what was fixed to what."""

    evaluations: int
    importances: dict[str, float]
    fixed: str
    value: float


@dataclass
class MIPResult:
    evaluations: list[Evaluation]
    prunings: list[Pruning]
    fixed: dict[str, float]
    best: Evaluation | None
    front: list[Evaluation]
    spent_s: float
    stopped: str
    extra: dict = field(default_factory=dict)


def draw_recipe(space: dict[str, list[float]], fixed: dict[str, float], rng: np.random.Generator,
                temperature: float) -> tuple[tuple[str, float], ...]:
    """A recipe: fixed values kept, each free one drawn cheapest-biased (``exp(-rank / T)``)."""
    out = []
    for name, values in space.items():
        if name in fixed:
            out.append((name, fixed[name]))
            continue
        w = np.exp(-np.arange(len(values)) / temperature)
        out.append((name, values[int(rng.choice(len(values), p=w / w.sum()))]))
    return tuple(out)


def cheapest_value(evals: list[Evaluation], name: str, candidates: list[float],
                   space: dict[str, list[float]] | None = None, *, trees: int = 100, seed: int = 0) -> float:
    """The evaluated candidate of ``name`` with the lowest marginal log cost (ties: listed first).
    Without ``space`` (or with a single evaluated recipe) the plain mean cost per value is used."""
    tried = [v for v in candidates if any(e.value(name) == v for e in evals)]
    if not tried:
        raise ValueError(f"no evaluated recipe has any value of {name!r}")
    if space is None or len(evals) < 2:
        costs = [float(np.mean([e.cost_s for e in evals if e.value(name) == v])) for v in tried]
    else:
        names = list(space)
        x = np.array([[e.value(n) for n in names] for e in evals], np.float64)
        y = np.log(np.maximum([e.cost_s for e in evals], 1e-12))
        forest = fit_forest(x, y, trees=trees, seed=seed)
        grid_values = [space[n] if n != name else tried for n in names]
        costs = marginal_means(forest, grid_values, names.index(name), seed=seed)
    return tried[int(np.argmin(costs))]


def pareto_front(evals: list[Evaluation]) -> list[Evaluation]:
    """Evaluations no other one beats on both cost (lower) and ρ (higher), cheapest first."""
    front = [e for e in evals if not any((o.cost_s <= e.cost_s and o.rho > e.rho)
                                         or (o.cost_s < e.cost_s and o.rho >= e.rho) for o in evals)]
    return sorted(set(front), key=lambda e: (e.cost_s, -e.rho))


def _draw_new(space, fixed, rng, temperature, seen: set, tries: int = 200):
    for _ in range(tries):
        recipe = draw_recipe(space, fixed, rng, temperature)
        if recipe not in seen:
            return recipe
    return None  # the remaining space is (nearly) exhausted


def mip(space: dict[str, list[float]], evaluate: Callable[[tuple[tuple[str, float], ...]], tuple[float, float]],
        *, first_round: int = 8, per_round: int = 4, temperature: float = 1.0, seed: int = 0,
        importance: str = "marginal", trees: int = 100, budget_s: float | None = None,
        cost_cap_s: float | None = None) -> MIPResult:
    """Run MIP over ``space`` (name → values, cheapest first); ``evaluate(recipe)`` returns
    ``(rho, cost_s per network)``. See the module docstring for every rule."""
    if len(space) < 2 or any(len(v) < 1 for v in space.values()):
        raise ValueError("the space needs at least two hyper-parameters, each with a value")
    rng = np.random.default_rng(seed)
    evals: list[Evaluation] = []
    prunings: list[Pruning] = []
    fixed: dict[str, float] = {}
    spent, stopped, batch = 0.0, "one hyper-parameter left free", first_round
    while len(space) - len(fixed) > 1:
        seen = {e.recipe for e in evals}
        for _ in range(batch):
            recipe = _draw_new(space, fixed, rng, temperature, seen)
            if recipe is None:
                break
            rho, cost = evaluate(recipe)
            evals.append(Evaluation(recipe, float(rho), float(cost)))
            seen.add(recipe)
            spent += float(cost)
        free = [n for n in space if n not in fixed]
        x = np.array([[e.value(n) for n in free] for e in evals], np.float64)
        y = np.array([e.rho for e in evals], np.float64)
        imp = importances(fit_forest(x, y, trees=trees, seed=seed), [space[n] for n in free], importance,
                          seed=seed) if len(evals) >= 2 else np.zeros(len(free))
        least = free[int(np.argmin(imp))]  # ties: the first free one in the space's order
        value = cheapest_value(evals, least, space[least], {n: space[n] for n in space},
                               trees=trees, seed=seed)
        fixed[least] = value
        prunings.append(Pruning(len(evals), dict(zip(free, map(float, imp))), least, value))
        batch = per_round
        if budget_s is not None and spent >= budget_s:
            stopped = f"budget of {budget_s:g} s spent"
            break
    affordable = [e for e in evals if cost_cap_s is None or e.cost_s <= cost_cap_s]
    best = max(affordable, key=lambda e: (e.rho, -e.cost_s)) if affordable else None
    return MIPResult(evals, prunings, fixed, best, pareto_front(evals), spent, stopped)
