"""Helpers for test suites built on qsrbench (imported by tests only; needs pytest).

``missing_data(config, reason)`` skips a test whose data is absent, or fails it when data is
required (``--require-data`` or ``QSRBENCH_REQUIRE_DATA=1``, as CI sets) and the data is part of
the shipped set.
"""

from __future__ import annotations

import pytest

from .data.root import require_data

__all__ = ["NOT_SHIPPED", "data_is_required", "missing_data"]

NOT_SHIPPED = frozenset({"Manga109"})


def data_is_required(config) -> bool:
    opt = config.getoption("--require-data", default=False)
    return bool(opt) or require_data()


def missing_data(config, reason: str, shipped: bool = True) -> None:
    """Skip, or fail when data is required and the missing data is part of the shipped set."""
    if shipped and data_is_required(config):
        pytest.fail(f"{reason} (data is required: --require-data / QSRBENCH_REQUIRE_DATA)")
    pytest.skip(reason)
