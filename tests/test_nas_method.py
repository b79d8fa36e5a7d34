"""NAS specs through the harness: spec checks (bad input), one job per seed, a black-box
``qsrbench run`` + ``qsrbench leaderboard`` on a CIFAR-10 stand-in, and the NAS leaderboard's
aggregation rules (mean ± std over seeds, search-time ratio to DARTS on the same tier and device)
on hand-made records."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from qsrbench.cli import main
from qsrbench.errors import SpecError
from qsrbench.boards import build_leaderboards
from qsrbench.leaderboard import spec_index
from qsrbench.registry import methods
from qsrbench.spec import parse_spec
from qsrbench.store import Record, ResultStore

NAS = {
    "name": "nas-t", "version": 1, "description": "test", "tier": "smoke", "leaderboard": "nas_cifar10",
    "datasets": ["CIFAR-10"],
    "method": {"name": "darts", "device": "cpu", "seeds": [0, 1],
               "search": {"epochs": 1, "batch_size": 16, "images": 64, "channels": 4, "layers": 3},
               "final": {"epochs": 1, "train_images": 64, "test_images": 20, "channels": 4, "layers": 3,
                         "batch_size": 32, "cutout": 0, "drop_path": 0.0}},
    "metrics": {"top1": {}, "error": {}, "search_s": {}},
}


def nas(**changes):
    d = copy.deepcopy(NAS)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = d
        for p in path:
            node = node[p]
        node[last] = value
    return d


def test_valid_nas_spec_has_one_job_per_seed():
    spec = parse_spec(nas())
    jobs = methods.get("darts")().jobs(spec)
    assert [(j.dataset, j.scale, j.variant) for j in jobs] == [("CIFAR-10", None, "seed 0"),
                                                               ("CIFAR-10", None, "seed 1")]


@pytest.mark.parametrize("changes,match", [
    ({"scales": [4]}, "scales: a NAS spec has no scales"),
    ({"datasets": ["Set5"]}, "datasets.0: Set5 is not a classification set"),
    ({"model": {"name": "imdn"}}, "model: a NAS spec searches its model"),
    ({"method__final__test_images": 20_000}, "CIFAR-10 has 10,000 test images"),
    ({"method__search__images": 16}, "cannot fill one training batch"),
    ({"method__name": "ddpnas"}, "method.search.epochs: DDPNAS prunes to one operation per edge in 105 epochs"),
    ({"method__name": "ddpnas", "method__pruning_step": 1}, "in 35 epochs at pruning_step 1"),
    ({"method__name": "pc-darts", "method__partial_k": 3}, "method.partial_k: K = 3 must divide"),
    ({"method__name": "pc-darts"}, "method.warmup_epochs: 15 warm-up epochs leave no architecture step"),
    ({"method__name": "mdenas", "method__sample_every": "step"}, "method.sample_every"),
    ({"method__name": "bnas"}, r"method.search.epochs: this BNAS schedule takes 62 epochs .*got 1$"),
    ({"method__name": "bnas", "method__search__epochs": 62, "method__partial_k": 3},
     "method.partial_k: K = 3 must divide"),
    ({"method__name": "bnas", "method__search__epochs": 62, "method__pc_arch_from": 5},
     "method.pc_arch_from: epoch 5 leaves no α step in 5 warm-start epochs"),
    ({"method__temperature": 2.0}, "method.temperature: unknown field"),
    ({"method__seeds": []}, "method.seeds"),
    ({"method__device": "tpu"}, "method.device"),
    ({"method__search__width": 3}, "method.search.width"),
    ({"metrics": {"psnr": {}}}, "NAS specs measure top1"),
])
def test_bad_nas_specs_name_the_field(changes, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(nas(**changes), source="nas-t.toml")


def test_sr_spec_rejects_classification_sets_and_needs_scales():
    sr = {"name": "sr-t", "version": 1, "description": "t", "tier": "smoke", "leaderboard": "sr",
          "datasets": ["CIFAR-10"], "scales": [4], "method": {"name": "bicubic"}}
    with pytest.raises(SpecError, match="CIFAR-10 is a classification set"):
        parse_spec(sr)
    no_scales = {**sr, "datasets": ["Set5"]}
    del no_scales["scales"]
    with pytest.raises(SpecError, match="scales: method 'bicubic' evaluates SR at given scales"):
        parse_spec(no_scales)


def _cifar_stand_in(root, per_batch=20):
    """The original ``cifar-10-batches-py`` layout with random pixels, ``per_batch`` images each."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [i % 10 for i in range(per_batch)]}, f)


