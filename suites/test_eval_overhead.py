"""How much of an evaluation is spent outside the model forward (goal: at most 10%).

``test_eval_overhead_four_sets`` evaluates the shipped IMDN x4 (full precision, the papers'
protocol) on Set5, Set14, B100 and Urban100 in one timed run, and reports in the benchmark's
``extra_info`` the forward seconds, the wall seconds and ``outside_forward_fraction`` =
1 - forward / wall (data preparation, rounding and PSNR/SSIM that the evaluator could not hide
behind the forward). Data loading and checksum verification happen before timing. Above the
10% goal the test warns (a speed goal is a benchmark figure, not an assertion); compare runs
with ``pytest-benchmark compare``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from qsrbench.data.root import resolve_data_root
from qsrbench.evaluate import evaluate_sr
from qsrbench.methods import RunContext
from qsrbench.registry import datasets, methods
from qsrbench.spec import load_spec
from qsrbench.testing import missing_data

from .conftest import SPEC_DIR, selected_tiers

SETS = ("Set5", "Set14", "B100", "Urban100")
GOAL = 0.10


def test_eval_overhead_four_sets(benchmark, request):
    if "small" not in selected_tiers(request.config):
        pytest.skip("small tier not selected")
    root = resolve_data_root()
    for name in SETS:
        if not (root / name / "HR").is_dir():
            missing_data(request.config, f"data set {name} is not under {root} (set QSRBENCH_DATA)")
    spec = load_spec(SPEC_DIR / "fp" / "fp-imdn-x4.toml")
    from reference.fp import weights_path

    if not weights_path(spec.model.weights, root).is_file():
        missing_data(request.config, f"weights {spec.model.weights} not found beside {root}")
    model = methods.get("fp")().build(spec, 4, RunContext(data_root=root))
    loaded = [datasets.get(n).load(root, [4]) for n in SETS]

    def run():
        return [evaluate_sr(model, data, 4, spec.protocol) for data in loaded]

    results = benchmark.pedantic(run, rounds=1, iterations=1)
    wall = sum(r.wall_s for r in results)
    fwd = sum(r.forward_s for r in results)
    fraction = 1.0 - fwd / wall
    benchmark.extra_info.update({"sets": list(SETS), "images": sum(len(r.per_image) for r in results),
                                 "wall_s": wall, "forward_s": fwd,
                                 "outside_forward_fraction": fraction, "goal": GOAL,
                                 "per_set": {n: {"wall_s": r.wall_s, "forward_s": r.forward_s}
                                             for n, r in zip(SETS, results)}})
    if fraction > GOAL:
        warnings.warn(f"evaluation spent {fraction:.1%} of {wall:.1f} s outside the model forward "
                      f"(goal {GOAL:.0%})", stacklevel=1)
    assert len(results[0].per_image) == 5 and len(results[3].per_image) == 100
