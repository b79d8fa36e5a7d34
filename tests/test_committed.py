"""The committed results store and leaderboards must match the specs and each other.

* every committed record belongs to a spec file of the same name and version, made under the
  same protocol (spec hash), from a clean, committed tree;
* `leaderboards/*.md` and the plots are exactly what `qsrbench leaderboard` generates from
  `results/` and the specs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qsrbench.bench_board import load_benchmarks
from qsrbench.boards import build_leaderboards, build_plots
from qsrbench.latency_board import latency_plots
from qsrbench.leaderboard import spec_index
from qsrbench.plots import same_plot
from qsrbench.spec import discover_specs, load_spec, spec_hash
from qsrbench.store import load_records

REPO = Path(__file__).resolve().parent.parent
SPECS = {(s.name, s.version): s for s in (load_spec(p) for p in discover_specs([REPO / "suites/specs"]))}
RECORDS = load_records(REPO / "results") if (REPO / "results").is_dir() else []
BENCHMARKS = load_benchmarks(REPO / "results" / "benchmarks") if (REPO / "results" / "benchmarks").is_dir() else []


def test_results_store_is_committed():
    assert RECORDS, "results/ holds no records: run the specs and commit the store"


def _record_id(r) -> str:
    return (f"{r.spec}-v{r.spec_version}-{r.dataset}" + (f"-x{r.scale}" if r.scale else "")
            + (f"-{r.variant}" if r.variant else ""))


@pytest.mark.parametrize("record", RECORDS, ids=_record_id)
def test_record_matches_its_spec(record):
    spec = SPECS.get((record.spec, record.spec_version))
    if spec is None:
        newer = [v for (n, v) in SPECS if n == record.spec]
        assert newer and max(newer) > record.spec_version, (
            f"record of {record.spec} v{record.spec_version} has no spec file")
        return  # an older version, kept for history
    assert record.spec_hash == spec_hash(spec), "spec changed without a version bump"
    assert record.dataset in spec.datasets
    assert record.scale in spec.scales if spec.scales else record.scale is None
    git = record.env.get("git") or {}
    assert git.get("commit") and git.get("dirty") is False, (
        "committed results must come from a clean, committed tree")


def test_leaderboards_are_generated_from_results():
    boards = build_leaderboards(RECORDS, spec_index(SPECS.values()), build_plots(RECORDS, BENCHMARKS)[0], BENCHMARKS)
    for name, text in boards.items():
        path = REPO / "leaderboards" / name
        assert path.is_file(), f"{path} is missing: run `qsrbench leaderboard`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `qsrbench leaderboard`"


def test_linked_plots_are_committed_and_current():
    """The PNGs are rendered deterministically, so the committed ones must be today's figures (up to
    another CPU's anti-aliasing jitter: :func:`qsrbench.plots.same_plot`)."""
    links, rendered = build_plots(RECORDS, BENCHMARKS)
    linked = {n for names in links.values() for n in names}
    assert linked == set(rendered) - set(latency_plots(BENCHMARKS))  # latency plots: linked by their board
    for name, data in rendered.items():
        path = REPO / "leaderboards" / name
        assert path.is_file(), f"{path} is missing: run `qsrbench leaderboard`"
        assert same_plot(path.read_bytes(), data), f"{path} is stale: run `qsrbench leaderboard`"


def test_committed_nas_records_learned():
    """Every current NAS record's network is above chance (one-sided binomial bound, p = 0.001):
    a record of a network that learned nothing (the old smoke rows sat at 10.00 %) fails."""
    from qsrbench.stats import above_chance
    from qsrbench.store import latest

    nas = [r for r in latest(RECORDS).values() if "top1" in r.metrics
           and (r.spec, r.spec_version) in SPECS]
    assert nas, "no NAS record of a current spec version in results/"
    low = [f"{r.spec} [{r.variant}]: {r.metrics['top1']:.2f}%" for r in nas
           if not above_chance(r.extra["test_correct"], r.extra["test_images"], 1 / r.extra["classes"])]
    assert not low, f"networks that did not learn: {low}"
