"""Sweeps: the jobs of many specs (methods × seeds × tiers) run by a pluggable executor.

A sweep expands each spec into its jobs (one per data set and scale for SR, one per seed for
NAS), drops those already in the store (unless ``force``), and hands the rest to an executor:

- ``serial``: in this process, one job after another (what ``qsrbench run`` does);
- ``process`` (default): a local pool of ``spawn``-ed worker processes, each with
  ``cores // workers`` torch threads;
- ``dask``: Dask distributed (``pip install qsrbench[dist]``); a ``LocalCluster`` bound to
  127.0.0.1 with no dashboard by default, or an existing cluster given by its scheduler address.

Workers receive the spec as data (its validated fields, re-validated in the worker), run the job
and return a :class:`~qsrbench.store.Record` stamped with the worker's own environment; only this
process writes, through the same atomic :class:`~qsrbench.store.ResultStore` appends as ``run``,
as each job finishes. A failing job is reported and does not stop the others or lose their
records. Workers on other hosts need the package, the data root and the weights at the same paths.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from .errors import DataError, QsrbenchError, RebaselineError
from .methods import Job, RunContext
from .registry import methods
from .spec import SpecBase, parse_spec
from .store import Record, ResultStore

__all__ = ["Task", "Outcome", "Executor", "SerialExecutor", "ProcessExecutor", "DaskExecutor",
           "make_executor", "plan", "run_sweep", "SweepSummary", "BACKENDS"]

BACKENDS = ("serial", "process", "dask")


@dataclass(frozen=True)
class Task:
    """One job of one spec, self-contained so that it can be pickled to any worker."""

    spec_data: dict[str, Any]
    spec_source: str
    job: Job
    data_root: str | None
    data_root_arg: str | None
    device: str
    verify: bool

    @property
    def label(self) -> str:
        from .runner import job_label

        return job_label(self.spec_data["name"], self.job.dataset, self.job.scale, self.job.variant)


@dataclass
class Outcome:
    task: Task
    record: Record | None = None
    error: str | None = None
    missing_data: bool = False


_METHODS: dict[tuple[str, str], Any] = {}  # per worker process: method instances keep built models


def _method_for(spec: SpecBase):
    key = (spec.name, spec.method.name)
    if key not in _METHODS:
        _METHODS[key] = methods.get(spec.method.name)()
    return _METHODS[key]


def run_task(task: Task) -> Outcome:
    """Run one task (in a worker); never raises: errors come back in the outcome."""
    from .env import fingerprint
    from .runner import execute, make_record

    try:
        spec = parse_spec(task.spec_data, task.spec_source)
        root = None if task.data_root is None else Path(task.data_root)
        ctx = RunContext(data_root=root, data_root_arg=task.data_root_arg,
                         device=task.device, verify=task.verify)
        res = execute(_method_for(spec), spec, task.job, ctx)
        return Outcome(task, record=make_record(spec, task.job, res, fingerprint(task.device)))
    except DataError as exc:
        return Outcome(task, error=str(exc), missing_data=True)
    except QsrbenchError as exc:
        return Outcome(task, error=str(exc))
    except Exception:  # noqa: BLE001 - a worker reports, the sweep goes on
        return Outcome(task, error=traceback.format_exc(limit=8).strip())


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class Executor(Protocol):
    """Runs :func:`run_task` on tasks and yields their outcomes as they complete."""

    name: str

    def run(self, tasks: list[Task]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


class SerialExecutor:
    name = "serial"

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        for t in tasks:
            yield run_task(t)

    def close(self) -> None:
        pass


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


class ProcessExecutor:
    """A local pool of spawned processes (spawn, not fork: torch's thread pools do not survive
    a fork)."""

    name = "process"

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_set_threads,
                                         initargs=(_threads_per_worker(self.workers),))

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        futures = {self._pool.submit(run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (e.g. out of memory)
                yield Outcome(futures[fut], error=f"worker failed: {exc!r}")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Dask distributed: an existing cluster (``address``) or a local one on the loopback."""

    name = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise QsrbenchError("the dask backend needs Dask distributed: pip install 'qsrbench[dist]'") from None
        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            n = workers or max(1, min(4, os.cpu_count() or 1))
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=None)
            self.client = Client(self._cluster)
            self.client.run(_set_threads, _threads_per_worker(n))

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        from dask.distributed import as_completed as dask_completed

        futures = {self.client.submit(run_task, t, pure=False): t for t in tasks}
        for fut in dask_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker was lost
                yield Outcome(futures[fut], error=f"worker failed: {exc!r}")

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(backend: str = "process", workers: int | None = None,
                  address: str | None = None) -> Executor:
    if backend == "serial":
        return SerialExecutor()
    if backend == "process":
        return ProcessExecutor(workers)
    if backend == "dask":
        return DaskExecutor(workers, address)
    raise QsrbenchError(f"unknown sweep backend {backend!r} (one of {', '.join(BACKENDS)})")


@dataclass
class SweepSummary:
    recorded: list[Record] = field(default_factory=list)
    skipped: int = 0
    failed: list[Outcome] = field(default_factory=list)
    unavailable: list[Outcome] = field(default_factory=list)


def plan(specs: Iterable[SpecBase], store: ResultStore, ctx: RunContext, *,
         force: bool = False) -> tuple[list[Task], int]:
    """The tasks still to run and how many jobs are already in the store."""
    from .runner import check_store, job_key

    tasks, skipped = [], 0
    for spec in specs:
        done = check_store(spec, store)
        data = spec.model_dump(mode="json")
        for job in methods.get(spec.method.name)().jobs(spec):
            if job_key(spec, job) in done and not force:
                skipped += 1
                continue
            tasks.append(Task(data, spec.source, job, None if ctx.data_root is None else str(ctx.data_root),
                              ctx.data_root_arg, ctx.device, ctx.verify))
    return tasks, skipped


def run_sweep(specs: Iterable[SpecBase], store: ResultStore, ctx: RunContext, executor: Executor, *,
              force: bool = False, log: Callable[[str], None] = lambda _: None,
              progress: bool = False) -> SweepSummary:
    """Plan, execute and record; each finished job is appended to ``store`` as it arrives."""
    from tqdm.auto import tqdm

    from .runner import describe

    store.check_writable()
    tasks, skipped = plan(specs, store, ctx, force=force)
    summary = SweepSummary(skipped=skipped)
    log(f"sweep: {len(tasks)} jobs to run on {executor.name}, {skipped} already in {store.root}")
    with tqdm(total=len(tasks), disable=not progress, desc="sweep", unit="job") as bar:
        for out in executor.run(tasks):
            bar.update()
            if out.record is not None:
                try:
                    store.append(out.record)
                except RebaselineError as exc:  # the others go on; this one is reported
                    out = Outcome(out.task, error=str(exc))
                    summary.failed.append(out)
                    log(f"FAILED: {out.task.label}: {out.error}")
                    continue
                summary.recorded.append(out.record)
                log(describe(out.record))
            elif out.missing_data:
                summary.unavailable.append(out)
                log(f"unavailable: {out.task.label}: {out.error}")
            else:
                summary.failed.append(out)
                log(f"FAILED: {out.task.label}: {out.error}")
    return summary
