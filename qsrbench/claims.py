"""Checking a record against its spec's claims: published numbers and reference measurements.

A claim (a spec's ``[[expected]]`` entry, see :class:`qsrbench.spec.PublishedClaim` and
:class:`qsrbench.spec.ReferenceMeasurement`) is *reproduced* for a metric when the measured value
is within the metric's tolerance of it: ``|measured - claimed| <= tolerance``. Beside that verdict
each check carries the bootstrap interval of ``measured - claimed`` over the record's per-image
values (:mod:`qsrbench.stats`; the claim is taken as exact) and says whether the claim lies
*within noise* (inside the measured interval). Metrics with an unbounded tolerance (times) are
not checked here: the NAS leaderboard compares search costs as ratios to DARTS instead.

The claims shown are those of the spec *now*; where they differ from the claims stamped on the
record when it was made, the check carries the recorded ones, so an edit after the fact shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .stats import Interval, bootstrap_mean
from .store import Record

__all__ = ["ClaimCheck", "check_claims", "recorded_claims", "per_image_values", "KIND_ORDER"]

KIND_ORDER = ("published", "reference", "unlabelled")


@dataclass(frozen=True)
class ClaimCheck:
    record: Record
    claim: dict[str, Any]
    metric: str
    claimed: float
    measured: float
    tolerance: float
    interval: Interval | None  # of measured - claimed, over images
    edited_from: float | None  # the claimed value stamped on the record, when it differs

    @property
    def kind(self) -> str:
        return self.claim.get("kind", "unlabelled")

    @property
    def delta(self) -> float:
        return self.measured - self.claimed

    @property
    def reproduced(self) -> bool:
        return abs(self.delta) <= self.tolerance + 1e-12

    @property
    def within_noise(self) -> bool | None:
        return None if self.interval is None else self.interval.contains(0.0)

    @property
    def expected_reproduced(self) -> bool:
        return self.claim.get("expect", "reproduced") == "reproduced"


def recorded_claims(record: Record) -> list[dict[str, Any]]:
    """The claims stamped on the record (records made before claim kinds carry one unlabelled)."""
    if record.claims:
        return record.claims
    if record.expected:
        return [{"kind": "unlabelled", "dataset": record.dataset, "scale": record.scale,
                 **record.expected}]
    return []


def per_image_values(record: Record, metric: str) -> list[float] | None:
    values = [p.get(metric) for p in record.per_image]
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return values


def check_claims(record: Record, claims: list[dict[str, Any]] | None = None) -> list[ClaimCheck]:
    """One check per (claim, metric) of ``claims`` (default: the recorded ones) that the record
    measured with a finite tolerance."""
    then = {c.get("kind", "unlabelled"): c for c in recorded_claims(record)}
    out = []
    for claim in (recorded_claims(record) if claims is None else claims):
        old = then.get(claim.get("kind", "unlabelled"), {}).get("metrics", {})
        for metric, claimed in sorted(claim["metrics"].items()):
            info = record.metric_info.get(metric)
            if metric not in record.metrics or info is None or math.isinf(info.tolerance):
                continue
            values = per_image_values(record, metric)
            interval = bootstrap_mean(values).shifted(claimed) if values else None
            edited = old.get(metric) if old.get(metric) not in (None, claimed) else None
            out.append(ClaimCheck(record, claim, metric, float(claimed), record.metrics[metric],
                                  info.tolerance, interval, edited))
    return out