STAND_IN_TOML = """
name = "{method}-{suffix}"
version = 1
description = "stand-in run"
tier = "{tier}"
leaderboard = "nas_cifar10"
datasets = ["CIFAR-10"]

[method]
name = "{method}"
device = "{device}"
seeds = [0]
{extra}
search = {{ epochs = {epochs}, batch_size = 16, images = 64, channels = 4, layers = 3 }}
final = {{ epochs = 1, train_images = 64, test_images = 20, channels = 4, layers = 3, batch_size = 32, cutout = {cutout}, drop_path = {drop_path} }}

[metrics]
top1 = {{}}
error = {{}}
search_s = {{}}
{more_metrics}
"""


def stand_in_spec(method: str, epochs: int, *, suffix="t", tier="smoke", device="cpu", extra="",
                  cutout=0, drop_path=0.0, more_metrics="") -> str:
    """A tiny NAS spec for the CIFAR-10 stand-in (one seed, 64 search images, 4 channels)."""
    return STAND_IN_TOML.format(method=method, suffix=suffix, tier=tier, device=device, extra=extra,
                                epochs=epochs, cutout=cutout, drop_path=drop_path,
                                more_metrics=more_metrics)


def test_run_and_leaderboard_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    _cifar_stand_in(tmp_path / "data")
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    for method, epochs in (("darts", 1), ("mdenas", 2)):
        (spec_dir / f"{method}-t.toml").write_text(stand_in_spec(method, epochs))
    results, boards = tmp_path / "results", tmp_path / "boards"
    for method in ("darts", "mdenas"):
        assert main(["run", str(spec_dir / f"{method}-t.toml"), "--results", str(results),
                     "--data-root", str(tmp_path / "data")]) == 0
    recs = ResultStore(results).records("mdenas-t")
    (r,) = recs
    assert r.scale is None and r.variant == "seed 0" and set(r.metrics) == {"top1", "error", "search_s"}
    assert r.extra["data_variant"] == "original" and r.extra["forward_passes"] > 0
    assert r.metric_info["search_s"].tolerance == float("inf")  # stored as null, read back as inf
    assert main(["leaderboard", "--results", str(results), "--out", str(boards),
                 "--specs", str(spec_dir)]) == 0
    page = (boards / "nas_cifar10.md").read_text()
    darts_row = next(line for line in page.splitlines() if line.startswith("| darts "))
    assert "| 1.000 " in darts_row  # DARTS against itself
    assert "CIFAR-10 (original binary release)" in page
    capsys.readouterr()


def rec(method, acc, search_s, *, spec=None, tier="small", device="cpu", seed=0):
    return Record(spec=spec or f"{method}-{tier}", spec_version=1, spec_hash="h", spec_file="f.toml",
                  leaderboard="nas_cifar10", tier=tier, method=method, model=None,
                  bits={"weight": 32, "activation": 32}, dataset="CIFAR-10", scale=None,
                  variant=f"seed {seed}", metrics={"top1": acc, "error": 100 - acc, "search_s": search_s},
                  metric_info={"top1": {"unit": "%", "direction": "higher", "tolerance": 0.5},
                               "error": {"unit": "%", "direction": "lower", "tolerance": 0.5},
                               "search_s": {"unit": "s", "direction": "lower", "tolerance": None}},
                  params=1000, macs=2_000_000, wall_s=1.0, env={"device": device, "torch": "x"},
                  timestamp="2026-01-01T00:00:00",
                  extra={"device": device, "device_type": "cpu" if device == "cpu" else "cuda",
                         "data_variant": "jpeg75", "forward_passes": 4,
                         "backward_passes": 2})


