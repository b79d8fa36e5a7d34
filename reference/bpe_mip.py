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

The method ``bpe-mip`` runs :func:`mip` over real proxy trainings: evaluating a recipe trains the
spec's architecture sample (BPE's ``archs`` / ``arch_seed`` / ``arch_names``, ``seeds``, training
and test subsets) under it with BPE's protocol (``reference/bpe.py``, :mod:`qsrbench.nas.estimate`);
ρ = Spearman of the proxies (mean over seeds) against the ground truth (0 when every proxy is
equal: no ranking information), cost = mean seconds per training, and the budget counts every
training's seconds. The hyper-parameters outside ``space`` keep the values of ``recipe`` (a
published one) or ``recipe_values``. Each (recipe, architecture, seed) training is a JSON file in
the run folder (``$QSRBENCH_RUNS/<spec>/v<version>-<hash>-<code>-<dataset>/trainings``, written
atomically), so a run killed mid-search replays the same draws from its kept trainings, with their
measured costs, and goes on where it stopped. One record per data set: ``search_s`` (seconds of
training spent), and in ``extra.recipe_search`` every evaluation (recipe, ρ, cost, proxies), every
pruning (importances, what was fixed to what), the best recipe, the (cost, ρ) front and why the
search stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from pydantic import Field, ValidationError
from scipy.stats import spearmanr

from qsrbench.errors import QsrbenchError
from qsrbench.importance import fit_forest, importances, marginal_means
from qsrbench.methods import Job, JobResult, RunContext
from qsrbench.nas.estimate import estimate
from qsrbench.nas.ground_truth import Recipe
from qsrbench.nas.method import resolve_device
from qsrbench.provenance import code_fingerprint, roots_for
from qsrbench.registry import register_method
from qsrbench.spec import SpecBase, spec_hash
from qsrbench.train.method import runs_root

from .bpe import BPE, BPEParams, sample_archs

