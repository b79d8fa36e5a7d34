"""The recipe-search section of the performance-estimation page: what a search of the budgeted
estimation space (minimum-importance pruning, Zheng et al., CVPR 2020) evaluated, what it pruned
and fixed, and the recipe it found against the published recipe measured here.

A search record (``extra.recipe_search``) holds every evaluated recipe with its Spearman ρ, its
cost (mean seconds per training) and the proxies (mean top-1 over seeds per architecture), every
pruning (the free hyper-parameters' importances, the one fixed and its value), the best recipe,
the budget and why the search stopped. Per search:

* each evaluated recipe's ρ with its percentile-bootstrap interval over architectures
  (:func:`qsrbench.stats.rank_correlation`, recomputed from the kept proxies);
* the found recipe against the published recipe of the same architectures measured here (an
  estimation row of the page whose architectures include the search's): the *paired* difference
  Δρ = ρ(found) − ρ(published recipe), bootstrapped by resampling the common architectures once
  for both recipes (:func:`paired_rank_delta`), and the cost ratio;
* the goal (issue text: "a recipe whose ρ is within the published BPE-1 interval at no more than
  its cost"), read as: the published ρ is not above the found recipe's interval (ρ not shown to be
  worse than published), Δρ's interval reaches 0 or above (not shown to be worse than the
  published recipe measured here on the same architectures), and the found recipe costs at most
  the published recipe's measured cost per network.

The found recipe is the best of those evaluated *on the same architectures*, so its ρ is biased
upward (selection on the sample it is scored on); the page says so. A *held-out* estimation row
removes that bias: one that trained exactly the found recipe (the search's base recipe with the
found values) on the search's data (training and test image counts, seeds) and on architectures
disjoint from the search's (:func:`heldout_row`). Its ρ is shown beside the search and enters the
goal as a fourth check (the published ρ not above the held-out interval either).

Searches that use a recipe as their estimator (``extra.estimator_search``: random search and
regularized evolution) get their own section: the found genotype's estimate per strategy over
search seeds, the best-so-far curve, and evolution − random.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import rankdata

from .leaderboard import TIER_ORDER, table
from .stats import LEVEL, RESAMPLES, SEED, Interval, rank_correlation, t_interval, welch_interval
from .store import Record

__all__ = ["paired_rank_delta", "search_rows", "heldout_row", "recipe_search_section", "is_search_record",
           "is_estimator_search", "estimator_search_section"]

REFERENCE_RECIPE = "BPE-1"  # the published recipe the goal names


def is_search_record(r: Record) -> bool:
    return "recipe_search" in (r.extra or {})


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


def paired_rank_delta(a: list[float], b: list[float], truth: list[float], *, resamples: int = RESAMPLES,
                      level: float = LEVEL, seed: int = SEED) -> Interval:
    """Spearman(a, truth) − Spearman(b, truth) over the same items, with a percentile-bootstrap
    interval from resampling the items once for both (resamples where either ρ is undefined are
    left out)."""
    x, y, t = (np.asarray(v, np.float64) for v in (a, b, truth))
    if not (x.shape == y.shape == t.shape) or x.ndim != 1 or x.size < 3:
        raise ValueError("paired rank delta needs three equal-length samples of at least 3 values")
    estimate = float(_spearman(x, t) - _spearman(y, t))
    idx = np.random.Generator(np.random.PCG64(seed)).integers(0, x.size, size=(resamples, x.size))
    boot = _spearman(x[idx], t[idx]) - _spearman(y[idx], t[idx])
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(lo), float(hi), int(x.size), level)


def _reference_row(search: dict, estimate_rows: list[dict]) -> dict | None:
    """The published-recipe row of the page (highest tier first) measured on the search's archs."""
    need = set(search["archs"])
    rows = [x for x in estimate_rows if x["recipe"] == REFERENCE_RECIPE and need <= set(x["archs"])]
    return rows[-1] if rows else None


