"""Turn every spec under ``suites/specs`` into pytest-benchmark cases.

Selection: ``--tier`` (repeatable; default smoke and small). A ``full`` spec is collected and
skipped with a reason unless ``--tier full`` is given. Specs are read once per session.
"""

from __future__ import annotations

from pathlib import Path


from qsrbench.spec import discover_specs, load_spec

SPEC_DIR = Path(__file__).resolve().parent / "specs"
DEFAULT_TIERS = ("smoke", "small")


def load_all_specs():
    return [load_spec(p) for p in discover_specs([SPEC_DIR])]


def selected_tiers(config) -> tuple[str, ...]:
    return tuple(config.getoption("--tier") or DEFAULT_TIERS)
