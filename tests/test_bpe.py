"""BPE through the harness: spec checks (one line naming the field), the fixed architecture
sample, a black-box ``qsrbench run`` + ``qsrbench leaderboard`` on a CIFAR-10 stand-in with a
stand-in ground truth (resumable job by job), and the board's rank correlation and published
status against hand counts."""

from __future__ import annotations

import copy
import json

import pytest

from qsrbench.boards import build_leaderboards
from qsrbench.cli import main
from qsrbench.errors import QsrbenchError, SpecError
from qsrbench.estimate_board import estimate_rows
from qsrbench.registry import methods
from qsrbench.spec import parse_spec
from qsrbench.store import Record, ResultStore

from .test_nas_method import _cifar_stand_in

SPEC = {"name": "bpe-t", "version": 1, "description": "test", "tier": "smoke", "leaderboard": "bpe",
        "datasets": ["CIFAR-10"],
        "method": {"name": "bpe", "recipe": "BPE-1", "archs": 3, "device": "cpu"},
        "metrics": {"top1": {}}}


def spec(**method):
    d = copy.deepcopy(SPEC)
    d["method"].update(method)
    return d


@pytest.mark.parametrize("changes,match", [
    ({"recipe": "custom"}, r"method.recipe_values: give recipe_values exactly when recipe = 'custom'"),
    ({"recipe_values": {"epoch": 1}}, r"method.recipe_values: give recipe_values exactly when"),
    ({"recipe": "custom", "recipe_values": {"epoch": 0, "batchsize": 8, "learning rate": 0.1, "n_layers": 3,
                                            "fp": 32, "channels": 4, "cutout_len": 0, "image_size": 16}},
     r"method.recipe_values.epoch: Input should be greater than or equal to 1"),
    ({"archs": 101}, r"method.archs"),
    ({"test_images": 20_000}, "CIFAR-10 has 50,000 training and 10,000 test images"),
])
def test_bad_specs_name_the_field(changes, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(spec(**changes))


def test_scales_and_other_metrics_are_refused():
    d = spec()
    d["scales"], d["metrics"] = [2], {"top1": {}, "error": {}}
    with pytest.raises(SpecError, match="scales") as exc:
        parse_spec(d)
    assert "metrics" in str(exc.value)


def test_a_fixed_sample_of_distinct_architectures():
    s = parse_spec(spec(archs=20, seeds=[0, 1]))
    jobs = methods.get("bpe")().jobs(s)
    archs = [j.variant.split(" seed ")[0] for j in jobs]
    assert len(jobs) == 40 and len(set(archs)) == 20
    assert jobs == methods.get("bpe")().jobs(s)  # the same sample every time
    other = methods.get("bpe")().jobs(parse_spec(spec(archs=20, arch_seed=1)))
    assert {j.variant for j in other} != {j.variant for j in jobs if j.variant.endswith("seed 0")}
    named = methods.get("bpe")().jobs(parse_spec(spec(arch_names=["Arch_3", "Arch_1", "Arch_2"])))
    assert [j.variant for j in named] == ["Arch_3 seed 2", "Arch_1 seed 2", "Arch_2 seed 2"]


def _truth(path, accs=(96.0, 97.0, 96.5)):
    skip = [["skip_connect", 0], ["skip_connect", 1]]
    pool = [["max_pool_3x3", 0], ["max_pool_3x3", 1]]
    sep = [["sep_conv_3x3", 0], ["skip_connect", 1]]
    cells = [skip * 4, sep * 4, (sep + skip) * 2]
    data = {"archs": [{"name": f"Arch_{i + 1}", "test_accuracy": a,
                       "genotype": {"normal": cells[i], "reduce": pool * 4,
                                    "normal_concat": [2, 3, 4, 5], "reduce_concat": [2, 3, 4, 5]}}
                      for i, a in enumerate(accs)],
            "published_bpe": {"BPE-1": {"recipe": {"epoch": 1, "batchsize": 16, "learning rate": 0.03,
                                                   "n_layers": 3, "fp": 32, "channels": 4, "cutout_len": 0,
                                                   "image_size": 16},
                                        "spearman_vs_ground_truth": 0.5, "gpu_hours_per_network": 0.01}}}
    path.write_text(json.dumps(data))


def test_run_resume_and_leaderboard_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("QSRBENCH_NAS_TRUTH", str(tmp_path / "truth.json"))
    _truth(tmp_path / "truth.json")
    _cifar_stand_in(tmp_path / "data", per_batch=16)
    toml = tmp_path / "bpe-t.toml"
    toml.write_text('name = "bpe-t"\nversion = 1\ndescription = "t"\ntier = "smoke"\nleaderboard = "bpe"\n'
                    'datasets = ["CIFAR-10"]\n[method]\nname = "bpe"\narch_names = ["Arch_1", "Arch_2", "Arch_3"]\n'
                    'seeds = [0]\ndevice = "cpu"\ntrain_images = 40\ntest_images = 16\n[metrics]\ntop1 = {}\n')
    results = tmp_path / "results"
    args = ["run", str(toml), "--results", str(results), "--data-root", str(tmp_path / "data"), "--no-verify"]
    assert main(args) == 0
    recs = ResultStore(results).records("bpe-t")
    assert sorted(r.variant for r in recs) == ["Arch_1 seed 0", "Arch_2 seed 0", "Arch_3 seed 0"]
    r = next(r for r in recs if r.variant == "Arch_2 seed 0")
    assert r.extra["ground_truth_top1"] == 97.0 and r.extra["recipe"]["epoch"] == 1
    assert r.extra["published"] == {"spearman": 0.5, "gpu_hours_per_network": 0.01}
    assert r.metrics["top1"] == max(r.extra["top1_per_epoch"]) and r.wall_s > 0
    lines = (results / "bpe-t.jsonl").read_text().splitlines()
    (results / "bpe-t.jsonl").write_text("\n".join(lines[:1]) + "\n")  # as if killed after one job
    assert main(args) == 0
    assert len(ResultStore(results).records("bpe-t")) == 3  # the two missing jobs ran, none twice
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"),
                 "--specs", str(tmp_path)]) == 0
    page = (tmp_path / "boards" / "bpe.md").read_text()
    assert "Spearman ρ" in page and "| Arch_3 " in page
    capsys.readouterr()


