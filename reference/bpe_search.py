"""Architecture search with a budgeted recipe as the estimator: random search and regularized
(aging) evolution over the DARTS cell space, each candidate scored by a proxy training.

Zheng et al., "Rethinking Performance Estimation in Neural Architecture Search", CVPR 2020 (arXiv
2005.09917), Sec. 4: the recipe found by MIP (BPE) replaces full training as the performance
estimator of a search. The searches, as the paper's comparisons run them:

* **random**: ``candidates`` genotypes drawn uniformly from the cell space
  (``reference.random_search.random_genotype``: each node two distinct earlier inputs, each with one
  of the seven operations that are not 'none'); the one with the highest estimate is the result;
* **evolution**: regularized (aging) evolution, Real, Aggarwal, Huang and Le, "Regularized Evolution
  for Image Classifier Architecture Search", AAAI 2019, Algorithm 1: a population of ``population``
  random genotypes; then, until ``candidates`` genotypes have been evaluated, a tournament of
  ``sample_size`` members drawn uniformly (with replacement, as Algorithm 1), the best is the
  parent, its child (one mutation) is evaluated and joins the population, the oldest member dies.
  A mutation (Real et al., Sec. 3, "hidden state" or "op" mutation, one of the two with equal
  probability) picks the normal or the reduction cell, a node and one of its two pairs, and either
  replaces its operation by another one or its input by another earlier node not already the other
  pair's input. The result is the best genotype of the whole history (Real et al. report the best
  model found).

A candidate's estimate is its proxy top-1 under the spec's recipe (a published one, or
``recipe_values``, e.g. the recipe a ``bpe-mip`` search found, copied into the spec with its
source) with BPE's protocol (``reference/bpe.py``, :mod:`qsrbench.nas.estimate`). One job per
(strategy, search seed); each candidate training is kept as a JSON file in the run folder (keyed by
the genotype, the recipe and the seed), so a killed search replays its draws and resumes. The
found genotype is estimated, not fully trained (a full training per found cell is the ``full``
tier's business: 600 epochs in the paper).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from qsrbench.errors import QsrbenchError
from qsrbench.methods import Job, JobResult, RunContext
from qsrbench.nas import PRIMITIVES, Genotype
from qsrbench.nas.estimate import estimate
from qsrbench.nas.method import resolve_device
from qsrbench.provenance import code_fingerprint, roots_for
from qsrbench.registry import register_method
from qsrbench.spec import SpecBase, spec_hash
from qsrbench.train.method import runs_root

from .bpe import BPE, BPEParams
from .bpe_mip import _write_json
from .random_search import random_genotype

__all__ = ["BPESearchParams", "BPESearch", "mutate", "aging_evolution", "random_search"]

OPS = [p for p in PRIMITIVES if p != "none"]


class BPESearchParams(BPEParams):
    name: Literal["bpe-search"] = Field(description="random search / regularized evolution with a BPE recipe")
    strategies: list[Literal["random", "evolution"]] = Field(["random", "evolution"], min_length=1,
                                                             description="one job per strategy and search seed")
    search_seeds: list[int] = Field([0], min_length=1, description="seeds of the draws and mutations")
    candidates: int = Field(100, ge=2, description="genotypes evaluated per search (the budget)")
    population: int = Field(20, ge=2, description="evolution: population size P")
    sample_size: int = Field(5, ge=1, description="evolution: tournament size S")


def mutate(genotype: Genotype, rng: np.random.Generator) -> Genotype:
    """One op or input mutation of one pair of one cell (see the module docstring); the child
    always differs from the parent."""
    cell = "normal" if rng.random() < 0.5 else "reduce"
    pairs = list(getattr(genotype, cell))
    k = int(rng.integers(len(pairs)))
    op, src = pairs[k]
    node, other = k // 2, pairs[k ^ 1][1]
    inputs = [j for j in range(node + 2) if j not in (src, other)]
    if rng.random() < 0.5 or not inputs:
        pairs[k] = (str(rng.choice([o for o in OPS if o != op])), src)
    else:
        pairs[k] = (op, int(rng.choice(inputs)))
    return genotype.model_copy(update={cell: pairs})


def random_search(evaluate, candidates: int, seed: int) -> list[tuple[Genotype, float]]:
    """``candidates`` uniform genotypes and their estimates, in draw order."""
    g = torch.Generator().manual_seed(seed)
    return [(geno, evaluate(geno)) for geno in (random_genotype(g) for _ in range(candidates))]


def aging_evolution(evaluate, candidates: int, population: int, sample_size: int,
                    seed: int) -> list[tuple[Genotype, float]]:
    """Real et al. 2019, Algorithm 1: the history of (genotype, estimate), in evaluation order."""
    if population > candidates:
        raise ValueError(f"population {population} exceeds the {candidates} candidates")
    g, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    history = []
    for _ in range(population):
        geno = random_genotype(g)
        history.append((geno, evaluate(geno)))
    alive = list(history)
    while len(history) < candidates:
        picks = rng.integers(len(alive), size=sample_size)
        parent = max((alive[int(i)] for i in picks), key=lambda m: m[1])[0]
        child = mutate(parent, rng)
        history.append((child, evaluate(child)))
        alive = alive[1:] + [history[-1]]  # the oldest dies
    return history


@register_method
class BPESearch(BPE):
    name = "bpe-search"
    task = "estimator_search"
    Params = BPESearchParams
    citation = ("Zheng et al., CVPR 2020 (BPE as the estimator); Real et al., Regularized Evolution, AAAI 2019")

    @classmethod
    def check_spec(cls, spec: SpecBase) -> list[tuple[str, str]]:
        problems = [p for p in super().check_spec(spec) if p[0] != "metrics"]
        if set(spec.metrics) != {"search_s"}:
            problems.append(("metrics", "an estimator search measures search_s ([metrics] search_s = {})"))
        m = spec.method
        if "evolution" in m.strategies and m.population > m.candidates:
            problems.append(("method.population", f"{m.population} exceeds the {m.candidates} candidates"))
        if m.sample_size > m.population:
            problems.append(("method.sample_size", f"{m.sample_size} exceeds the population {m.population}"))
        return problems

    def jobs(self, spec: SpecBase) -> list[Job]:
        m = spec.method
        return [Job(d, None, None, f"{s} seed {k}") for d in spec.datasets for s in m.strategies for k in m.search_seeds]

    def _folder(self, spec: SpecBase, dataset: str) -> Path:
        code = code_fingerprint(roots_for(spec))["digest"]
        folder = runs_root() / spec.name / f"v{spec.version}-{spec_hash(spec)}-{code[:8]}-{dataset}" / "trainings"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _train(self, folder: Path, spec, ctx, dataset, recipe, genotype: Genotype, seed: int) -> tuple[str, dict]:
        """``(file name, training)``: the kept training of this genotype, recipe and seed, or a new one."""
        m = spec.method
        geno = genotype.model_dump(mode="json")
        key = json.dumps([geno, recipe.model_dump(by_alias=True), seed, m.train_images, m.test_images, m.score])
        path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"
        if path.is_file():
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise QsrbenchError(f"{path}: not a readable training record ({exc}); delete it to retrain") from None
            if kept.get("genotype") != geno or kept.get("seed") != seed:
                raise QsrbenchError(f"{path}: holds another training than its name says; delete it to retrain")
            return path.name, kept
        train = self._split(ctx, dataset, "train", m.train_images, 0)
        test = self._split(ctx, dataset, "test", m.test_images, 0)
        res = estimate(genotype, recipe, train, test, seed=seed, device=resolve_device(m.device),
                       score=m.score, compile=m.compile)
        kept = {"genotype": geno, "seed": seed, "top1": res.score, "cost_s": res.cost_s, "device": res.device}
        _write_json(path, kept)
        return path.name, kept

    def run_job(self, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
        m = spec.method
        strategy, _, seed = job.variant.partition(" seed ")
        recipe, published = self._recipe(spec, self._truth(ctx))
        folder, costs, devices = self._folder(spec, job.dataset), {}, set()

        def evaluate(genotype: Genotype) -> float:  # a genotype drawn again is not trained (or paid) again
            runs = dict(self._train(folder, spec, ctx, job.dataset, recipe, genotype, s) for s in m.seeds)
            costs.update((k, r["cost_s"]) for k, r in runs.items())
            devices.update(r["device"] for r in runs.values())
            return float(np.mean([r["top1"] for r in runs.values()]))

        if strategy == "random":
            history = random_search(evaluate, m.candidates, int(seed))
        else:
            history = aging_evolution(evaluate, m.candidates, m.population, m.sample_size, int(seed))
        best = max(range(len(history)), key=lambda i: history[i][1])  # ties: the first found
        spent = float(sum(costs.values()))
        return JobResult(
            metrics={"search_s": spent}, wall_s=spent,
            extra={"estimator_search": {
                "strategy": strategy, "search_seed": int(seed), "recipe_name": m.recipe,
                "recipe": recipe.model_dump(by_alias=True), "published": published,
                "estimates": [h[1] for h in history], "found_index": best,
                "found": history[best][0].model_dump(mode="json"), "found_estimate": history[best][1],
                "distinct": len({json.dumps(h[0].model_dump(mode="json")) for h in history}),
                "candidates": m.candidates, "population": m.population, "sample_size": m.sample_size,
                "seeds": m.seeds},
                "device": ", ".join(sorted(devices)), "train_images": m.train_images, "test_images": m.test_images})
