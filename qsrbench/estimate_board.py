"""The performance-estimation leaderboard page: how well a cheap training recipe ranks
architectures whose fully trained accuracy is known, and what it costs per network.

A group's records each hold one (architecture, seed) proxy training: ``metrics.top1`` (the
proxy's accuracy, %), ``extra.ground_truth_top1`` (the architecture's fully trained accuracy),
``wall_s`` (seconds of training and scoring) and the recipe. Per (tier, spec, version):

* Spearman's ρ and Kendall's τ-b between the proxy accuracies (mean over seeds per architecture)
  and the ground truth, each with its percentile-bootstrap interval over architectures and the
  sample size (:func:`qsrbench.stats.rank_correlation`);
* the cost per network: mean seconds with its Student-t interval over the trainings;
* the published ρ of a named recipe (``extra.published``, from the ground-truth file) and its
  status: *reproduced* when it lies inside the measured interval, otherwise *not reproduced*
  with Δ = measured − published; the published GPU-hours are shown as such (another device:
  not comparable with seconds here).
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from .leaderboard import TIER_ORDER, environments, history, table
from .recipe_search_board import (estimator_search_section, is_estimator_search, is_search_record,
                                  recipe_search_section)
from .stats import LEVEL, Interval, rank_correlation, t_interval
from .store import Record

__all__ = ["is_estimate_group", "estimate_board", "estimate_rows", "COST_GOAL_S"]

MIN_ARCHS = 5  # below this a bootstrap over architectures is degenerate (3 points: every resample
# with three distinct points is a permutation of the sample): the estimate is shown, no interval
COST_GOAL_S = 8 * 60.0  # the harness's goal on its 2-core CPU for the cheaper published recipe


def is_estimate_group(records: list[Record]) -> bool:
    """Proxy trainings against the ground truth, and searches over their recipes."""
    return bool(records) and all("ground_truth_top1" in (r.extra or {}) or is_search_record(r)
                                 or is_estimator_search(r) for r in records)


def _per_arch(records: list[Record]) -> tuple[list[str], list[float], list[float]]:
    proxy: dict[str, list[float]] = defaultdict(list)
    truth: dict[str, float] = {}
    for r in records:
        proxy[r.extra["arch"]].append(r.metrics["top1"])
        truth[r.extra["arch"]] = r.extra["ground_truth_top1"]
    names = sorted(proxy, key=lambda a: (len(a), a))
    return names, [statistics.fmean(proxy[a]) for a in names], [truth[a] for a in names]


def estimate_rows(records: list[Record]) -> list[dict]:
    """One dict per (tier, spec, version): correlations, cost and the published comparison."""
    by_spec: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        by_spec[(r.tier, r.spec, r.spec_version)].append(r)
    rows = []
    for (tier, spec, version), rs in by_spec.items():
        names, proxy, truth = _per_arch(rs)
        row = {"tier": tier, "spec": spec, "version": version, "records": rs, "archs": names,
               "proxy": proxy, "truth": truth, "seeds": sorted({r.variant.rpartition(" seed ")[2] for r in rs}),
               "cost": t_interval([r.wall_s for r in rs]) if len(rs) > 1 else None,
               "cost_mean": statistics.fmean(r.wall_s for r in rs),
               "recipe": rs[0].extra.get("recipe_name"), "values": rs[0].extra.get("recipe"),
               "published": rs[0].extra.get("published"), "device": rs[0].extra.get("device", "?")}
        constant = len(set(proxy)) < 2
        row["rho"] = None if len(names) < 3 or constant else rank_correlation(proxy, truth, "spearman")
        row["tau"] = None if len(names) < 3 or constant else rank_correlation(proxy, truth, "kendall")
        rows.append(row)
    return sorted(rows, key=lambda x: (TIER_ORDER.get(x["tier"], 3), x["spec"]))


def _ci(i: Interval | None, digits: int = 3) -> str:
    if i is None:
        return "— (fewer than 3 architectures, or all proxies equal)"
    if i.n < MIN_ARCHS:
        return f"{i.estimate:.{digits}f} (n = {i.n}: too few for an interval)"
    return f"{i.estimate:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def _status(row: dict) -> str:
    pub, rho = row["published"], row["rho"]
    if not pub:
        return "— (custom recipe)"
    if rho is None or rho.n < MIN_ARCHS:
        return f"not measurable (fewer than {MIN_ARCHS} architectures)"
    if rho.low <= pub["spearman"] <= rho.high:
        return f"reproduced (published {pub['spearman']:.4f} inside the interval)"
    return f"not reproduced: Δ = {rho.estimate - pub['spearman']:+.3f} (published {pub['spearman']:.4f})"


def _cost(row: dict) -> str:
    c = row["cost"]
    mean = row["cost_mean"] / 60
    text = f"{mean:.2f} min" + (f" [{c.low / 60:.2f}, {c.high / 60:.2f}]" if c is not None else "")
    return text + (" (goal ≤ 8 min: met)" if row["cost_mean"] <= COST_GOAL_S else " (goal ≤ 8 min: missed)")


def _recipe_text(values: dict | None) -> str:
    if not values:
        return "?"
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


HOW_TO_READ = [
    "## How to read these numbers", "",
    "- Proxy top-1: the architecture's best test accuracy (%) over the recipe's epochs (or the last, "
    "as the spec says), averaged over seeds; ground truth: its accuracy after full training, from "
    "the authors' sheet (original CIFAR-10; the proxies here train on the shipped copy).",
    f"- ρ / τ: Spearman and Kendall τ-b rank correlations over the architectures, with {LEVEL:.0%} "
    "percentile-bootstrap intervals (10,000 resamples of architectures, fixed seed); n = architectures.",
    "- Published ρ: the authors' number for the named recipe over their 100 architectures; "
    "*reproduced* means it lies inside this row's interval, which a small sample makes wide.",
    f"- Cost: seconds of training plus per-epoch scoring per network, mean and {LEVEL:.0%} t interval "
    "over trainings, on the device shown; the published GPU-hours are on a V100 / 2080Ti and are not "
    "comparable with it.", ""]


def estimate_board(group: str, records: list[Record], all_records: list[Record], index: dict | None) -> str:
    searches = [r for r in records if is_search_record(r)]
    searches_with = [r for r in records if is_estimator_search(r)]
    rows = estimate_rows([r for r in records if not (is_search_record(r) or is_estimator_search(r))])
    lines = [f"# Performance estimation: {group}", "",
             "Cheap training recipes scored by how well they rank architectures of known fully trained "
             "CIFAR-10 accuracy (Zheng et al., CVPR 2020). Generated by `qsrbench leaderboard` from `results/`.",
             "", "## Recipes", ""]
    lines += [table([[x["tier"], f"{x['spec']} v{x['version']}", x["recipe"] or "custom", len(x["archs"]),
                      ", ".join(x["seeds"]), _ci(x["rho"]), _ci(x["tau"]), _status(x), _cost(x), x["device"]]
                     for x in rows],
                    ["Tier", "Spec", "Recipe", "n", "Seeds", "Spearman ρ [95 % CI]", "Kendall τ [95 % CI]",
                     "Published ρ", "Cost per network", "Device"]), ""]
    for x in rows:
        pub = x["published"]
        lines += [f"### {x['spec']} v{x['version']} ({x['tier']})", "",
                  f"Recipe: {_recipe_text(x['values'])}." + (
                      f" Published: ρ {pub['spearman']:.4f}, {pub['gpu_hours_per_network']:g} GPU-hours per network."
                      if pub else ""), "",
                  table([[a, f"{p:.2f}", f"{t:.2f}"] for a, p, t in zip(x["archs"], x["proxy"], x["truth"])],
                        ["Architecture", "Proxy top-1 (%)", "Ground truth (%)"]), ""]
    lines += recipe_search_section(searches, rows, _ci)
    lines += estimator_search_section(searches_with)
    lines += HOW_TO_READ
    lines += environments(records, device=lambda r: r.extra.get("device", "?"))
    lines += history(all_records, {x["spec"] for x in rows}, index)
    return "\n".join(lines).rstrip() + "\n"