def heldout_row(record: Record, estimate_rows: list[dict]) -> dict | None:
    """The estimation row (highest tier first) that trained the search's found recipe on the search's
    data and seeds, on architectures none of which the search scored; None when there is none."""
    s, extra = record.extra["recipe_search"], record.extra
    if not s["best"]:
        return None
    found, seen = {**s["base"], **s["best"]["recipe"]}, set(s["archs"])
    seeds = sorted(str(x) for x in s["seeds"])

    def matches(x: dict) -> bool:
        data = {(r.extra.get("train_images"), r.extra.get("test_images")) for r in x["records"]}
        return (x["values"] == found and not seen & set(x["archs"]) and x["seeds"] == seeds
                and data == {(extra.get("train_images"), extra.get("test_images"))})
    rows = [x for x in estimate_rows if matches(x)]
    return rows[-1] if rows else None


def _rho(proxy: dict[str, float], truth: dict[str, float]) -> Interval | None:
    names = sorted(proxy)
    p = [proxy[a] for a in names]
    if len(names) < 3 or len(set(p)) < 2:
        return None
    return rank_correlation(p, [truth[a] for a in names], "spearman")


def search_rows(records: list[Record], estimate_rows: list[dict]) -> list[dict]:
    """One dict per search record: its facts, each evaluation's ρ interval and the comparison."""
    out = []
    for r in sorted(records, key=lambda r: (TIER_ORDER.get(r.tier, 3), r.spec, r.spec_version)):
        s = r.extra["recipe_search"]
        truth = s["ground_truth"]
        evals = [{**e, "interval": _rho(e["proxy"], truth)} for e in s["evaluations"]]
        best = next((e for e in evals if s["best"] and e["recipe"] == s["best"]["recipe"]), None)
        row = {"record": r, "search": s, "evaluations": evals, "best": best, "reference": None,
               "heldout": heldout_row(r, estimate_rows)}
        ref = _reference_row(s, estimate_rows)
        if best is not None and ref is not None:
            common = sorted(set(best["proxy"]) & set(ref["archs"]), key=lambda a: (len(a), a))
            ref_proxy = dict(zip(ref["archs"], ref["proxy"]))
            row["reference"] = ref
            row["delta"] = paired_rank_delta([best["proxy"][a] for a in common], [ref_proxy[a] for a in common],
                                             [truth[a] for a in common])
            row["ref_rho"] = rank_correlation([ref_proxy[a] for a in common], [truth[a] for a in common])
        out.append(row)
    return out


