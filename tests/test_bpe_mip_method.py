"""The ``bpe-mip`` method: spec checks (one line naming the field), a search killed mid-way that
replays its kept trainings and ends with the record of an uninterrupted one, kept trainings that
are corrupt or mismatched (one line naming the file), the budget, a black-box ``qsrbench run`` +
``qsrbench leaderboard`` on the CIFAR-10 stand-in, and the board's paired Δρ and goal by hand."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import spearmanr

import reference.bpe_mip as bpe_mip
from qsrbench.cli import main
from qsrbench.errors import QsrbenchError, SpecError
from qsrbench.methods import Job, RunContext
from qsrbench.nas.estimate import EstimateResult
from qsrbench.recipe_search_board import _goal, heldout_row, paired_rank_delta
from qsrbench.registry import methods
from qsrbench.spec import parse_spec
from qsrbench.stats import Interval
from qsrbench.store import ResultStore

from .test_bpe import _truth
from .test_nas_method import _cifar_stand_in

SPEC = {"name": "mip-t", "version": 1, "description": "test", "tier": "smoke", "leaderboard": "bpe",
        "datasets": ["CIFAR-10"],
        "method": {"name": "bpe-mip", "recipe": "BPE-1", "arch_names": ["Arch_1", "Arch_2", "Arch_3"],
                   "space": {"epoch": [1, 2, 4], "channels": [4, 8], "n_layers": [3, 6]},
                   "first_round": 3, "per_round": 1, "device": "cpu", "seeds": [0]},
        "metrics": {"search_s": {}}}


def spec(**method):
    d = copy.deepcopy(SPEC)
    d["method"].update(method)
    return d


@pytest.mark.parametrize("changes,match", [
    ({"space": {"epoch": [1, 2], "depth": [3]}}, r"method.space.depth: not a recipe hyper-parameter"),
    ({"space": {"epoch": [1, 1], "channels": [4]}}, r"method.space.epoch: give at least one value, no repeats"),
    ({"space": {"epoch": [0, 2], "channels": [4]}}, r"method.space.epoch: 0: Input should be greater than or equal to 1"),
    ({"space": {"epoch": [1]}}, r"method.space"),
    ({"first_round": 13}, r"method.first_round: 13 recipes asked of a space of 12"),
    ({"budget_s": 0}, r"method.budget_s"),
])
def test_bad_specs_name_the_field(changes, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(spec(**changes))


def test_a_search_measures_search_s_only():
    d = spec()
    d["metrics"] = {"top1": {}}
    with pytest.raises(SpecError, match=r"metrics: a recipe search measures search_s"):
        parse_spec(d)


def _fake_estimate(calls):
    """A deterministic stand-in for a proxy training: top-1 ranks the architectures by their
    ground truth only when the recipe trains 4 epochs (the informative hyper-parameter); cost
    grows with epochs and channels."""

    def estimate(genotype, recipe, train, test, *, seed, device, score, compile):
        calls.append((recipe.epoch, recipe.channels, recipe.n_layers))
        order = {8: 1.0, 6: 2.0, 4: 3.0}[len([op for op, _ in genotype.normal if op == "skip_connect"])]
        top1 = 50.0 + (order if recipe.epoch == 4 else -order) + 0.01 * recipe.channels
        cost = 0.5 * recipe.epoch * recipe.channels / 4
        return EstimateResult([top1], top1, 1000, cost - 0.1, 0.1, "stand-in CPU", recipe.epoch, 1.0)

    return estimate


def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("QSRBENCH_NAS_TRUTH", str(tmp_path / "truth.json"))
    monkeypatch.setenv("QSRBENCH_RUNS", str(tmp_path / "runs"))
    _truth(tmp_path / "truth.json")
    calls = []
    monkeypatch.setattr(bpe_mip, "estimate", _fake_estimate(calls))
    monkeypatch.setattr(bpe_mip.BPEMIP, "_split", lambda self, ctx, name, split, n, seed: None)
    return calls


def _run(s):
    m = methods.get("bpe-mip")()
    return m.run_job(s, m.jobs(s)[0], RunContext(data_root=None, verify=False))


def test_a_killed_search_resumes_from_its_kept_trainings(tmp_path, monkeypatch):
    calls = _setup(tmp_path, monkeypatch)
    s = parse_spec(spec())
    whole = _run(s).extra["recipe_search"]
    n_trainings = len(calls)
    assert n_trainings == 3 * len(whole["evaluations"]) and len(whole["prunings"]) == 2
    assert whole["best"]["recipe"]["epoch"] == 4 and whole["best"]["rho"] == pytest.approx(1.0)
    for e in whole["evaluations"]:  # ρ is Spearman of the proxies against the ground truth
        proxy = [e["proxy"][a] for a in ("Arch_1", "Arch_2", "Arch_3")]
        assert e["rho"] == pytest.approx(spearmanr(proxy, [96.0, 97.0, 96.5]).statistic)
    folder = next((tmp_path / "runs").rglob("trainings"))
    kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert len(kept) == n_trainings
    for p in kept[4:]:  # killed after four trainings
        p.unlink()
    calls.clear()
    again = _run(s).extra["recipe_search"]
    assert len(calls) == n_trainings - 4  # only the missing trainings ran
    assert again == whole


def test_kept_trainings_that_are_corrupt_or_mismatched_are_one_line(tmp_path, monkeypatch):
    _setup(tmp_path, monkeypatch)
    s = parse_spec(spec())
    _run(s)
    folder = next((tmp_path / "runs").rglob("trainings"))
    first = sorted(folder.glob("*.json"))[0]
    data = json.loads(first.read_text())
    first.write_text(json.dumps({**data, "arch": "Arch_9"}))
    with pytest.raises(QsrbenchError, match=rf"{first.name}: holds another training than its name says"):
        _run(s)
    first.write_text('{"recipe": ')
    with pytest.raises(QsrbenchError, match=rf"{first.name}: not a readable training record"):
        _run(s)


def test_the_budget_stops_the_search_and_counts_every_training(tmp_path, monkeypatch):
    calls = _setup(tmp_path, monkeypatch)
    res = _run(parse_spec(spec(budget_s=1.0)))
    search = res.extra["recipe_search"]
    assert len(search["prunings"]) == 1 and search["stopped"] == "budget of 1 s spent"
    spent = sum(0.5 * e * c / 4 for e, c, _ in calls)
    assert res.metrics["search_s"] == pytest.approx(spent)
    assert sum(e["spent_s"] for e in search["evaluations"]) == pytest.approx(spent)


def test_run_and_leaderboard_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QSRBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("QSRBENCH_NAS_TRUTH", str(tmp_path / "truth.json"))
    monkeypatch.setenv("QSRBENCH_RUNS", str(tmp_path / "runs"))
    _truth(tmp_path / "truth.json")
    _cifar_stand_in(tmp_path / "data", per_batch=16)
    toml = tmp_path / "mip-t.toml"
    toml.write_text('name = "mip-t"\nversion = 1\ndescription = "t"\ntier = "smoke"\nleaderboard = "bpe"\n'
                    'datasets = ["CIFAR-10"]\n[method]\nname = "bpe-mip"\narch_names = ["Arch_1", "Arch_2", "Arch_3"]\n'
                    'space = { epoch = [1, 2], channels = [4, 8] }\nfirst_round = 2\nper_round = 1\n'
                    'seeds = [0]\ndevice = "cpu"\ntrain_images = 40\ntest_images = 16\n[metrics]\nsearch_s = {}\n')
    results = tmp_path / "results"
    assert main(["run", str(toml), "--results", str(results), "--data-root", str(tmp_path / "data"),
                 "--no-verify"]) == 0
    (rec,) = ResultStore(results).records("mip-t")
    search = rec.extra["recipe_search"]
    assert len(search["evaluations"]) == 2 and search["fixed"] and rec.metrics["search_s"] > 0
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "boards"),
                 "--specs", str(tmp_path)]) == 0
    page = (tmp_path / "boards" / "bpe.md").read_text()
    assert "## Recipe search (minimum-importance pruning)" in page and "mip-t v1 (smoke): trajectory" in page
    capsys.readouterr()


def test_paired_rank_delta_by_hand():
    truth = [1.0, 2.0, 3.0, 4.0, 5.0]
    same = paired_rank_delta([3, 1, 2, 5, 4], [3, 1, 2, 5, 4], truth)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)  # resampled together: no spread
    flip = paired_rank_delta([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], truth)
    assert flip.estimate == pytest.approx(2.0) and flip.low > 0
    a, b = [1, 3, 2, 5, 4, 6], [2, 1, 4, 3, 6, 5]
    t = [1, 2, 3, 4, 5, 6]
    d = paired_rank_delta(a, b, t)
    assert d.estimate == pytest.approx(spearmanr(a, t).statistic - spearmanr(b, t).statistic)
    ties = paired_rank_delta([1, 1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4])
    assert ties.estimate == pytest.approx(spearmanr([1, 1, 2, 3], [1, 2, 3, 4]).statistic - 1.0)
    assert np.isfinite([ties.low, ties.high]).all()


def _row(best_interval, best_cost, delta_high, ref_cost=100.0, published=0.5, heldout=None):
    return {"best": {"interval": best_interval, "cost_s": best_cost},
            "reference": {"published": {"spearman": published}, "cost_mean": ref_cost},
            "delta": Interval(0.0, -0.5, delta_high, 20, 0.95),
            "heldout": None if heldout is None else {"rho": heldout}}


def test_goal_by_hand():
    assert _goal(_row(Interval(0.3, 0.0, 0.6, 20, 0.95), 50.0, 0.1)) == "met (no held-out row)"
    assert _goal(_row(Interval(0.3, 0.0, 0.6, 20, 0.95), 50.0, 0.1, heldout=Interval(0.4, 0.2, 0.55, 80, 0.95))) == "met"
    assert _goal(_row(Interval(0.3, 0.0, 0.6, 20, 0.95), 50.0, 0.1, heldout=Interval(0.3, 0.1, 0.45, 80, 0.95))) == (
        "missed (held-out ρ interval reaches the published)")
    assert _goal(_row(Interval(0.2, 0.0, 0.45, 20, 0.95), 50.0, 0.1)).startswith(
        "missed (ρ interval reaches the published)")
    assert "Δρ vs BPE-1 here not below 0" in _goal(_row(Interval(0.3, 0.0, 0.6, 20, 0.95), 50.0, -0.01))
    assert "cost ≤ BPE-1's here" in _goal(_row(Interval(0.3, 0.0, 0.6, 20, 0.95), 100.5, 0.1))
    assert _goal({"best": None, "reference": None}).startswith("not decided")


def _search(archs=("A1", "A2", "A3"), seeds=(2,), data=(5000, 2000)):
    s = {"base": {"epoch": 10, "learning rate": 0.03, "channels": 8}, "best": {"recipe": {"epoch": 4}},
         "archs": list(archs), "seeds": list(seeds)}
    return SimpleNamespace(extra={"recipe_search": s, "train_images": data[0], "test_images": data[1]})


def _estimate(name, values, archs, seeds=("2",), data=(5000, 2000)):
    recs = [SimpleNamespace(extra={"train_images": data[0], "test_images": data[1]})]
    return {"spec": name, "values": values, "archs": list(archs), "seeds": list(seeds), "records": recs}


def test_heldout_row_by_hand():
    found = {"epoch": 4, "learning rate": 0.03, "channels": 8}
    good = _estimate("held", dict(found), ["B1", "B2", "B3"])
    assert heldout_row(_search(), [good])["spec"] == "held"
    assert heldout_row(_search(), [_estimate("int", {**found, "epoch": 4.0}, ["B1", "B2", "B3"])]) is not None
    misses = [_estimate("overlap", dict(found), ["A1", "B2", "B3"]),
              _estimate("recipe", {**found, "epoch": 10}, ["B1", "B2", "B3"]),
              _estimate("keys", {"epoch": 4, "channels": 8}, ["B1", "B2", "B3"]),
              _estimate("seeds", dict(found), ["B1", "B2", "B3"], seeds=("0",)),
              _estimate("data", dict(found), ["B1", "B2", "B3"], data=(50000, 10000))]
    for row in misses:
        assert heldout_row(_search(), [row]) is None, row["spec"]
    assert heldout_row(_search(), misses + [good])["spec"] == "held"