__all__ = ["Evaluation", "Pruning", "MIPResult", "draw_recipe", "cheapest_value", "pareto_front", "mip",
           "BPEMIPParams", "BPEMIP"]


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
    ``(rho, cost_s per network)``, optionally a third value: the seconds the evaluation spent in
    all (what ``budget_s`` counts; default: the cost per network). See the module docstring."""
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
            out = evaluate(recipe)
            rho, cost = out[0], out[1]
            evals.append(Evaluation(recipe, float(rho), float(cost)))
            seen.add(recipe)
            spent += float(out[2] if len(out) > 2 else cost)
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


# -- the method: MIP over real proxy trainings --------------------------------------------------

class BPEMIPParams(BPEParams):
    name: Literal["bpe-mip"] = Field(description="minimum-importance pruning over BPE recipes (CVPR 2020)")
    space: dict[str, list[int | float]] = Field(min_length=2, description=(
        "hyper-parameter (the ground truth's recipe keys) → candidate values, cheapest first; the "
        "others keep the values of recipe / recipe_values"))
    first_round: int = Field(8, ge=2, description="recipes drawn before the first forest")
    per_round: int = Field(4, ge=1, description="recipes drawn after each pruning")
    temperature: float = Field(1.0, gt=0, description="cheap bias of the draws: p ∝ exp(-rank / T)")
    search_seed: int = Field(0, description="seed of the recipe draws and the forests")
    importance: Literal["marginal", "impurity"] = Field("marginal", description="fANOVA-style or impurity")
    trees: int = Field(100, ge=10, description="trees per random forest")
    budget_s: float | None = Field(None, gt=0, description="stop once the trainings have taken this many s")
    cost_cap_s: float | None = Field(None, gt=0, description="the result: best ρ among recipes ≤ this s/network")


def _space_problems(m: BPEMIPParams) -> list[tuple[str, str]]:
    keys = {f.alias or n for n, f in Recipe.model_fields.items()}
    problems = [(f"method.space.{k}", f"not a recipe hyper-parameter (one of {', '.join(sorted(keys))})")
                for k in m.space if k not in keys]
    problems += [(f"method.space.{k}", "give at least one value, no repeats")
                 for k, v in m.space.items() if not v or len(set(v)) != len(v)]
    if problems:
        return problems
    for k, values in m.space.items():  # each value alone in an otherwise valid recipe
        for v in values:
            try:
                Recipe.model_validate({**_ANY_RECIPE, k: v})
            except ValidationError as exc:
                problems.append((f"method.space.{k}", f"{v!r}: {exc.errors()[0]['msg']}"))
    recipes = math.prod(len(v) for v in m.space.values())
    if m.first_round > recipes:
        problems.append(("method.first_round", f"{m.first_round} recipes asked of a space of {recipes}"))
    return problems


_ANY_RECIPE = {"epoch": 1, "batchsize": 1, "learning rate": 0.1, "n_layers": 1, "fp": 32, "channels": 1,
               "cutout_len": 0, "image_size": 8}


def _recipe_key(values: dict, arch: str, seed: int, m: BPEMIPParams) -> str:
    text = json.dumps([sorted(values.items()), arch, seed, m.train_images, m.test_images, m.score, m.compile])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)  # a kill leaves the old file or none, never half a file


@register_method
class BPEMIP(BPE):
    name = "bpe-mip"
    task = "recipe_search"
    Params = BPEMIPParams
    citation = "Zheng et al., Rethinking Performance Estimation in NAS, CVPR 2020 (arXiv 2005.09917), MIP"

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = [p for p in super().check_spec(spec) if p[0] != "metrics"]
        if set(spec.metrics) != {"search_s"}:
            problems.append(("metrics", "a recipe search measures search_s ([metrics] search_s = {}); ρ is in the record"))
        return problems + _space_problems(spec.method)

    def jobs(self, spec: SpecBase) -> list[Job]:
        return [Job(d, None, None, "mip") for d in spec.datasets]

    def _folder(self, spec: SpecBase, dataset: str) -> Path:
        code = code_fingerprint(roots_for(spec))["digest"]
        folder = runs_root() / spec.name / f"v{spec.version}-{spec_hash(spec)}-{code[:8]}-{dataset}" / "trainings"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _train(self, folder: Path, spec, ctx, dataset, arch, values: dict, seed: int) -> dict:
        m = spec.method
        path = folder / f"{_recipe_key(values, arch.name, seed, m)}.json"
        if path.is_file():
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise QsrbenchError(f"{path}: not a readable training record ({exc}); delete it to retrain") from None
            if kept.get("recipe") != values or kept.get("arch") != arch.name or kept.get("seed") != seed:
                raise QsrbenchError(f"{path}: holds another training than its name says; delete it to retrain")
            return kept
        train = self._split(ctx, dataset, "train", m.train_images, 0)
        test = self._split(ctx, dataset, "test", m.test_images, 0)
        res = estimate(arch.genotype, Recipe.model_validate(values), train, test, seed=seed,
                       device=resolve_device(m.device), score=m.score, compile=m.compile)
        kept = {"recipe": values, "arch": arch.name, "seed": seed, "top1": res.score, "cost_s": res.cost_s,
                "top1_per_epoch": res.top1_per_epoch, "device": res.device}
        _write_json(path, kept)
        return kept

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        m = spec.method
        truth = self._truth(ctx)
        base = self._recipe(spec, truth)[0].model_dump(by_alias=True)
        names = m.arch_names or [a.name for a in truth.archs]
        chosen = set(names if m.arch_names else sample_archs(names, m.archs, m.arch_seed))
        archs = [a for a in truth.archs if a.name in chosen]
        folder, log, devices = self._folder(spec, job.dataset), [], set()

        def evaluate(recipe):
            values = {**base, **dict(recipe)}
            runs = [self._train(folder, spec, ctx, job.dataset, a, values, s) for a in archs for s in m.seeds]
            proxy = [float(np.mean([r["top1"] for r in runs if r["arch"] == a.name])) for a in archs]
            truths = [a.test_accuracy for a in archs]
            rho = 0.0 if len(set(proxy)) < 2 else float(spearmanr(proxy, truths).statistic)
            spent = float(sum(r["cost_s"] for r in runs))
            devices.update(r["device"] for r in runs)
            log.append({"recipe": dict(recipe), "rho": rho, "cost_s": spent / len(runs), "spent_s": spent,
                        "proxy": dict(zip([a.name for a in archs], proxy))})
            return rho, spent / len(runs), spent

        res = mip({k: list(v) for k, v in m.space.items()}, evaluate, first_round=m.first_round,
                  per_round=m.per_round, temperature=m.temperature, seed=m.search_seed,
                  importance=m.importance, trees=m.trees, budget_s=m.budget_s, cost_cap_s=m.cost_cap_s)
        as_dict = lambda e: None if e is None else {"recipe": dict(e.recipe), "rho": e.rho, "cost_s": e.cost_s}  # noqa: E731
        return JobResult(
            metrics={"search_s": res.spent_s}, wall_s=res.spent_s,
            extra={"recipe_search": {
                "base": base, "space": m.space, "evaluations": log,
                "prunings": [{"evaluations": p.evaluations, "importances": p.importances, "fixed": p.fixed,
                              "value": p.value} for p in res.prunings],
                "fixed": res.fixed, "best": as_dict(res.best), "front": [as_dict(e) for e in res.front],
                "stopped": res.stopped, "budget_s": m.budget_s, "cost_cap_s": m.cost_cap_s,
                "archs": [a.name for a in archs], "ground_truth": {a.name: a.test_accuracy for a in archs},
                "seeds": m.seeds, "importance": m.importance},
                "device": ", ".join(sorted(devices)), "device_type": torch.device(resolve_device(m.device)).type,
                "train_images": m.train_images, "test_images": m.test_images})
