"""Turn every spec under ``suites/specs`` into pytest-benchmark cases.

Selection: ``--tier`` (repeatable). Without it the suites run what CI can afford on 2 cores:
every smoke spec, and of every SR small-tier spec its *golden sample* (:func:`golden_sample`:
its first job on a shipped data set), which must have a committed record and agree with it.
The small tier as a whole (every PTQ variant on every set: about an hour) and the NAS small tier (about an hour and
a half) are committed records in ``results/``; ``--tier small`` runs them all, ``--tier full``
the papers' protocols. Cases of tiers not selected are *deselected* at collection (pytest
reports them as deselected, not skipped), so a skip always means missing data, weights or GPU;
a case named by its node id always runs. The forward benchmarks of small-tier specs
(``test_sr_forward``) run with ``--tier small``; by default every model's forward speed is
benchmarked by ``test_quant_throughput.py``.

A case is tiered by its ``spec`` parameter (and ``job``, for the golden sample); cases without a
spec always run. Specs are read once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qsrbench.registry import methods
from qsrbench.spec import discover_specs, load_spec
from qsrbench.testing import NOT_SHIPPED

SPEC_DIR = Path(__file__).resolve().parent / "specs"
DEFAULT_TIERS = ("smoke",)
SAMPLED_TIER = "small"  # without --tier, an SR spec of this tier runs its golden sample job


def load_all_specs():
    return [load_spec(p) for p in discover_specs([SPEC_DIR])]


def job_params(specs):
    """One ``pytest.param(spec, job)`` per job of each spec, id ``<spec>-<variant>`` (variant without
    spaces, ``/`` as ``-``): the cases of the NAS, estimation and classification suites."""
    import pytest

    for spec in specs:
        for job in methods.get(spec.method.name)().jobs(spec):
            yield pytest.param(spec, job, id=f"{spec.name}-{job.variant.replace(' ', '').replace('/', '-')}")


def selected_tiers(config) -> tuple[str, ...]:
    """The tiers to run in full: those given with ``--tier``, else :data:`DEFAULT_TIERS`."""
    return tuple(config.getoption("--tier") or DEFAULT_TIERS)


def samples_tier(config, tier: str) -> bool:
    """Whether a spec of ``tier`` runs its golden sample only (no ``--tier`` given)."""
    return not config.getoption("--tier") and tier == SAMPLED_TIER


_SAMPLES: dict[str, object] = {}


def golden_sample(spec):
    """The job CI checks of a sampled-tier SR spec: its first job on a shipped data set (jobs
    run variant by variant, scale by scale, set by set), or None when it has none or when its
    method trains (``trains``: a small-tier training run takes tens of minutes; its committed
    records are checked by tests/test_committed.py). Computed once per spec (collection asks for
    every case)."""
    if spec.name not in _SAMPLES:
        method = methods.get(spec.method.name)
        _SAMPLES[spec.name] = None if getattr(method, "trains", False) else next(
            (j for j in method().jobs(spec) if j.dataset not in NOT_SHIPPED), None)
    return _SAMPLES[spec.name]


def case_selected(config, spec, job=None) -> bool:
    """Whether the case of ``spec`` (``job``: one of its jobs, if the case is one) runs."""
    if spec.tier in selected_tiers(config):
        return True
    return (job is not None and samples_tier(config, spec.tier)
            and methods.get(spec.method.name).task == "sr" and job == golden_sample(spec))


def _item_selected(config, item, named: set[str]) -> bool:
    if item.nodeid.split("::", 1)[-1] in named:  # asked for by node id: run (or skip) it
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    spec = params.get("spec")
    if spec is None or not hasattr(spec, "tier"):
        return True
    return case_selected(config, spec, params.get("job"))


def pytest_collection_modifyitems(config, items):
    """Deselect the suites' cases of tiers not selected (see the module docstring)."""
    here = Path(__file__).resolve().parent
    named = {arg.split("::", 1)[1] for arg in config.args if "::" in arg}
    drop = [it for it in items if here in Path(str(it.path)).resolve().parents
            and not _item_selected(config, it, named)]
    if drop:
        dropped = set(map(id, drop))
        items[:] = [it for it in items if id(it) not in dropped]
        config.hook.pytest_deselected(items=drop)


def timing_record_only(request, why: str) -> None:
    """Skip a long timing record behind a committed page unless pytest runs with
    ``--benchmark-only`` (CI runs plain ``pytest``); ``why`` says what it records and what covers it in CI."""
    if not request.config.getoption("benchmark_only"):
        pytest.skip(f"a timing record ({why}): run it alone with --benchmark-only")
