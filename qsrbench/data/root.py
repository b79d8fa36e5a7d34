"""Where data lives: ``--data-root``, else ``$QSRBENCH_DATA``, else a per-user cache folder.

The harness never downloads anything. ``$QSRBENCH_REQUIRE_DATA=1`` (CI sets it) turns the
"data set not present" skips of the test suites into failures.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_DATA = "QSRBENCH_DATA"
ENV_REQUIRE = "QSRBENCH_REQUIRE_DATA"
ENV_CACHE = "QSRBENCH_CACHE"

__all__ = ["ENV_DATA", "ENV_REQUIRE", "ENV_CACHE", "resolve_data_root", "data_root_origin",
           "require_data", "cache_dir"]


def cache_dir() -> Path:
    """Per-user cache folder (checksum cache, default data root); ``$QSRBENCH_CACHE`` overrides."""
    return Path(os.environ.get(ENV_CACHE) or platformdirs.user_cache_dir("qsrbench"))


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The data root: the explicit argument, else ``$QSRBENCH_DATA``, else ``<cache>/datasets``."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if os.environ.get(ENV_DATA):
        return Path(os.environ[ENV_DATA]).expanduser().resolve()
    return (cache_dir() / "datasets").resolve()


def data_root_origin(explicit: str | os.PathLike | None = None) -> str:
    """Says where the data root came from, for error messages."""
    if explicit:
        return "--data-root"
    if os.environ.get(ENV_DATA):
        return f"${ENV_DATA}"
    return "the default: no --data-root or $QSRBENCH_DATA given"


def require_data() -> bool:
    """True when missing data must fail instead of skip (``$QSRBENCH_REQUIRE_DATA`` is 1/true/yes)."""
    return os.environ.get(ENV_REQUIRE, "").strip().lower() in {"1", "true", "yes", "on"}
