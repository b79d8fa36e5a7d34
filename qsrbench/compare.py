"""Quality regression gate: compare two results stores metric by metric.

Records are matched by key (spec, version, model, bits, data set, scale, seed, variant). A
metric *regresses* when HEAD is worse than BASE by more than its tolerance in its direction (from
the records' ``metric_info``: unit, higher/lower is better, tolerance, gate). Quality metrics are
gated on both sides: HEAD better than BASE beyond the tolerance is *changed* and fails too, since
a golden that moves either way without a version bump is drift, not progress. Times are gated on
one side (*improved* passes). A key in BASE that HEAD lacks is *missing*, which fails the gate
unless allowed. Each row also says whether the two records were made by the same code
(:mod:`qsrbench.provenance`): "stale" where BASE's code differs from HEAD's, so a golden that
still agrees is seen to be made by older code. Timing regressions proper are pytest-benchmark's
``--benchmark-compare-fail``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from .store import Record, latest

__all__ = ["Comparison", "compare_records", "format_comparison", "failed", "code_status", "FAILING"]


@dataclass(frozen=True)
class Comparison:
    key: tuple
    metric: str
    base: float | None
    head: float | None
    unit: str
    direction: str
    tolerance: float
    status: str  # ok | improved | changed | regressed | missing | new
    code: str = "—"  # same | stale (BASE made by other code) | unknown (no fingerprint) | —


def _label(key: tuple) -> str:
    spec, version, model, w, a, dataset, scale, seed, variant = key
    who = f"{spec} v{version}" + (f" {model}" if model else "") + (f" [{variant}]" if variant else "")
    bits = "" if (w, a) == (32, 32) else f" W{w}A{a}"
    return f"{who}{bits} {dataset} x{scale}" + (f" seed {seed}" if seed else "")


def compare_records(base: list[Record], head: list[Record]) -> list[Comparison]:
    b, h = latest(base), latest(head)
    out: list[Comparison] = []
    for key in sorted(set(b) | set(h), key=repr):
        rb, rh = b.get(key), h.get(key)
        ref = rh or rb
        for metric in sorted(set(rb.metrics if rb else ()) | set(rh.metrics if rh else ())):
            info = (rh.metric_info.get(metric) if rh else None) or ref.metric_info[metric]
            vb = rb.metrics.get(metric) if rb else None
            vh = rh.metrics.get(metric) if rh else None
            if vh is None:
                status = "missing"
            elif vb is None:
                status = "new"
            else:
                status = info.verdict(vb, vh)
            out.append(Comparison(key, metric, vb, vh, info.unit, info.direction,
                                  info.tolerance, status, code_status(rb, rh)))
    return out


def code_status(base: Record | None, head: Record | None) -> str:
    """"same", "stale" (the two were made by different code) or "unknown" (a record without a
    code fingerprint); "—" when one side is absent."""
    if base is None or head is None:
        return "—"
    if base.code_digest is None or head.code_digest is None:
        return "unknown"
    return "same" if base.code_digest == head.code_digest else "stale"


FAILING = {"regressed", "changed"}


def failed(rows: list[Comparison], allow_missing: bool = False) -> bool:
    bad = FAILING | (set() if allow_missing else {"missing"})
    return any(r.status in bad for r in rows)


def format_comparison(rows: list[Comparison]) -> str:
    def num(v: float | None) -> str:
        return "—" if v is None else f"{v:.4f}"

    table = [[_label(r.key), r.metric, num(r.base), num(r.head),
              "—" if r.base is None or r.head is None else f"{r.head - r.base:+.4f}",
              f"{r.direction} ±{r.tolerance:g} {r.unit}", r.status, r.code] for r in rows]
    return tabulate(table, headers=["Result", "Metric", "Base", "Head", "Δ", "Better / tol",
                                    "Status", "Code"], tablefmt="github", disable_numparse=True)
