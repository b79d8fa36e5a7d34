"""Run a spec: registry → method → jobs → records in the results store.

Finished jobs (same spec name, version and key in the store) are skipped unless ``force``;
records of the same version but another :func:`~qsrbench.spec.spec_hash` mean the protocol
changed without a version bump, which is refused so results of different protocols never mix.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable

from .env import fingerprint, strict_fp32, tf32_enabled
from .errors import DataError, SpecError
from .methods import Job, JobResult, RunContext
from .registry import methods
from .provenance import code_fingerprint, roots_for
from .spec import SpecBase, spec_hash
from .store import Record, ResultStore, record_key

__all__ = ["RunSummary", "run_spec", "check_store", "job_key", "make_record", "describe", "job_label",
           "execute"]


@dataclass
class RunSummary:
    spec: SpecBase
    recorded: list[Record] = field(default_factory=list)
    skipped: list[tuple] = field(default_factory=list)
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (dataset, reason)


def check_store(spec: SpecBase, store: ResultStore) -> set[tuple]:
    """Keys of ``spec``'s finished jobs in ``store``; refuses records of the same version made
    under another protocol (spec hash)."""
    digest = spec_hash(spec)
    same_version = [r for r in store.records(spec.name) if r.spec_version == spec.version]
    other = sorted({r.spec_hash for r in same_version} - {digest})
    if other:
        raise SpecError(spec.source, [
            f"version: the store {store.file_for(spec.name)} holds results of {spec.name} "
            f"v{spec.version} made under another protocol (spec hash {', '.join(other)}; now "
            f"{digest}). Bump 'version' when a change affects results"])
    return {r.key() for r in same_version}


def job_key(spec: SpecBase, job: Job) -> tuple:
    return record_key(spec.name, spec.version, job.model, spec.bits.model_dump(), job.dataset,
                      job.scale, spec.seed, job.variant)


def make_record(spec: SpecBase, job: Job, res: JobResult, env: dict, code: dict | None = None) -> Record:
    """The store record of one finished job, stamped with the spec, the code that ran
    (:func:`qsrbench.provenance.code_fingerprint`, computed here when not given) and the
    environment (with the TF32 state the job ran under, read back from torch)."""
    if code is None:
        code = code_fingerprint(roots_for(spec))
    return Record(
        spec=spec.name, spec_version=spec.version, spec_hash=spec_hash(spec), spec_file=spec.source,
        leaderboard=spec.leaderboard, tier=spec.tier, method=spec.method.name,
        model=job.model, bits=spec.bits.model_dump(), dataset=job.dataset, scale=job.scale,
        seed=spec.seed, variant=job.variant,
        protocol=spec.protocol.model_dump(mode="json"),
        metrics={k: v for k, v in res.metrics.items() if k in spec.metrics},
        metric_info={m: spec.metric_info(m) for m in spec.metrics},
        claims=[c.model_dump(mode="json") for c in spec.claims_for(job.dataset, job.scale)],
        per_image=res.per_image, params=res.params, macs=res.macs, bitops=res.bitops,
        wall_s=res.wall_s, forward_s=res.forward_s, data_digest=res.data_digest,
        checkpoint_sha256=res.checkpoint_sha256, code=code, version_reason=spec.version_reason(),
        env={**env, "tf32": res.tf32},
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds"),
        extra=res.extra)


def job_label(spec: str, dataset: str, scale: int | None, variant: str | None) -> str:
    """``spec [variant]: dataset xS`` (no scale for NAS jobs), as logs and reports show a job."""
    where = f"{dataset} x{scale}" if scale else dataset
    return f"{spec}" + (f" [{variant}]" if variant else "") + f": {where}"


def execute(method, spec: SpecBase, job: Job, ctx: RunContext) -> JobResult:
    """Run one job in strict FP32 (:func:`qsrbench.env.strict_fp32`); ``run`` and ``sweep`` both
    go through here."""
    with strict_fp32():
        res = method.run_job(spec, job, ctx)
        res.tf32 = tf32_enabled()  # what the job ran under, read back from torch
    return res


def describe(record: Record) -> str:
    """One log line for a recorded job."""
    shown = ", ".join(f"{k} {v:.4f}" for k, v in record.metrics.items())
    return (f"{job_label(record.spec, record.dataset, record.scale, record.variant)}: {shown} "
            f"({record.wall_s:.1f} s)")


def run_spec(spec: SpecBase, store: ResultStore, ctx: RunContext, *, force: bool = False,
             skip_missing: bool = False, log: Callable[[str], None] = lambda _: None) -> RunSummary:
    """Run every unfinished job of ``spec`` and append one record per job to ``store``."""
    store.check_writable()
    method = methods.get(spec.method.name)()
    done = check_store(spec, store)
    env = fingerprint(ctx.device)
    code = code_fingerprint(roots_for(spec))
    summary = RunSummary(spec)
    missing_sets: dict[str, str] = {}
    for job in method.jobs(spec):
        key = job_key(spec, job)
        if key in done and not force:
            summary.skipped.append(key)
            continue
        if job.dataset in missing_sets:
            continue
        try:
            res = execute(method, spec, job, ctx)
        except DataError as exc:
            if not skip_missing:
                raise
            missing_sets[job.dataset] = str(exc)
            summary.unavailable.append((job.dataset, str(exc)))
            log(f"skipped {job.dataset}: {exc}")
            continue
        record = make_record(spec, job, res, env, code)
        store.append(record)
        summary.recorded.append(record)
        log(describe(record))
    return summary