def test_an_unknown_recipe_or_architecture_is_one_line(tmp_path, monkeypatch):
    from qsrbench.methods import Job, RunContext

    monkeypatch.setenv("QSRBENCH_NAS_TRUTH", str(tmp_path / "truth.json"))
    _truth(tmp_path / "truth.json")
    m = methods.get("bpe")()
    ctx = RunContext(data_root=tmp_path, verify=False)
    with pytest.raises(QsrbenchError, match="method.recipe: 'BPE-9' is not a published recipe"):
        m.run_job(parse_spec(spec(recipe="BPE-9")), Job("CIFAR-10", None, None, "Arch_1 seed 0"), ctx)
    with pytest.raises(QsrbenchError, match="'Arch_77' is not in the ground truth"):
        m.run_job(parse_spec(spec()), Job("CIFAR-10", None, None, "Arch_77 seed 0"), ctx)


def _rec(arch, proxy, truth, seed=0, published=0.4967, wall=60.0):
    return Record(spec="bpe-s", spec_version=1, spec_hash="h", spec_file="f.toml", leaderboard="bpe",
                  tier="small", method="bpe", model=None, bits={"weight": 32, "activation": 32},
                  dataset="CIFAR-10", scale=None, variant=f"{arch} seed {seed}", metrics={"top1": proxy},
                  metric_info={"top1": {"unit": "%", "direction": "higher", "tolerance": 0.5}},
                  wall_s=wall, env={"device": "cpu"}, timestamp="2026-01-01T00:00:00",
                  extra={"arch": arch, "ground_truth_top1": truth, "recipe_name": "BPE-1",
                         "recipe": {"epoch": 10}, "device": "cpu",
                         "published": {"spearman": published, "gpu_hours_per_network": 0.0852}})


def test_board_rank_correlation_by_hand():
    # truth ranks 1..5, proxy ranks 2 1 3 5 4: d = -1 1 0 -1 1, sum d^2 = 4, rho = 1 - 6*4/(5*24) = 0.8;
    # Kendall: 10 pairs, 2 discordant -> tau = (8 - 2) / 10 = 0.6
    truth = [96.0, 96.2, 96.4, 96.6, 96.8]
    proxy = [51.0, 50.0, 52.0, 54.0, 53.0]
    recs = [_rec(f"Arch_{i + 1}", p, t) for i, (p, t) in enumerate(zip(proxy, truth))]
    recs.append(_rec("Arch_1", 53.0, 96.0, seed=1))  # seeds average: Arch_1 -> 52.0, rank 2.5 of 5
    (row,) = estimate_rows(recs)
    assert row["proxy"][0] == 52.0
    # proxy 52 50 52 54 53: ranks 2.5 1 2.5 5 4 against 1..5: d = 1.5 -1 -0.5 1 -1
    # Pearson on ranks: cov = sum((r - 3)(s - 3)) / ... computed by hand below
    r_p, r_t = [2.5, 1, 2.5, 5, 4], [1, 2, 3, 4, 5]
    mp, mt = sum(r_p) / 5, 3.0
    num = sum((a - mp) * (b - mt) for a, b in zip(r_p, r_t))
    den = (sum((a - mp) ** 2 for a in r_p) * sum((b - mt) ** 2 for b in r_t)) ** 0.5
    assert row["rho"].estimate == pytest.approx(num / den, abs=1e-12)
    (plain,) = estimate_rows(recs[:5])
    assert plain["rho"].estimate == pytest.approx(0.8, abs=1e-12)
    assert plain["tau"].estimate == pytest.approx(0.6, abs=1e-12)
    assert plain["rho"].n == 5 and plain["cost_mean"] == 60.0


def test_board_published_status():
    truth = [96.0 + 0.1 * i for i in range(8)]
    perfect = [_rec(f"Arch_{i + 1}", 50 + i, t) for i, t in enumerate(truth)]
    page = build_leaderboards(perfect)["bpe.md"]
    assert "not reproduced: Δ = +0.503 (published 0.4967)" in page  # rho = 1 with a zero-width interval
    noisy = [_rec(f"Arch_{i + 1}", p, t, published=0.5) for i, (p, t) in
             enumerate(zip([50, 52, 51, 55, 53, 54, 58, 56], truth))]
    (row,) = estimate_rows(noisy)
    # proxy ranks 1 3 2 6 4 5 8 7 against 1..8: sum d^2 = 10, rho = 1 - 60 / 504
    assert row["rho"].estimate == pytest.approx(1 - 60 / 504, abs=1e-12)
    inside = row["rho"].low <= 0.5 <= row["rho"].high
    page = build_leaderboards(noisy)["bpe.md"]
    expected = ("reproduced (published 0.5000 inside the interval)" if inside
                else f"not reproduced: Δ = {1 - 60 / 504 - 0.5:+.3f} (published 0.5000)")
    assert expected in page
    assert "goal ≤ 8 min: met" in page
    slow = build_leaderboards([r.model_copy(update={"wall_s": 600.0}) for r in noisy])["bpe.md"]
    assert "10.00 min" in slow and "goal ≤ 8 min: missed" in slow