def test_nas_board_aggregates_seeds_and_ratios():
    records = [rec("darts", 90.0, 100.0, seed=0), rec("darts", 92.0, 300.0, seed=1),
               rec("mdenas", 88.0, 50.0), rec("mdenas", 85.0, 20.0, spec="mdenas-gpu", device="H100")]
    page = build_leaderboards(records)["nas_cifar10.md"]
    rows = {line.split("|")[3].strip(): line for line in page.splitlines() if line.startswith("| ")}
    assert "| 91.00 ± 1.41 " in rows["darts-small v1"] and "| 200.0 " in rows["darts-small v1"]
    assert "| 0.250 " in rows["mdenas-small v1"]  # 50 s / mean(100, 300) s on the same device
    assert "| — " in rows["mdenas-gpu v1"].split("| H100")[0]  # no DARTS run on that device
    assert "CIFAR-10 JPEG q75 copy (lossy" in page
    assert "All rows ran on a CPU" not in page  # one row ran on a GPU
    assert "All rows ran on a CPU" in build_leaderboards(records[:3])["nas_cifar10.md"]


def _published(error, gpu_days, plus_minus=None):
    claim = {"kind": "published", "dataset": "CIFAR-10", "metrics": {"error": error, "search_gpu_days": gpu_days},
             "source": "a paper", "table": "Table 1", "read_from": "the paper"}
    return claim | ({"plus_minus": {"error": plus_minus}} if plus_minus else {})


def test_nas_board_lists_published_claims_and_cost_ratios():
    metrics = {"top1": {}, "error": {}, "search_s": {}, "search_gpu_days": {}}
    specs = [parse_spec(nas(name="darts-f", tier="full", expected=[_published(3.0, 1.5, 0.14)], metrics=metrics)),
             parse_spec(nas(name="pc-f", tier="full", method__name="pc-darts", method__warmup_epochs=0,
                            expected=[_published(2.57, 0.1, 0.07)], metrics=metrics))]
    records = [rec("darts", 90.0, 100.0, seed=0), rec("darts", 91.0, 110.0, seed=1),
               rec("pc-darts", 89.0, 50.0, spec="pc-small", seed=0),
               rec("pc-darts", 90.0, 60.0, spec="pc-small", seed=1)]
    page = build_leaderboards(records, spec_index(specs))["nas_cifar10.md"]
    claims = page.split("## Published claims")[1]
    pc = next(line for line in claims.splitlines() if line.startswith("| pc-darts "))
    assert "| 2.57 ± 0.07 " in pc and "not run (full tier)" in pc
    cost = page.split("## Search cost against the claims")[1]
    row = next(line for line in cost.splitlines() if line.startswith("| pc-darts "))
    # claimed 0.1 / 1.5 = 0.067; measured mean(50, 60) / mean(100, 110) = 0.524, 7.9x the claim
    assert "| 0.067 " in row and "| 0.524 [" in row and "| ×7.86 " in row and "outside band" in row
    specs[0].expected[0].__dict__["covers_runs"] = 4  # DARTS's published cost covers 4 searches
    cost = build_leaderboards(records, spec_index(specs))["nas_cifar10.md"].split("## Search cost")[1]
    row = next(line for line in cost.splitlines() if line.startswith("| pc-darts "))
    assert "| 0.267 " in row and "| ×1.96 " in row and "within band" in row  # 0.1 / (1.5 / 4)


