"""Shared pytest fixtures for ``tests/`` and ``suites/``.

Data-dependent tests ask for a set with ``need_set("Set5")``. When the set is not under the data
root they skip with the reason, unless data is required (``--require-data`` or
``QSRBENCH_REQUIRE_DATA=1``, as CI sets), in which case they fail. Sets that the shipped data
does not include (Manga109) always skip when absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qsrbench.data.root import ENV_CACHE, ENV_DATA, resolve_data_root
from qsrbench.testing import NOT_SHIPPED, missing_data
from qsrbench.train.method import ENV_RUNS

REPO = Path(__file__).resolve().parent


def pytest_addoption(parser):
    group = parser.getgroup("qsrbench")
    group.addoption("--require-data", action="store_true",
                    help="fail, instead of skip, when a shipped data set is missing "
                         "(also: QSRBENCH_REQUIRE_DATA=1)")
    group.addoption("--tier", action="append", choices=["smoke", "small", "full"],
                    help="spec tiers the suites run in full (repeatable; default: smoke, plus the "
                         "golden sample job of each SR small-tier spec; --tier smoke alone "
                         "drops those samples)")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep the checksum cache and the training runs of a test session out of the user's folders. The default
    data root lives in that folder too: it is pinned first (as ``$QSRBENCH_DATA``), so the tests
    find data where the CLI does, and their skip reasons name that place."""
    saved = {k: os.environ.get(k) for k in (ENV_CACHE, ENV_DATA)}
    if not saved[ENV_DATA]:
        os.environ[ENV_DATA] = str(resolve_data_root())
    os.environ[ENV_CACHE] = str(tmp_path_factory.mktemp("qsrbench-cache"))
    saved[ENV_RUNS] = os.environ.get(ENV_RUNS)
    os.environ[ENV_RUNS] = str(tmp_path_factory.mktemp("qsrbench-runs"))  # training runs
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """A test that changes torch's thread count must not change it for the tests after it: the
    golden-record checks compare fake-quant results, whose float rounding depends on it."""
    import torch

    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data_root(request) -> Path:
    """The data root (``$QSRBENCH_DATA``); skips/fails when it has no manifest.json."""
    root = resolve_data_root()
    if not (root / "manifest.json").is_file():
        missing_data(request.config, f"no data root at {root}: set QSRBENCH_DATA to a folder holding "
                                     "manifest.json and <Set>/HR/ (README, section 'Data')")
    return root


@pytest.fixture
def need_set(request, data_root):
    """``need_set(name)`` → the data root, after checking that ``<root>/<name>/HR`` (an SR set) or
    ``<root>/<name>/manifest.json`` (a classification set) exists."""

    def check(name: str) -> Path:
        if not ((data_root / name / "HR").is_dir() or (data_root / name / "manifest.json").is_file()):
            missing_data(request.config, f"data set {name} is not under {data_root}",
                         shipped=name not in NOT_SHIPPED)
        return data_root

    return check


@pytest.fixture
def run_cli():
    """Run ``python -m qsrbench ARGS`` as a user would; returns the CompletedProcess."""

    def run(*args: str, cwd: Path | str = REPO, env: dict | None = None, timeout: float = 600):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "qsrbench", *map(str, args)], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=timeout)

    return run
