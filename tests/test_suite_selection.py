"""What the suites run by default, and with ``--tier`` (``suites/conftest.py``).

Collected with ``pytest --collect-only`` in a subprocess (seconds; nothing runs): by default
every smoke spec's cases, one golden sample ``test_sr_eval`` case per small-tier SR spec and no
full-tier case; ``--tier small`` every job of every small spec; what is not selected is reported
as deselected, never as skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from qsrbench.registry import methods
from qsrbench.spec import discover_specs, load_spec
from qsrbench.testing import NOT_SHIPPED
from suites.test_sr_specs import _job_id

REPO = Path(__file__).resolve().parent.parent
SPECS = [load_spec(p) for p in discover_specs([REPO / "suites/specs"])]


def _collect(*args: str) -> tuple[list[str], int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    m = re.search(r"(\d+) deselected", out.stdout)
    return ids, int(m.group(1)) if m else 0


def _spec_of(case_id: str) -> str:
    """The longest spec name that prefixes the case's parameter id."""
    param = case_id.split("[", 1)[1]
    return max((s.name for s in SPECS if param.startswith(s.name + "-")), key=len)


@pytest.fixture(scope="module")
def default_cases():
    return _collect("suites", "tests/test_standins.py")


def test_default_selection_is_smoke_and_one_golden_sample_per_small_sr_spec(default_cases):
    ids, deselected = default_cases
    evals = {}
    for i in ids:
        if "::test_sr_eval[" in i:
            evals.setdefault(_spec_of(i), []).append(i.split("[", 1)[1].rstrip("]"))
    by_name = {s.name: s for s in SPECS}
    for spec in SPECS:
        if methods.get(spec.method.name).task != "sr":
            continue
        jobs = methods.get(spec.method.name)().jobs(spec)
        shipped = [j for j in jobs if j.dataset not in NOT_SHIPPED]
        trains = getattr(methods.get(spec.method.name), "trains", False)  # never sampled
        want = {"smoke": [_job_id(spec, j) for j in jobs], "full": [],
                "small": [] if trains else [_job_id(spec, j) for j in shipped[:1]]}[spec.tier]
        assert evals.get(spec.name, []) == want, (spec.name, spec.tier)
    assert any(getattr(methods.get(s.method.name), "trains", False) and s.tier == "small" for s in SPECS)
    nas = [i for i in ids if "::test_nas_search[" in i]
    assert nas and all(by_name[_spec_of(i)].tier == "smoke" for i in nas)
    assert deselected > 0
    # cases without a spec parameter, and tests outside suites/, are never deselected
    assert sum("::test_forward[" in i and "cpu" in i for i in ids) > 0
    assert sum(i.startswith("tests/test_standins.py") for i in ids) == len(_collect("tests/test_standins.py")[0])


def test_a_case_named_by_node_id_is_kept():
    node = "suites/test_sr_specs.py::test_sr_eval[fp-imdn-x4-Set14-x4]"
    ids, deselected = _collect(node)
    assert ids == [node] and deselected == 0


def test_tier_small_selects_every_small_job_and_nothing_else():
    ids, _ = _collect("suites", "--tier", "small", "-k", "test_sr_eval")
    evals = Counter(_spec_of(i) for i in ids)
    for spec in SPECS:
        if methods.get(spec.method.name).task != "sr":
            continue
        jobs = len(methods.get(spec.method.name)().jobs(spec))
        assert evals.get(spec.name, 0) == (jobs if spec.tier == "small" else 0), spec.name
