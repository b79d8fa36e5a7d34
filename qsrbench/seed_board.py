"""The spread of a trained SR spec over training seeds: the section of an SR leaderboard page that
turns single training runs into intervals over runs.

A *seed replica* is a spec named ``<base>-seed<k>`` that sets the spec field ``seed = k`` and is
otherwise its base's copy: the same leaderboard, tier, method, model, bits, protocol, checkpoint
and method parameters, a different seed (checked on the records and the parsed spec files:
:func:`qsrbench.ablation_board.replica_bases`). The pairing is by name, as for ablations
(:mod:`qsrbench.ablation_board`), because a spec field would enter the spec hash. A base and its
replicas are the *runs* of one training recipe.

Per recipe, data set, scale and variant where at least two runs scored it: each run's PSNR (mean
over the images), the mean over runs, their standard deviation and the 95% Student-t interval of
the mean over runs (:func:`qsrbench.stats.t_interval`; n = runs). Per ablation whose base and
ablation both have two or more runs: Δ = mean(ablation runs) − mean(base runs) with Welch's
interval over runs (:func:`qsrbench.stats.welch_interval`). The paired bootstrap over images of
the other sections measures how much another set of images could move one run's score; these
intervals measure how much another training run could move it. Neither contains the other.

:func:`seed_goal_rows` judges the QAT goals (:data:`qsrbench.train_board.GOALS`) on the mean over
a recipe's runs of each run's Δ to the goal's reference, with the t interval over runs; the
training section prints them under its per-run goal rows.
"""

from __future__ import annotations

import numpy as np

from .ablation_board import ablation_pairs, replica_bases
from .leaderboard import delta_cell, table, trained
from .sr_board import dataset_rank
from .stats import LEVEL, t_interval, welch_interval
from .store import Record
from .train_board import goal_delta, goal_of

__all__ = ["seed_goal_rows", "seed_runs", "seed_section"]


def seed_runs(records: list[Record], index: dict | None = None) -> dict[tuple, list[Record]]:
    """``{(base spec, dataset, scale, variant): [records, one per run, by seed]}`` for every recipe
    with at least one replica; only keys that two or more runs scored. ``index``: the parsed
    spec files (:func:`qsrbench.ablation_board.replica_bases`)."""
    bases = replica_bases(records, index)
    recipes = set(bases.values())
    out: dict[tuple, list[Record]] = {}
    for r in records:
        base = bases.get(r.spec, r.spec if r.spec in recipes else None)
        if base is not None and "psnr" in r.metrics:
            out.setdefault((base, r.dataset, r.scale, r.variant), []).append(r)
    return {k: sorted(rs, key=lambda r: r.seed) for k, rs in out.items() if len(rs) >= 2}


def seed_goal_rows(records: list[Record], ptq: dict[tuple, Record], fp: dict[tuple, Record],
                   index: dict | None = None) -> list[list[str]]:
    """The goals judged over training runs: per recipe with seed replicas
    (:func:`qsrbench.seed_board.seed_runs`) and goal set, the mean over runs of each run's Δ to the
    goal's reference, its Student-t interval over runs, and the status of that mean."""
    rows = []
    for (base, dataset, scale, variant), runs in sorted(seed_runs(records, index).items(), key=lambda kv: _order(kv[0])):
        goal = goal_of(runs) if all(trained(r) for r in runs) else None
        if goal is None or dataset not in goal[2]:
            continue
        ref_name, threshold, _ = goal
        deltas = [goal_delta(r, ref_name, ptq, fp) for r in runs]
        if None in deltas:
            continue
        values = [d.estimate for d in deltas]
        ci = t_interval(values)
        label = f"{base}{f' ({variant})' if variant else ''}, mean of {len(runs)} runs (seeds " \
                f"{', '.join(str(r.seed) for r in runs)})"
        rows.append([label, f"{dataset} ×{scale}", f"Δ {ref_name} ≥ {threshold:+.2f} dB",
                     f"{ci.estimate:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}] over runs",
                     "met" if ci.estimate >= threshold else "missed"])
    return rows


def _psnrs(runs: list[Record]) -> list[float]:
    return [r.metrics["psnr"] for r in runs]


def _set(key: tuple) -> str:
    _, dataset, scale, variant = key
    return f"{dataset} ×{scale}" + (f" ({variant})" if variant else "")


def _order(key: tuple) -> tuple:
    spec, dataset, scale, variant = key
    return (spec, scale or 0, *dataset_rank(dataset), variant or "")


def _spread_rows(runs: dict[tuple, list[Record]]) -> list[list[str]]:
    rows = []
    for key in sorted(runs, key=_order):
        values = _psnrs(runs[key])
        ci = t_interval(values)
        rows.append([key[0], _set(key), str(len(values)), ", ".join(str(r.seed) for r in runs[key]),
                     " / ".join(f"{v:.2f}" for v in values), f"{np.mean(values):.2f}",
                     f"{np.std(values, ddof=1):.3f}", f"[{ci.low:.2f}, {ci.high:.2f}]"])
    return rows


def _ablation_rows(runs: dict[tuple, list[Record]], ablations: dict[str, str]) -> list[list[str]]:
    rows = []
    for key in sorted(runs, key=_order):
        base = ablations.get(key[0])
        base_runs = runs.get((base, *key[1:])) if base else None
        if base_runs:
            d = welch_interval(_psnrs(runs[key]), _psnrs(base_runs))
            rows.append([key[0], base, _set(key), f"{len(runs[key])} / {len(base_runs)}", delta_cell(d)])
    return rows


def seed_section(records: list[Record], index: dict | None = None) -> list[str]:
    """Markdown lines of the section (empty when no recipe has a replica); ``index``: the parsed
    spec files (:func:`qsrbench.leaderboard.spec_index`), whose names settle ablation bases."""
    runs = seed_runs(records, index)
    if not runs:
        return []
    lines = ["## Training runs over seeds", "",
             "A spec named `<base>-seed<k>` is its base trained again with seed k, nothing else changed; the "
             "base and its replicas are the runs of one recipe. Per set: each run's PSNR, their mean and "
             f"standard deviation, and the {LEVEL:.0%} Student-t interval of the mean over runs. It says how much "
             "another training run could move a score, which the image bootstrap of the other sections does not.",
             "", table(_spread_rows(runs), ["Recipe", "Set", "Runs", "Seeds", "PSNR per run", "Mean",
                                            "SD (dB)", f"{LEVEL:.0%} CI of the mean"]), ""]
    rows = _ablation_rows(runs, ablation_pairs(records, index))
    if rows:
        lines += [f"Ablations with runs on both sides: Δ = mean over the ablation's runs − mean over the base's, "
                  f"Welch's {LEVEL:.0%} interval over runs (≈: it holds 0).", "",
                  table(rows, ["Ablation", "Base", "Set", "Runs (ablation / base)", f"Δ dB [{LEVEL:.0%} CI]"]), ""]
    return lines
