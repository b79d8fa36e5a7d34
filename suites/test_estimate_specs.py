"""Benchmarks generated from the performance-estimation specs (task ``"estimate"``): one case per
spec and (architecture, seed) job.

``test_estimate_job[<spec>-<arch>seed<N>]`` times one proxy training with pytest-benchmark (the
cost per network the leaderboard reports) and checks what must hold: the proxy learned (more
correct test images than a 1/10 guesser reaches with probability 0.001,
:func:`qsrbench.stats.above_chance`), its score is the best (or last) of its per-epoch scores,
and the cost is training plus scoring. The ranking quality (ρ) is a property of many jobs and
lives on the leaderboard, from the committed records.
"""

from __future__ import annotations

import pytest

from qsrbench.data.root import resolve_data_root
from qsrbench.methods import RunContext
from qsrbench.registry import methods
from qsrbench.stats import above_chance
from qsrbench.testing import missing_data, need_cifar10

from .conftest import job_params, load_all_specs

SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task == "estimate"]
ALPHA = 1e-3


@pytest.mark.parametrize("spec,job", job_params(SPECS))
def test_estimate_job(benchmark, request, spec, job):
    root = resolve_data_root()
    need_cifar10(request.config, root)
    if not (root.parent / "nas" / "bpe_ground_truth.json").is_file():
        missing_data(request.config, f"the NAS ground truth is not beside {root} (shared/nas)")
    res = benchmark.pedantic(methods.get(spec.method.name)().run_job,
                             args=(spec, job, RunContext(data_root=root)), rounds=1, iterations=1)
    extra = res.extra
    benchmark.extra_info.update({"spec": spec.name, "job": job.variant, "top1": res.metrics["top1"],
                                 "cost_s": res.wall_s, "device": extra["device"]})
    n = extra["test_images"]
    best = max(extra["top1_per_epoch"]) if spec.method.score == "best" else extra["top1_per_epoch"][-1]
    assert res.metrics["top1"] == best
    correct = round(best * n / 100)
    assert above_chance(correct, n, 0.1, ALPHA), f"proxy top-1 {best:.2f}% on {n} images is not above chance"
    assert res.wall_s == pytest.approx(extra["train_s"] + extra["eval_s"]) and extra["train_s"] > 0
