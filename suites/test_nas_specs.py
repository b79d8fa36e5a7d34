"""Benchmarks generated from the NAS specs (task ``"nas"``): one case per spec and seed.

``test_nas_search[<spec>-seed<N>]`` times a whole job (search, final training, test) with
pytest-benchmark and checks what must hold whatever the accuracy: top-1 in [0, 100] and
error = 100 - top-1, a search that made supernet passes, the device it ran on, and the claims of
the spec (``expected``, the papers' numbers in the ``full`` tier) within tolerance. A spec that
asks for ``device = "cuda"`` is skipped on a machine without CUDA (a GPU tier, not missing data).
NAS results are not gated against the committed records: accuracies of minutes-long CPU runs
move with thread counts and library versions more than any useful tolerance.
"""

from __future__ import annotations

import pytest
import torch

from qsrbench.data.root import resolve_data_root
from qsrbench.methods import RunContext
from qsrbench.registry import methods
from qsrbench.testing import missing_data

from .conftest import load_all_specs, selected_tiers

SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task == "nas"]


def _cases():
    for spec in SPECS:
        for job in methods.get(spec.method.name)().jobs(spec):
            yield pytest.param(spec, job, id=f"{spec.name}-{job.variant.replace(' ', '')}")


@pytest.mark.parametrize("spec,job", _cases())
def test_nas_search(benchmark, request, spec, job):
    if spec.tier not in selected_tiers(request.config):
        pytest.skip(f"tier {spec.tier!r} not selected (pass --tier {spec.tier})")
    if spec.method.device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: the spec asks for a CUDA device and none is available")
    root = resolve_data_root()
    if not ((root / "CIFAR10-jpeg75").is_dir() or (root / "cifar-10-batches-py").is_dir()):
        missing_data(request.config, f"CIFAR-10 is not under {root} (set QSRBENCH_DATA)")
    method = methods.get(spec.method.name)()
    res = benchmark.pedantic(method.run_job, args=(spec, job, RunContext(data_root=root)),
                             rounds=1, iterations=1)
    top1 = res.metrics["top1"]
    benchmark.extra_info.update({"spec": spec.name, "seed": job.variant, **res.metrics,
                                 "device": res.extra["device"]})
    assert 0.0 <= top1 <= 100.0 and abs(res.metrics["error"] - (100.0 - top1)) < 1e-9
    assert res.extra["forward_passes"] > 0 and res.extra["backward_passes"] > 0
    assert res.metrics["search_s"] > 0 and res.extra["device"]
    for exp in spec.expected:
        for metric, claimed in exp.metrics.items():
            if metric in res.metrics:
                tol = spec.metric(metric)[2]
                assert abs(res.metrics[metric] - claimed) <= tol, (
                    f"{metric}: reproduced {res.metrics[metric]:.3f}, claimed {claimed} ({exp.source})")
