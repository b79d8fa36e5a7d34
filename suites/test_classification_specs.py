"""Benchmarks generated from the classification strategy-search specs (task ``"classification"``):
one case per spec and variant.

``test_classification_job[<spec>-<variant>]`` times one job (the FP classifier is trained once per
spec and session, in the first case, and timed there) with pytest-benchmark and checks what must
hold:

* the quantized network learned: its test top-1 is above chance with a one-sided binomial bound
  (:func:`qsrbench.stats.above_chance`, p = 0.001), and so is the FP network's;
* top-1 is the share of set bits of the record's per-image correctness, error = 100 − top-1, every
  variant of a spec scores the same FP network on the same images;
* a fixed variant uses its one (activation, weight) pair on every searched layer; the searched
  variant picks each layer's pair among the spec's candidates;
Not gated against the committed records: the FP network is trained in float32, whose trajectory
depends on the CPU's kernels (the same spec trains another network on an Intel Xeon than on an
AMD EPYC), as for the NAS suites; the committed records are checked for learning by
tests/test_committed.py and compared on the leaderboard with their intervals.
"""

from __future__ import annotations

import pytest

from qsrbench.data.root import resolve_data_root
from qsrbench.methods import RunContext
from qsrbench.registry import methods
from qsrbench.stats import above_chance
from qsrbench.strategy_cls_board import correct_bits
from qsrbench.testing import need_cifar10

from .conftest import job_params, load_all_specs

SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task == "classification"]
ALPHA = 1e-3
_METHODS: dict[str, object] = {}
_FP_SEEN: dict[str, str] = {}  # spec -> the FP network's per-image correctness of its first case


@pytest.mark.parametrize("spec,job", job_params(SPECS))
def test_classification_job(benchmark, request, spec, job):
    root = resolve_data_root()
    need_cifar10(request.config, root)
    method = _METHODS.setdefault(spec.name, methods.get(spec.method.name)())
    res = benchmark.pedantic(method.run_job, args=(spec, job, RunContext(data_root=root)), rounds=1, iterations=1)
    extra, n = res.extra, res.extra["test_images"]
    benchmark.extra_info.update({"spec": spec.name, "variant": job.variant, "top1": res.metrics["top1"]})
    mine = correct_bits(extra["correct"], n)
    assert res.metrics["top1"] == pytest.approx(100.0 * mine.sum() / n) and extra["test_correct"] == mine.sum()
    assert res.metrics["error"] == pytest.approx(100.0 - res.metrics["top1"])
    fp = correct_bits(extra["fp"]["correct"], n)
    assert above_chance(int(fp.sum()), n, 1 / extra["classes"], ALPHA), f"FP top-1 {100 * fp.mean():.2f}%"
    assert above_chance(int(mine.sum()), n, 1 / extra["classes"], ALPHA), f"top-1 {res.metrics['top1']:.2f}%"
    assert extra["fp"]["correct"] == _FP_SEEN.setdefault(spec.name, extra["fp"]["correct"]), (
        "variants of one spec scored different FP networks")
    m, layers = spec.method, extra["strategies"]["layers"]
    assert layers
    if job.variant == "search":
        assert all(c["activation"] in m.activation_strategies and c["weight"] in m.weight_strategies
                   for c in layers.values())
    else:
        pair = job.variant.removeprefix("fixed ").split("/")
        assert all([c["activation"], c["weight"]] == pair for c in layers.values())
