"""Benchmarks generated from the NAS specs (task ``"nas"``): one case per spec and seed.

``test_nas_search[<spec>-seed<N>]`` times a whole job (search, final training, test) with
pytest-benchmark and checks what must hold:

* the network learned: its test top-1 is above chance with a one-sided binomial bound — more
  correct test images than a guesser of 1/classes reaches with probability 0.001 on that many
  images (:func:`qsrbench.stats.above_chance`);
* error = 100 - top-1, the search made supernet passes (a search method) and ran on the spec's
  device;
* in the full tier, the papers' claims: the error within tolerance exactly when the spec expects
  it, and the search-cost claim as a ratio to DARTS's (per search) against the measured ratio to
  the committed DARTS record of the same tier on the same device, within ``COST_BAND``.

A spec that asks for ``device = "cuda"`` is skipped on a machine without CUDA (a GPU tier, not
missing data). NAS accuracies are not gated against the committed records: minutes-long CPU
trainings move with thread counts and library versions more than any useful tolerance; the
leaderboard's intervals over seeds are the comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qsrbench.data.root import resolve_data_root
from qsrbench.methods import RunContext
from qsrbench.nas_board import COST_BAND
from qsrbench.registry import methods
from qsrbench.stats import above_chance, ratio_interval
from qsrbench.store import latest, load_records
from qsrbench.testing import need_cifar10

from .conftest import job_params, load_all_specs

SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task == "nas"]
RESULTS = Path(__file__).resolve().parent.parent / "results"
ALPHA = 1e-3  # chance of a guesser passing the learning check


def _cost_claims(spec, res):
    """Measured search-time ratio to the committed DARTS records of the tier vs the claimed one."""
    claims = [c for s in SPECS if s.leaderboard == spec.leaderboard for c in s.expected
              if c.kind == "published" and "search_gpu_days" in c.metrics]
    per_run = {next(s.method.name for s in SPECS if c in s.expected): c.metrics["search_gpu_days"] / c.covers_runs
               for c in claims}
    if spec.method.name not in per_run or "darts" not in per_run or spec.method.name == "darts":
        return None
    darts = [r for r in latest(load_records(RESULTS)).values() if r.method == "darts"
             and r.tier == spec.tier and r.extra.get("device") == res.extra["device"]] if RESULTS.is_dir() else []
    if not darts:
        pytest.skip(f"cost claim not comparable: no committed darts record of the {spec.tier} tier on "
                    f"{res.extra['device']}")
    measured = ratio_interval([res.metrics["search_s"]], [r.metrics["search_s"] for r in darts])
    return measured.estimate / (per_run[spec.method.name] / per_run["darts"])


@pytest.mark.parametrize("spec,job", job_params(SPECS))
def test_nas_search(benchmark, request, spec, job):
    if spec.method.device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: the spec asks for a CUDA device and none is available")
    root = resolve_data_root()
    need_cifar10(request.config, root)
    method = methods.get(spec.method.name)()
    res = benchmark.pedantic(method.run_job, args=(spec, job, RunContext(data_root=root)),
                             rounds=1, iterations=1)
    top1, extra = res.metrics["top1"], res.extra
    benchmark.extra_info.update({"spec": spec.name, "seed": job.variant, **res.metrics,
                                 "device": extra["device"]})
    n, correct = extra["test_images"], extra["test_correct"]
    assert above_chance(correct, n, 1.0 / extra["classes"], ALPHA), (
        f"top-1 {top1:.2f}% ({correct}/{n}) is not above chance: the network did not learn")
    assert abs(res.metrics["error"] - (100.0 - top1)) < 1e-9 and abs(top1 - 100.0 * correct / n) < 1e-9
    if extra["search_epochs"]:
        assert extra["forward_passes"] > 0 and extra["backward_passes"] > 0
    assert res.metrics["search_s"] >= 0 and extra["device"]
    for claim in spec.expected:
        if claim.kind == "published" and "error" in claim.metrics:
            tol = spec.metric("error")[2]
            reproduced = abs(res.metrics["error"] - claim.metrics["error"]) <= tol
            assert reproduced == (claim.expect == "reproduced"), (
                f"error {res.metrics['error']:.2f}% vs claimed {claim.metrics['error']} ({claim.source}), "
                f"tolerance {tol}: the spec expects it {claim.expect}")
    if spec.tier == "full":
        factor = _cost_claims(spec, res)
        if factor is not None:
            assert 1 / COST_BAND <= factor <= COST_BAND, (
                f"search cost relative to DARTS is x{factor:.2f} of the claimed ratio (band x1/{COST_BAND:g} "
                f"to x{COST_BAND:g})")
