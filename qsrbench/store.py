"""Append-only results store: one JSON line per record, one ``<spec>.jsonl`` file per spec.

Each record is appended with a single ``write`` under an exclusive lock and fsync'ed, so a run
killed half-way keeps every finished record. A torn last line (a crash inside that write) is not a
record: readers skip it, and the next append moves it to ``<spec>.jsonl.torn`` before writing.
Records are never rewritten; ``--force`` appends a newer record, and readers take the latest one
per key.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pydantic import field_validator, BaseModel, ConfigDict, ValidationError

from .errors import RebaselineError, StoreError

__all__ = ["MetricInfoRecord", "Record", "record_key", "ResultStore", "load_records", "latest",
           "RebaselineError"]

SCHEMA_VERSION = 1


class MetricInfoRecord(BaseModel):
    """A metric's unit, direction, tolerance and gate as stored; an unbounded tolerance (inf,
    e.g. timings) is written as JSON ``null`` and read back as inf.

    ``gate``: "two-sided" (quality metrics: a change beyond the tolerance either way is a
    change of result) or "one-sided" (times: only the worse direction counts). Records made
    before the field existed take two-sided for a finite tolerance."""

    model_config = ConfigDict(extra="forbid")
    unit: str
    direction: str
    tolerance: float
    gate: str | None = None

    @field_validator("tolerance", mode="before")
    @classmethod
    def _unbounded(cls, v):
        return float("inf") if v is None else v

    @property
    def two_sided(self) -> bool:
        return self.gate == "two-sided" if self.gate else self.tolerance != float("inf")

    def verdict(self, base: float, head: float) -> str:
        """"ok", "improved", "regressed" or "changed" (two-sided gate, better beyond tolerance)."""
        gain = (head - base) if self.direction == "higher" else (base - head)
        if gain < -self.tolerance - 1e-12:
            return "regressed"
        if gain > self.tolerance + 1e-12:
            return "changed" if self.two_sided else "improved"
        return "ok"


class Record(BaseModel):
    """One measured result, stamped with its spec (name, version, hash) and environment."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    spec: str
    spec_version: int
    spec_hash: str
    spec_file: str
    leaderboard: str
    tier: str
    method: str
    model: str | None
    bits: dict[str, int]
    dataset: str
    scale: int | None
    seed: int = 0
    variant: str | None = None  # a method's configuration within one spec (e.g. "per-channel, mse")
    protocol: dict[str, Any] = {}
    metrics: dict[str, float]
    metric_info: dict[str, MetricInfoRecord]
    claims: list[dict[str, Any]] = []  # the spec's [[expected]] entries for this job, as they were
    expected: dict[str, Any] | None = None  # the single claim of records made before `claims`
    per_image: list[dict[str, Any]] = []
    params: int | None = None
    macs: int | None = None
    bitops: int | None = None
    wall_s: float
    forward_s: float | None = None
    data_digest: str | None = None
    checkpoint_sha256: str | None = None  # the weights file the model was loaded from
    code: dict[str, Any] | None = None  # qsrbench.provenance.code_fingerprint of the code that ran
    version_reason: str | None = None  # the spec's [[history]] note for this version
    env: dict[str, Any]
    timestamp: str
    extra: dict[str, Any] = {}

    @property
    def code_digest(self) -> str | None:
        return (self.code or {}).get("digest")

    def key(self) -> tuple:
        """Identity of a result: same key, same measurement (a newer record supersedes)."""
        return record_key(self.spec, self.spec_version, self.model, self.bits, self.dataset,
                          self.scale, self.seed, self.variant)


def record_key(spec: str, version: int, model: str | None, bits: dict[str, int], dataset: str,
               scale: int | None, seed: int, variant: str | None = None) -> tuple:
    """The identity of a record, computable before the job runs."""
    return (spec, version, model, bits.get("weight"), bits.get("activation"), dataset, scale, seed,
            variant)


