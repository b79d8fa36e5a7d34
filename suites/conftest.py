"""Turn every spec under ``suites/specs`` into pytest-benchmark cases.

Selection: ``--tier`` (repeatable). Default: smoke and small for SR specs (minutes: their
goldens are checked in CI), smoke only for NAS specs (their small tier takes about an hour on 2
cores and is a committed record; ``--tier small`` runs it). A ``full`` spec is collected and
skipped with a reason unless ``--tier full`` is given. Specs are read once per session.
"""

from __future__ import annotations

from pathlib import Path


from qsrbench.spec import discover_specs, load_spec

SPEC_DIR = Path(__file__).resolve().parent / "specs"
DEFAULT_TIERS = ("smoke", "small")
DEFAULT_TIERS_BY_TASK = {"nas": ("smoke",)}


def load_all_specs():
    return [load_spec(p) for p in discover_specs([SPEC_DIR])]


def selected_tiers(config, task: str = "sr") -> tuple[str, ...]:
    """The tiers to run: those given with ``--tier``, else the task's defaults."""
    return tuple(config.getoption("--tier") or DEFAULT_TIERS_BY_TASK.get(task, DEFAULT_TIERS))
