"""Every code path a spec can take, on stand-ins built here (no shared data needed): each FP
spec's model loads its (random) checkpoint strictly and runs; PTQ runs every granularity x
calibration and every model's conversion; the bitops command agrees with what those records
hold; every NAS method searches, trains and learns nothing in particular on a CIFAR-10 stand-in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qsrbench.methods import RunContext
from qsrbench.runner import run_spec
from qsrbench.spec import discover_specs, load_spec, parse_spec
from qsrbench.store import ResultStore

from .standins import build_sr_root, build_weights

REPO = Path(__file__).resolve().parent.parent
SPECS = [load_spec(p) for p in discover_specs([REPO / "suites/specs"])]
FP = [s for s in SPECS if s.method.name == "fp" and s.tier == "small"]
PTQ = [s for s in SPECS if s.method.name == "ptq" and s.tier == "small"]


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """The stand-in data root, with ``$QSRBENCH_WEIGHTS`` on the stand-in weights meanwhile."""
    base = tmp_path_factory.mktemp("standin")
    root = build_sr_root(base / "datasets")
    build_weights(base / "weights", [s for s in SPECS if s.method.name == "fp"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSRBENCH_WEIGHTS", str(base / "weights"))
        yield root


def _small(spec, **method):
    """The spec on one stand-in image per set (claims dropped: stand-in numbers mean nothing)."""
    data = spec.model_dump(mode="json", exclude={"expected"})
    data["budget"] = {"max_images": 1}
    data["method"].update(method)
    return parse_spec(data, spec.source)


def _run(spec, root, tmp_path):
    recorded = run_spec(spec, ResultStore(tmp_path), RunContext(data_root=root)).recorded
    assert recorded and all(math.isfinite(r.metrics["psnr"]) for r in recorded)
    return recorded


@pytest.mark.parametrize("spec", FP, ids=lambda s: s.name)
def test_fp_spec_loads_and_runs(standin, tmp_path, spec):
    records = _run(_small(spec), standin, tmp_path)
    assert {r.checkpoint_sha256 for r in records} != {None}
    assert {(r.dataset, r.scale) for r in records} == {(d, s) for d in spec.datasets for s in spec.scales}


def test_ptq_every_granularity_and_calibration(standin, tmp_path):
    spec = next(s for s in PTQ if s.name == "ptq-imdn-x4-w4a4")
    records = _run(_small(spec, granularity=["per-tensor", "per-channel"],
                          calibration=["minmax", "percentile", "mse"], noise_repeats=2), standin, tmp_path)
    assert len({r.variant for r in records}) == 6
    for r in records:  # the jittered re-scorings, the plain score among the values summarised
        noise = r.extra["simulation_noise"]
        assert noise["repeats"] == 2 == len(noise["jittered"])
        values = [r.metrics["psnr"], *noise["jittered"]]
        assert noise["range"] == max(values) - min(values)


@pytest.mark.parametrize("spec", [s for s in PTQ if s.bits.weight == 8], ids=lambda s: s.name)
def test_ptq_converts_every_model(standin, tmp_path, spec, capsys):
    from qsrbench.cli import main

    records = _run(_small(spec, granularity=["per-channel"], calibration=["minmax"]), standin, tmp_path)
    assert main(["bitops", spec.source]) == 0
    printed = capsys.readouterr().out
    for r in records:
        assert f"{r.bitops:,}" in printed  # the command prints what the record holds


@pytest.mark.parametrize("method,extra", [
    ("darts", {}), ("pc-darts", {"partial_k": 2, "warmup_epochs": 1}), ("mdenas", {}),
    ("ddpnas", {"pruning_step": 1}), ("random-search", {})])
def test_nas_method_runs_end_to_end(tmp_path, monkeypatch, method, extra):
    from .test_nas_method import _cifar_stand_in, nas

    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    _cifar_stand_in(tmp_path / "data")
    epochs = {"ddpnas": 35, "pc-darts": 2}.get(method, 1)
    spec = parse_spec(nas(method__name=method, method__seeds=[0], method__search__epochs=epochs,
                          **{f"method__{k}": v for k, v in extra.items()}), "stand-in.toml")
    (r,) = run_spec(spec, ResultStore(tmp_path / "results"), RunContext(data_root=tmp_path / "data")).recorded
    assert 0.0 <= r.metrics["top1"] <= 100.0 and r.extra["genotype"]["normal"]