GPU_EXTRA = {"darts": (2, ""), "pc-darts": (2, "partial_k = 2\nwarmup_epochs = 1"),
             "mdenas": (2, ""), "ddpnas": (35, "pruning_step = 1"),
             "random-search": (1, ""),
             "bnas": (21, "partial_k = 2\npc_epochs = 2\npc_arch_from = 1\nrepeats = 1")}  # (search epochs, method fields)


@pytest.mark.gpu
@pytest.mark.parametrize("method", sorted(GPU_EXTRA))
def test_nas_methods_run_on_cuda(tmp_path, monkeypatch, method):
    """Search, final training (cutout, drop-path) and test on the GPU: the CUDA code path of every
    NAS method, which the CPU tests cannot reach (the ``*-small-gpu`` specs take too long for a test)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("GPU tier: no CUDA device")
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    _cifar_stand_in(tmp_path / "data")
    spec = tmp_path / f"{method}.toml"
    epochs, extra = GPU_EXTRA[method]
    spec.write_text(stand_in_spec(method, epochs, suffix="gpu-t", tier="small", device="cuda",
                                  extra=extra, cutout=4, drop_path=0.1,
                                  more_metrics="search_gpu_days = {}"))
    assert main(["run", str(spec), "--results", str(tmp_path / "results"),
                 "--data-root", str(tmp_path / "data"), "-q"]) == 0
    (r,) = ResultStore(tmp_path / "results").records(f"{method}-gpu-t")
    assert r.extra["device_type"] == "cuda" and r.env["device_type"] == "cuda"
    assert 0.0 <= r.metrics["top1"] <= 100.0 and r.metrics["search_s"] > 0
    assert r.metrics["search_gpu_days"] == pytest.approx(r.metrics["search_s"] / 86400)


def test_nas_board_compares_binarized_networks_with_their_fp_twins():
    """Hand values: binarized 80 / 82, twins 85 / 88: Δ -5, -6 → mean -5.50, t(0.975, 1) = 12.706,
    half width 12.706 · 0.7071 / √2 = 6.35 → [-11.85, 0.85]; BitOps 2.048e8 over the twin's
    2,000,000 MACs × 1024 = 0.100."""
    records = []
    for seed, (b, f) in enumerate(((80.0, 85.0), (82.0, 88.0))):
        r = rec("bnas", b, 10.0, seed=seed)
        records.append(r.model_copy(update={"bitops": 204_800_000,
                                            "extra": {**r.extra, "fp_twin": {"top1": f}}}))
    page = build_leaderboards(records + [rec("darts", 90.0, 100.0)])["nas_cifar10.md"]
    section = page.split("## Binarized final networks against their full-precision twins")[1]
    row = next(line for line in section.splitlines() if "bnas-small" in line)
    assert "| 81.00 " in row and "| 86.50 " in row and "| -5.50 [-11.85, 0.85] " in row
    assert "| 0.100 " in row and "| 2 " in row
    assert "darts-small" not in section.split("##")[0]  # no twin: no row
    assert "full-precision twins" not in build_leaderboards([rec("darts", 90.0, 100.0)])["nas_cifar10.md"]


def test_bnas_runs_end_to_end_with_its_fp_twin(tmp_path, monkeypatch):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    _cifar_stand_in(tmp_path / "data")
    spec = tmp_path / "bnas-t.toml"
    spec.write_text(stand_in_spec("bnas", 21, extra="partial_k = 2\npc_epochs = 2\npc_arch_from = 1\nrepeats = 1"))
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results), "--data-root", str(tmp_path / "data")]) == 0
    (r,) = ResultStore(results).records("bnas-t")
    assert r.extra["search_epochs"] == 21 and len(r.extra["search_summary"]["abandoned"]) == 7
    assert 0 <= r.extra["fp_twin"]["top1"] <= 100 and r.extra["fp_twin"]["params"] == r.params
    assert r.bitops < r.macs * 32 * 32  # binarized cells count at 1 bit

