"""Sweeps: every backend records exactly what ``qsrbench run`` records, only once, through the
same store; failures are reported without losing the other jobs; Dask runs on a loopback
LocalCluster. Specs here use the embedded scikit-image demo set (no data root needed)."""

from __future__ import annotations

import pytest

from qsrbench.cli import main
from qsrbench.errors import QsrbenchError
from qsrbench.methods import RunContext
from qsrbench.runner import run_spec
from qsrbench.spec import parse_spec
from qsrbench.store import ResultStore
from qsrbench.sweep import SerialExecutor, make_executor, plan, run_sweep

DEMO = {"name": "demo-t", "version": 1, "description": "t", "tier": "smoke", "leaderboard": "demo",
        "datasets": ["skimage-demo"], "scales": [2, 3], "method": {"name": "bicubic"},
        "protocol": {"domain": "rgb", "lr_source": "generated"}, "budget": {"max_images": 2}}


def _specs():
    return [parse_spec(DEMO, "demo-t.toml"), parse_spec({**DEMO, "name": "demo-u", "scales": [4]}, "demo-u.toml")]


def _by_key(records):
    return {r.key(): r for r in records}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("ref"))
    for spec in _specs():
        run_spec(spec, store, RunContext())
    return _by_key(store.records())


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_backends_record_what_run_records(tmp_path, reference, backend):
    store = ResultStore(tmp_path)
    executor = make_executor(backend, workers=2)
    try:
        summary = run_sweep(_specs(), store, RunContext(), executor)
    finally:
        executor.close()
    assert not summary.failed and len(summary.recorded) == 3
    got = _by_key(store.records())
    assert got.keys() == reference.keys()
    for key, r in got.items():
        ref = reference[key]
        assert r.spec_hash == ref.spec_hash and r.metrics == ref.metrics  # bit-identical results
    again = run_sweep(_specs(), store, RunContext(), SerialExecutor())
    assert (again.skipped, len(again.recorded)) == (3, 0)
    assert len(store.records()) == 3  # nothing rewritten or duplicated


def test_failed_job_keeps_the_others(tmp_path):
    bad = parse_spec({**DEMO, "name": "demo-bad", "datasets": ["Set5"], "scales": [2]}, "demo-bad.toml")
    store = ResultStore(tmp_path / "store")
    (tmp_path / "empty").mkdir()
    ctx = RunContext(data_root=tmp_path / "empty")
    summary = run_sweep([bad, *_specs()], store, ctx, SerialExecutor())
    assert len(summary.recorded) == 3 and len(summary.unavailable) == 1
    assert "Set5" in summary.unavailable[0].error
    tasks, skipped = plan([bad, *_specs()], store, ctx)
    assert skipped == 3 and [t.spec_data["name"] for t in tasks] == ["demo-bad"]


def test_crashing_job_is_reported(tmp_path, monkeypatch):
    import qsrbench.sweep as sweep

    real = sweep._method_for

    class Crashing:
        def __init__(self, spec):
            self.inner = real(spec)

        def run_job(self, spec, job, ctx):
            if job.scale == 3:
                raise RuntimeError("boom at x3")
            return self.inner.run_job(spec, job, ctx)

    monkeypatch.setattr(sweep, "_method_for", Crashing)
    summary = run_sweep(_specs(), ResultStore(tmp_path), RunContext(), SerialExecutor())
    assert len(summary.recorded) == 2 and len(summary.failed) == 1
    assert "RuntimeError: boom at x3" in summary.failed[0].error
    assert summary.failed[0].task.label == "demo-t: skimage-demo x3"


def test_unknown_backend():
    with pytest.raises(QsrbenchError, match="unknown sweep backend 'ray'"):
        make_executor("ray")


def test_dask_local_cluster_on_loopback(tmp_path, reference):
    pytest.importorskip("distributed", reason="the dask backend is optional: pip install 'qsrbench[dist]'")
    executor = make_executor("dask", workers=1)
    try:
        assert executor.address.startswith("tcp://127.0.0.1:")
        summary = run_sweep(_specs(), ResultStore(tmp_path), RunContext(), executor)
    finally:
        executor.close()
    assert not summary.failed
    got = _by_key(summary.recorded)
    assert got.keys() == reference.keys()
    assert all(r.metrics == reference[k].metrics for k, r in got.items())


def test_cli_sweep(tmp_path, capsys):
    spec = tmp_path / "demo.toml"
    spec.write_text('name = "demo-cli"\nversion = 1\ndescription = "t"\ntier = "smoke"\n'
                    'leaderboard = "demo"\ndatasets = ["skimage-demo"]\nscales = [2]\n'
                    '[method]\nname = "bicubic"\n[protocol]\ndomain = "rgb"\nlr_source = "generated"\n'
                    '[budget]\nmax_images = 1\n')
    assert main(["sweep", str(spec), "--results", str(tmp_path / "r"), "--backend", "serial", "-q"]) == 0
    assert "sweep (serial): 1 recorded, 0 already in" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--results", str(tmp_path / "r"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