def _read_file(path: Path) -> list[Record]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    lines = raw.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    if torn.strip():
        warnings.warn(f"{path}: ignoring an unfinished last line ({len(torn)} bytes), left by an "
                      "interrupted write", stacklevel=3)
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(Record.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise StoreError(f"{path}:{number}: not a valid result record ({first})") from None
    return records


def load_records(path: str | os.PathLike) -> list[Record]:
    """Every record of a store folder (all ``*.jsonl`` below it) or of one ``.jsonl`` file."""
    path = Path(path)
    if path.is_file():
        return _read_file(path)
    if not path.is_dir():
        raise StoreError(f"no results store at {path} (expected a folder of .jsonl files or a .jsonl file)")
    return [r for f in sorted(path.rglob("*.jsonl")) for r in _read_file(f)]


def latest(records: list[Record]) -> dict[tuple, Record]:
    """The newest record per key (by timestamp, then by position)."""
    out: dict[tuple, Record] = {}
    for r in records:
        k = r.key()
        if k not in out or r.timestamp >= out[k].timestamp:
            out[k] = r
    return out


class ResultStore:
    """A folder of ``<spec>.jsonl`` files."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def check_writable(self) -> None:
        """Fail early, before any computation, if records could not be saved."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"results directory {self.root} is not writable: "
                             f"{exc.strerror or exc}") from None

    def file_for(self, spec: str) -> Path:
        return self.root / f"{spec}.jsonl"

    def records(self, spec: str | None = None) -> list[Record]:
        if spec is None:
            return load_records(self.root) if self.root.exists() else []
        path = self.file_for(spec)
        return _read_file(path) if path.exists() else []

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def append(self, record: Record) -> None:
        """Append ``record`` atomically (one write, fsync), keeping everything already there.

        A record for a key the store already holds (``--force``) must agree with every earlier
        record of that key within each two-sided metric's tolerance: results of one spec
        version never move silently. Otherwise :class:`RebaselineError`, and nothing is written."""
        data = (record.model_dump_json() + "\n").encode()
        path = self.file_for(record.spec)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._locked():
                self._check_rebaseline(path, record)
                self._set_aside_torn_tail(path)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot append to {path}: {exc.strerror or exc}") from None

    @staticmethod
    def _check_rebaseline(path: Path, record: Record) -> None:
        if not path.exists():
            return
        key = record.key()
        moved = []
        for old in (r for r in _read_file(path) if r.key() == key):
            for metric, value in record.metrics.items():
                info = record.metric_info.get(metric)
                if info is None or metric not in old.metrics or not info.two_sided:
                    continue
                if info.verdict(old.metrics[metric], value) != "ok":
                    code = "same code" if old.code_digest == record.code_digest else (
                        f"code {old.code_digest or 'unrecorded'} → {record.code_digest}")
                    moved.append(f"{metric} {old.metrics[metric]:.4f} → {value:.4f} (tolerance "
                                 f"{info.tolerance:g}; {code})")
        if moved:
            where = record.dataset + (f" x{record.scale}" if record.scale else "") + (
                f" [{record.variant}]" if record.variant else "")
            raise RebaselineError(
                f"{path}: {record.spec} v{record.spec_version} {where} already has a result and "
                f"the new one differs: {'; '.join(sorted(set(moved)))}. Results of a version never "
                "move silently: bump the spec's 'version' and add a [[history]] note with the "
                "reason, then run it again")

    @staticmethod
    def _set_aside_torn_tail(path: Path) -> None:
        if not path.exists() or path.stat().st_size == 0:
            return
        raw = path.read_bytes()
        if raw.endswith(b"\n"):
            return
        cut = raw.rfind(b"\n") + 1
        with open(path.with_name(path.name + ".torn"), "ab") as fh:
            fh.write(raw[cut:] + b"\n")
        os.truncate(path, cut)