def _minutes(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _goal(row: dict) -> str:
    best, ref = row["best"], row["reference"]
    if best is None:
        return "not decided: no recipe within the cost cap"
    if ref is None:
        return f"not decided: no {REFERENCE_RECIPE} row on these architectures"
    published = (ref["published"] or {}).get("spearman")
    i, d = best["interval"], row["delta"]
    checks = {"ρ interval reaches the published": i is not None and published is not None and i.high >= published,
              f"Δρ vs {REFERENCE_RECIPE} here not below 0": d.high >= 0,
              f"cost ≤ {REFERENCE_RECIPE}'s here": best["cost_s"] <= ref["cost_mean"]}
    held = row["heldout"]
    if held is not None:
        checks["held-out ρ interval reaches the published"] = (
            held["rho"] is not None and published is not None and held["rho"].high >= published)
    missed = [k for k, ok in checks.items() if not ok]
    verdict = "met" if not missed else "missed (" + "; ".join(missed) + ")"
    return verdict if held is not None else verdict + " (no held-out row)"


def _summary(rows: list[dict], ci: Callable) -> list[str]:
    body = []
    for x in rows:
        r, s, best, ref = x["record"], x["search"], x["best"], x["reference"]
        budget = f"{s['budget_s']:g} s" if s.get("budget_s") else "none"
        vs = "—" if ref is None or best is None else (
            f"Δρ {x['delta'].estimate:+.3f} [{x['delta'].low:+.3f}, {x['delta'].high:+.3f}] vs ρ "
            f"{x['ref_rho'].estimate:.3f}; cost × {best['cost_s'] / ref['cost_mean']:.3f} "
            f"({best['cost_s']:.1f} s vs {ref['cost_mean']:.1f} s)")
        held = x["heldout"]
        held_text = "— (none)" if held is None else (
            f"{ci(held['rho'])} (n = {len(held['archs'])}, {held['spec']} v{held['version']})")
        body.append([r.tier, f"{r.spec} v{r.spec_version}", len(s["archs"]), len(s["evaluations"]), budget,
                     _minutes(r.metrics["search_s"]), s["stopped"], ci(best["interval"]) if best else "—",
                     held_text, f"{best['cost_s']:.1f} s" if best else "—", vs, _goal(x)])
    return [table(body, ["Tier", "Spec", "n", "Recipes", "Budget", "Spent", "Stopped", "Found recipe ρ [95 % CI]",
                         "Held-out ρ [95 % CI] (other architectures)", "Its cost per network",
                         f"vs {REFERENCE_RECIPE} here (same architectures)", "Goal"]), ""]


def _fixed_text(p: dict, evaluations: list[dict]) -> str:
    """What a pruning fixed; flagged when no recipe evaluated so far varied that hyper-parameter (its
    importance is 0 for want of evidence, not by measurement)."""
    tried = {e["recipe"][p["fixed"]] for e in evaluations[:p["evaluations"]]}
    return f"{p['fixed']} = {p['value']:g}" + (" (never varied before)" if len(tried) < 2 else "")


def _detail(x: dict, ci: Callable) -> list[str]:
    r, s = x["record"], x["search"]
    names = list(s["space"])
    fixed_base = {k: v for k, v in s["base"].items() if k not in names}
    lines = [f"### {r.spec} v{r.spec_version} ({r.tier}): trajectory", "",
             "Free hyper-parameters and their values (cheapest first): "
             + "; ".join(f"{k} {s['space'][k]}" for k in names) + ". Kept: "
             + ", ".join(f"{k} {v}" for k, v in fixed_base.items()) + f". Importance: {s['importance']}.", ""]
    lines += [table([[i + 1, p["evaluations"], *[f"{p['importances'][n]:.4f}" if n in p["importances"] else "fixed"
                                                 for n in names], _fixed_text(p, s["evaluations"])]
                     for i, p in enumerate(s["prunings"])],
                    ["Pruning", "Recipes so far", *names, "Fixed"]), ""]
    front = [e["recipe"] for e in s["front"]]
    lines += [table([[i + 1, *[f"{e['recipe'][n]:g}" for n in names], ci(e["interval"]), f"{e['cost_s']:.1f}",
                      _minutes(e["spent_s"]), ("best" if x["best"] is e else "") + (" front" if e["recipe"] in front else "")]
                     for i, e in enumerate(x["evaluations"])],
                    ["#", *names, "ρ [95 % CI]", "Cost per network (s)", "Spent", ""]), ""]
    return lines


def recipe_search_section(records: list[Record], estimate_rows: list[dict], ci: Callable) -> list[str]:
    """The page's lines for the search records (none when there are none); ``ci`` formats a ρ
    interval as the page's estimation rows do."""
    if not records:
        return []
    rows = search_rows(records, estimate_rows)
    lines = ["## Recipe search (minimum-importance pruning)", "",
             "Each search draws recipes cheapest-biased, fits a random forest from the free hyper-parameters "
             "to ρ, fixes the least important at its measured cheapest value and repeats until one is left "
             "free or the budget is spent (reference/bpe_mip.py). The found recipe is the best ρ among those "
             "evaluated, on the same architectures it is scored on: its ρ is biased upward by that selection; the "
             "held-out ρ is the same recipe trained on the search's data on ground-truth architectures the "
             "search never saw, free of that bias. "
             f"Δρ is paired (the same architectures resampled for both recipes); the goal reads: the published "
             f"{REFERENCE_RECIPE} ρ not above the found recipe's interval, Δρ's interval reaching 0, and a cost per "
             f"network at most {REFERENCE_RECIPE}'s measured here, and, where a held-out row exists, the published "
             "ρ not above its interval either.", ""]
    lines += _summary(rows, ci)
    for x in rows:
        lines += _detail(x, ci)
    return lines


# -- architecture searches with a recipe as the estimator ---------------------------------------

def is_estimator_search(r: Record) -> bool:
    return "estimator_search" in (r.extra or {})


def _cell_text(pairs: list) -> str:
    return " ".join(f"{op}←{src}" for op, src in pairs)


def _best_so_far(estimates: list[float], fraction: float) -> float:
    return max(estimates[:max(1, round(fraction * len(estimates)))])


def _interval_text(i: Interval, digits: int = 2, sign: str = "") -> str:
    f = f"{sign}.{digits}f"
    if not np.isfinite(i.low):
        return f"{i.estimate:{f}} (one search seed: no interval)"
    return f"{i.estimate:{f}} [{i.low:{f}}, {i.high:{f}}]"


def estimator_search_section(records: list[Record]) -> list[str]:
    """The page's lines for random search / regularized evolution records (none when there are none):
    per (spec, strategy) the found genotype's estimate over search seeds (t interval), the
    best-so-far curve, the cost, and evolution − random (Welch interval over search seeds)."""
    if not records:
        return []
    groups: dict[tuple, list[Record]] = {}
    for r in sorted(records, key=lambda r: (TIER_ORDER.get(r.tier, 3), r.spec, r.spec_version, r.variant)):
        groups.setdefault((r.tier, r.spec, r.spec_version, r.extra["estimator_search"]["strategy"]), []).append(r)
    body, found = [], {}
    for (tier, spec, version, strategy), rs in groups.items():
        es = [r.extra["estimator_search"] for r in rs]
        found[(tier, spec, version, strategy)] = [e["found_estimate"] for e in es]
        curve = " / ".join(f"{np.mean([_best_so_far(e['estimates'], f) for e in es]):.2f}" for f in (0.25, 0.5, 1.0))
        body.append([tier, f"{spec} v{version}", strategy, len(rs), es[0]["candidates"],
                     f"{np.mean([e['distinct'] for e in es]):.0f}", es[0]["recipe_name"],
                     _interval_text(t_interval(found[(tier, spec, version, strategy)])), curve,
                     _minutes(float(np.mean([r.metrics["search_s"] for r in rs]))), rs[0].extra.get("device", "?")])
    lines = ["## Architecture search with a recipe as the estimator", "",
             "Random search and regularized (aging) evolution (Real et al., AAAI 2019) over the cell space, "
             "each candidate scored by its proxy top-1 under the spec's recipe (reference/bpe_search.py). The "
             "found genotype is the best estimate of the history: that maximum is biased upward by the "
             "selection, and it is an estimate, not a fully trained accuracy. Intervals: Student t over search "
             "seeds; evolution − random: Welch over search seeds.", "",
             table(body, ["Tier", "Spec", "Strategy", "Search seeds", "Candidates", "Distinct", "Recipe",
                          "Found: proxy top-1 (%) [95 % CI]", "Best so far at 25 / 50 / 100 %",
                          "Search time (mean)", "Device"]), ""]
    pairs = [(k, found[(*k, "evolution")], found[(*k, "random")]) for k in {g[:3] for g in groups}
             if (*k, "evolution") in found and (*k, "random") in found]
    if pairs:
        lines += [table([[f"{spec} v{version} ({tier})", _interval_text(welch_interval(ev, rnd), sign="+")]
                         for (tier, spec, version), ev, rnd in sorted(pairs)],
                        ["Spec", "Evolution − random, found proxy top-1 (pp) [95 % CI]"]), ""]
    lines += [table([[f"{r.spec} v{r.spec_version}", r.variant, f"{r.extra['estimator_search']['found_estimate']:.2f}",
                      _cell_text(r.extra["estimator_search"]["found"]["normal"]),
                      _cell_text(r.extra["estimator_search"]["found"]["reduce"])]
                     for rs in groups.values() for r in rs],
                    ["Spec", "Search", "Estimate (%)", "Found normal cell (operation←input)", "Reduction cell"]), ""]
    return lines
