"""Benchmarks generated from the SR specs, with the specs' claims and the committed results as gates.

* ``test_sr_eval[<spec>-<set>-x<s>]`` times one whole evaluation (data prepared, model forward,
  rounding, metrics; the model is built and calibrated before timing) with pytest-benchmark,
  then checks
  - every claim of the job (published numbers and reference measurements): reproduced within the
    metric's tolerance exactly when the spec expects it (``expect``), so a claim that stops
    reproducing, or starts to, fails;
  - the committed record in ``results/`` (same spec version): equal within tolerance on both sides
    (:mod:`qsrbench.compare`), at whatever thread count the machine has: calibration is
    thread-independent. A golden made by other code than today's is reported as stale (a warning
    and ``extra_info``) and still has to agree. The golden sample of a small-tier spec (the job
    CI runs, ``suites/conftest.py``) fails when no record of the spec's version exists.
* ``test_sr_forward[<spec>-x<s>]`` times the model forward alone on a fixed 64x64 LR crop of the
  scikit-image astronaut image, many rounds: the number to gate with
  ``--benchmark-compare-fail=median:25%``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from qsrbench.compare import FAILING, compare_records
from qsrbench.provenance import code_fingerprint, roots_for
from qsrbench.data.root import resolve_data_root
from qsrbench.methods import Job, RunContext
from qsrbench.registry import datasets, methods
from qsrbench.spec import spec_hash
from qsrbench.store import Record, load_records
from qsrbench.testing import NOT_SHIPPED, missing_data, missing_weights

from .conftest import SAMPLED_TIER, golden_sample, load_all_specs

SPECS = [s for s in load_all_specs() if methods.get(s.method.name).task == "sr"]
_METHODS: dict[str, object] = {}


def _method(spec):
    """One method instance per spec, so consecutive jobs of a variant and scale share its model."""
    if spec.name not in _METHODS:
        _METHODS[spec.name] = methods.get(spec.method.name)()
    return _METHODS[spec.name]
RESULTS = Path(__file__).resolve().parent.parent / "results"


def _job_id(spec, job: Job) -> str:
    variant = f"-{job.variant}".replace(" ", "") if job.variant else ""
    return f"{spec.name}{variant}-{job.dataset}-x{job.scale}"


def _cases():
    for spec in SPECS:
        for job in methods.get(spec.method.name)().jobs(spec):
            yield pytest.param(spec, job, id=_job_id(spec, job))


def _data_root_for(config, name: str) -> Path | None:
    ds = datasets.get(name)
    if not ds.needs_root:
        return None
    root = resolve_data_root()
    if not (root / name / "HR").is_dir():
        missing_data(config, f"data set {name} is not under {root} (set QSRBENCH_DATA)",
                     shipped=name not in NOT_SHIPPED)
    return root


def _golden(spec, job: Job) -> Record | None:
    path = RESULTS / f"{spec.name}.jsonl"
    if not path.is_file():
        return None
    found = [r for r in load_records(path) if r.spec_version == spec.version
             and (r.dataset, r.scale, r.variant) == (job.dataset, job.scale, job.variant)
             and r.seed == spec.seed]
    return max(found, key=lambda r: r.timestamp) if found else None


@pytest.mark.parametrize("spec,job", _cases())
def test_sr_eval(benchmark, request, spec, job):
    name, scale = job.dataset, job.scale
    ctx = RunContext(data_root=_data_root_for(request.config, name))
    missing_weights(request.config, spec, ctx.data_root)
    method = _method(spec)
    method.model_for(spec, scale, ctx, job.variant)  # build/calibrate outside the timed region
    res = benchmark.pedantic(method.run_job, args=(spec, job, ctx), rounds=1, iterations=1)
    benchmark.extra_info.update({"spec": spec.name, "spec_version": spec.version,
                                 "images": res.extra.get("images"), **res.metrics})

    failures = []
    for claim in spec.claims_for(name, scale):
        deltas = {m: (res.metrics[m], v, spec.metric(m)[2]) for m, v in claim.metrics.items()}
        reproduced = all(abs(got - v) <= tol + 1e-12 for got, v, tol in deltas.values())
        want = getattr(claim, "expect", "reproduced") == "reproduced"
        if reproduced != want:
            shown = ", ".join(f"{m} measured {got:.4f} vs {v} (|Δ| {abs(got - v):.4f}, tolerance {tol})"
                              for m, (got, v, tol) in deltas.items())
            failures.append(f"{claim.kind} claim ({claim.source}) is {'' if reproduced else 'not '}"
                            f"reproduced but the spec expects it {'' if want else 'not '}to be: {shown}")
    assert not failures, "; ".join(failures)

    golden = _golden(spec, job)
    if golden is None and spec.tier == SAMPLED_TIER and job == golden_sample(spec):
        pytest.fail(f"results/{spec.name}.jsonl has no v{spec.version} record of {job.dataset} "
                    f"x{job.scale} [{job.variant}], the golden sample CI checks: record the spec "
                    f"(qsrbench run {spec.source})")
    if golden is not None:
        assert golden.spec_hash == spec_hash(spec), (
            f"results/{spec.name}.jsonl holds v{spec.version} records of another protocol; "
            "bump the spec version")
        head = golden.model_copy(update={
            "metrics": {k: v for k, v in res.metrics.items() if k in golden.metrics},
            "code": code_fingerprint(roots_for(spec))})
        rows = compare_records([golden], [head])
        if any(r.code != "same" for r in rows):
            benchmark.extra_info["golden_code"] = "stale"
            warnings.warn(f"results/{spec.name}.jsonl: the golden of {job.dataset} x{job.scale} was "
                          "made by other code than today's (it still has to agree)", stacklevel=1)
        bad = [f"{r.metric}: {r.base:.4f} → {r.head:.4f} (±{r.tolerance:g}, {r.status})"
               for r in rows if r.status in FAILING]
        assert not bad, f"differs from results/{spec.name}.jsonl: {bad}"


def _forward_cases():
    for spec in SPECS:
        for scale in spec.scales:
            yield pytest.param(spec, scale, id=f"{spec.name}-x{scale}")


@pytest.mark.parametrize("spec,scale", _forward_cases())
def test_sr_forward(benchmark, request, spec, scale):
    import skimage.data

    method = methods.get(spec.method.name)()
    root = resolve_data_root()
    missing_weights(request.config, spec, root)
    model = method.build(spec, scale, RunContext(data_root=root), *method.variants(spec)[:1])
    crop = torch.from_numpy(skimage.data.astronaut()[100:164, 200:264].copy())
    channels = 1 if spec.protocol.domain == "y" else 3
    x = crop.permute(2, 0, 1)[:channels].to(torch.float32)[None].contiguous()
    with torch.inference_mode():
        out = benchmark(model, x)
    assert out.shape == (1, channels, 64 * scale, 64 * scale)
    benchmark.extra_info.update({"spec": spec.name, "lr_size": "64x64", "device": "cpu"})
