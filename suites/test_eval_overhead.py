"""How much of an evaluation is spent outside the model forward (goal: at most 10%).

``test_eval_overhead_four_sets[<device>]`` evaluates the shipped IMDN x4 (full precision, the
papers' protocol) on Set5, Set14, B100 and Urban100 in one timed run (``cpu``: always run, about
a minute and a half on 2 cores; ``cuda``: GPU tier, skipped without a CUDA device), and reports in
the benchmark's ``extra_info`` the forward seconds, the wall seconds and
``outside_forward_fraction`` = 1 - forward / wall (data preparation, rounding and PSNR/SSIM that
the evaluator could not hide behind the forward). Data loading and checksum verification happen before timing. Above the
10% goal the test warns (a speed goal is a benchmark figure, not an assertion); compare runs
with ``pytest-benchmark compare``. What it asserts is what it evaluated: the PSNR of every set
equals the committed record of ``fp-imdn-x4`` (Set5, Set14) or ``fp-imdn-x4-full`` (B100,
Urban100) within tolerance, so a faster evaluator that scores differently fails.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from qsrbench.data.root import resolve_data_root
from qsrbench.env import device_name
from qsrbench.evaluate import evaluate_sr
from qsrbench.methods import RunContext
from qsrbench.registry import datasets, methods
from qsrbench.spec import load_spec
from qsrbench.store import latest, load_records
from qsrbench.testing import missing_data, missing_weights

from .conftest import SPEC_DIR

SETS = ("Set5", "Set14", "B100", "Urban100")
GOAL = 0.10
GOLDEN_SPECS = ("fp-imdn-x4", "fp-imdn-x4-full")
RESULTS = Path(__file__).resolve().parent.parent / "results"


def overhead_run(sets, device: str, root: Path):
    """``(run, summarise)``: ``run()`` evaluates IMDN x4 on ``sets`` (loaded and verified first),
    ``summarise(results)`` gives the report (seconds, outside-forward fraction, device)."""
    spec = load_spec(SPEC_DIR / "fp" / "fp-imdn-x4.toml")
    ctx = RunContext(data_root=root, device=device)
    model = methods.get("fp")().build(spec, 4, ctx).to(device).eval()
    loaded = [datasets.get(n).load(root, [4]) for n in sets]

    def run():
        return [evaluate_sr(model, data, 4, spec.protocol, device=device) for data in loaded]

    def summarise(results) -> dict:
        wall = sum(r.wall_s for r in results)
        fwd = sum(r.forward_s for r in results)
        return {"sets": list(sets), "images": sum(len(r.per_image) for r in results),
                "wall_s": wall, "forward_s": fwd, "outside_forward_fraction": 1.0 - fwd / wall,
                "goal": GOAL, "device": device_name(torch.device(device)),
                "threads": torch.get_num_threads(),
                "psnr": {n: r.psnr for n, r in zip(sets, results)},
                "per_set": {n: {"wall_s": r.wall_s, "forward_s": r.forward_s}
                            for n, r in zip(sets, results)}}

    return run, summarise


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_eval_overhead_four_sets(benchmark, request, device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("GPU tier: no CUDA device")
    root = resolve_data_root()
    for name in SETS:
        if not (root / name / "HR").is_dir():
            missing_data(request.config, f"data set {name} is not under {root} (set QSRBENCH_DATA)")
    missing_weights(request.config, load_spec(SPEC_DIR / "fp" / "fp-imdn-x4.toml"), root)
    run, summarise = overhead_run(SETS, device, root)
    results = benchmark.pedantic(run, rounds=1, iterations=1)
    report = summarise(results)
    benchmark.extra_info.update(report)
    fraction, wall = report["outside_forward_fraction"], report["wall_s"]
    if fraction > GOAL:
        warnings.warn(f"evaluation spent {fraction:.1%} of {wall:.1f} s outside the model forward "
                      f"(goal {GOAL:.0%})", stacklevel=1)
    assert len(results[0].per_image) == 5 and len(results[3].per_image) == 100
    goldens = {r.dataset: r for name in GOLDEN_SPECS
               for r in latest(load_records(RESULTS / f"{name}.jsonl")).values()}
    for name, res in zip(SETS, results):
        golden = goldens[name]
        tol = golden.metric_info["psnr"].tolerance
        assert abs(res.psnr - golden.metrics["psnr"]) <= tol, (
            f"{name}: PSNR {res.psnr:.4f} on {device}, committed {golden.metrics['psnr']:.4f} "
            f"(±{tol}, {golden.spec})")
