"""Benchmarks generated from the specs that search with proxy trainings: recipe searches (task
``"recipe_search"``: minimum-importance pruning over BPE recipes) and architecture searches with a
recipe as the estimator (task ``"estimator_search"``: random search, regularized evolution). One
case per spec and job, timed once with pytest-benchmark, trainings kept in a fresh run folder
(``$QSRBENCH_RUNS`` under the test's tmp dir), so the time is the search's and nothing is replayed.

What must hold is the search's own bookkeeping: the seconds it reports are the sum of its
trainings' costs; every pruning fixed a value of the space and left the others free; the found
recipe is the best ρ among the affordable ones; the found genotype's estimate is the history's
maximum; every candidate was evaluated. The quality of what is found lives on leaderboards/bpe.md.
"""

from __future__ import annotations

import pytest

from qsrbench.data.root import resolve_data_root
from qsrbench.methods import RunContext
from qsrbench.registry import methods
from qsrbench.testing import missing_data, need_cifar10

from .conftest import job_params, load_all_specs

TASKS = ("recipe_search", "estimator_search")
SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task in TASKS]


def _check_recipe_search(spec, res):
    s = res.extra["recipe_search"]
    m = spec.method
    assert res.metrics["search_s"] == pytest.approx(sum(e["spent_s"] for e in s["evaluations"]))
    assert len(s["evaluations"]) >= m.first_round and len(s["prunings"]) >= 1
    for i, p in enumerate(s["prunings"]):
        assert p["value"] in m.space[p["fixed"]] and p["fixed"] not in {q["fixed"] for q in s["prunings"][:i]}
    affordable = [e for e in s["evaluations"] if m.cost_cap_s is None or e["cost_s"] <= m.cost_cap_s]
    assert s["best"]["rho"] == max(e["rho"] for e in affordable)
    assert all(-1.0 <= e["rho"] <= 1.0 for e in s["evaluations"])


def _check_estimator_search(spec, res):
    s = res.extra["estimator_search"]
    assert len(s["estimates"]) == spec.method.candidates
    assert s["found_estimate"] == max(s["estimates"]) and res.metrics["search_s"] > 0


@pytest.mark.parametrize("spec,job", job_params(SPECS))
def test_search_job(benchmark, request, tmp_path, monkeypatch, spec, job):
    root = resolve_data_root()
    need_cifar10(request.config, root)
    if not (root.parent / "nas" / "bpe_ground_truth.json").is_file():
        missing_data(request.config, f"the NAS ground truth is not beside {root} (shared/nas)")
    monkeypatch.setenv("QSRBENCH_RUNS", str(tmp_path / "runs"))
    method = methods.get(spec.method.name)
    res = benchmark.pedantic(method().run_job, args=(spec, job, RunContext(data_root=root)), rounds=1, iterations=1)
    benchmark.extra_info.update({"spec": spec.name, "job": job.variant, "search_s": res.metrics["search_s"],
                                 "device": res.extra["device"]})
    (_check_recipe_search if method.task == "recipe_search" else _check_estimator_search)(spec, res)
