"""The NAS leaderboard page (``leaderboards/nas_cifar10.md``): one row per spec, seeds aggregated.

* Rows: top-1 test accuracy over the seeds (mean, sample std, Student-t interval), params and
  MACs of the final network (32x32 input), search seconds, and the ratio of the search time to
  DARTS's in the same tier on the same device with its interval (:mod:`qsrbench.stats`). Within a
  tier, methods whose accuracy intervals overlap are listed as *not distinguishable*.
* Published claims (the specs' ``expected``, usually the ``full`` tier) with the papers' ±,
  checked against full-tier records when they exist.
* Search cost: a paper's GPU-days are only comparable to DARTS's on the same GPU, so the claim is
  turned into a ratio to DARTS's claim and compared with the measured ratio of every tier where
  DARTS ran on the same device, within a stated band (``COST_BAND``); "not comparable" otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from .claims import check_claims
from .registry import RegistryError, methods
from .leaderboard import TIER_ORDER, environments, history, human, table
from .stats import LEVEL, Interval, detectable_difference, overlap, ratio_interval, t_interval, welch_interval
from .store import Record

__all__ = ["is_nas_group", "nas_board", "method_page", "is_variant", "COST_BAND", "cost_rows", "tier_rows", "twin_section"]

VARIANTS = {"jpeg75": "CIFAR-10 JPEG q75 copy (lossy; accuracies differ slightly from the original)",
            "original": "CIFAR-10 (original binary release)"}
COST_BAND = 2.0  # a measured cost ratio within x1/2 .. x2 of the claimed ratio agrees
BASELINE = "darts"  # the papers state search costs against DARTS (first order)
RANDOM = "random-search"  # the accuracy baseline: a random genotype with the same final training


def is_nas_group(records: list[Record]) -> bool:
    return bool(records) and all("top1" in r.metrics for r in records)


def _device(r: Record) -> str:
    return r.extra.get("device", r.env.get("device", "?"))


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(i: Interval, digits: int = 2) -> str:
    if math.isinf(i.low):
        return "— (one seed)"
    return f"[{i.low:.{digits}f}, {i.high:.{digits}f}]"


def tier_rows(records: list[Record]) -> list[dict]:
    """One dict per (tier, spec, version): its records, device, accuracy and search-time stats."""
    by_spec: dict[tuple, list[Record]] = defaultdict(list)
    for r in records:
        by_spec[(r.tier, r.spec, r.spec_version)].append(r)
    rows = []
    for (tier, spec, version), rs in by_spec.items():
        rs = sorted(rs, key=lambda r: r.variant or "")
        rows.append({"tier": tier, "spec": spec, "version": version, "records": rs,
                     "method": rs[0].method, "device": _device(rs[0]),
                     "acc": t_interval([r.metrics["top1"] for r in rs]),
                     "search": [r.metrics["search_s"] for r in rs if "search_s" in r.metrics]})
    for row in rows:
        base = next((b for b in rows if b["tier"] == row["tier"] and b["device"] == row["device"]
                     and b["method"] == BASELINE), None)
        row["ratio"] = (ratio_interval(row["search"], base["search"])
                        if base and row["search"] and base["search"] else None)
        row["same"] = sorted(o["method"] for o in rows if o is not row and o["tier"] == row["tier"]
                             and overlap(o["acc"], row["acc"]))
    return sorted(rows, key=lambda x: (TIER_ORDER.get(x["tier"], 3), x["spec"]))


def _results_table(rows: list[dict]) -> list[str]:
    out = []
    for x in rows:
        first, acc = x["records"][0], x["acc"]
        accs = [r.metrics["top1"] for r in x["records"]]
        std = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        ratio = "—" if x["ratio"] is None else (
            f"{x['ratio'].estimate:.3f}" + ("" if math.isinf(x["ratio"].low) else
                                             f" [{x['ratio'].low:.3f}, {x['ratio'].high:.3f}]"))
        passes = f"{first.extra.get('forward_passes', '?')}/{first.extra.get('backward_passes', '?')}"
        searched = first.extra.get("search_images", "?") if first.extra.get("search_epochs") else 0
        images = (f"{searched}/{first.extra.get('final_train_images', '?')}"
                  f"/{first.extra.get('test_images', '?')}")  # no search epochs: no search images
        search = sum(x["search"]) / len(x["search"]) if x["search"] else None
        out.append([first.method, x["tier"], f"{x['spec']} v{x['version']}", f"{acc.estimate:.2f}{std}",
                    _ci(acc), len(x["records"]), ", ".join(x["same"]) or "—", human(first.params),
                    human(first.macs), _fmt(search, 1), ratio, passes, x["device"],
                    first.extra.get("data_variant", "?"), images])
    return [table(out, ["Method", "Tier", "Spec", "Top-1 % ↑ (mean ± std)", f"{LEVEL:.0%} CI", "Seeds",
                        "Not distinguishable from", "Params", "MACs", "Search s ↓",
                        f"× {BASELINE.upper()} [{LEVEL:.0%} CI]", "Passes", "Device", "Data", "Images"]), ""]


def _published(index: dict | None, group: str, method: str | None = None) -> list[dict]:
    out = []
    for (spec, version), info in sorted((index or {}).items()):
        if info.get("leaderboard") != group or method not in (None, info["method"]):
            continue
        for claims in info["claims"].values():
            for c in claims:
                if c.get("kind") == "published":
                    out.append({**c, "spec": spec, "version": version, "method": info["method"]})
    return out


def cost_rows(rows: list[dict], published: list[dict]) -> list[list[str]]:
    """Claimed cost ratio to DARTS vs the measured ratio in each tier (same device only)."""
    def per_run(p: dict) -> float | None:  # a published cost can cover several searches
        cost = p["metrics"].get("search_gpu_days")
        return None if cost is None else cost / p.get("covers_runs", 1)

    base_claim = next((per_run(p) for p in published if p["method"] == BASELINE and per_run(p)), None)
    out = []
    for p in sorted(published, key=lambda p: p["method"]):
        cost = per_run(p)
        if cost is None or p["method"] == BASELINE or not base_claim:
            continue
        claimed = cost / base_claim
        mine = [x for x in rows if x["method"] == p["method"]]
        if not mine:
            out.append([p["method"], f"{cost:g}", f"{claimed:.3f}", "—", "—", "—", "—", "no record"])
        for x in mine:
            r = x["ratio"]
            if r is None:
                status = f"not comparable: no {BASELINE} search on {x['device']} in the {x['tier']} tier"
                out.append([p["method"], f"{cost:g}", f"{claimed:.3f}", x["tier"], x["device"], "—", "—", status])
                continue
            factor = r.estimate / claimed
            within = 1 / COST_BAND <= factor <= COST_BAND
            status = "within band" if within else "outside band"
            out.append([p["method"], f"{cost:g}", f"{claimed:.3f}", x["tier"], x["device"],
                        r.fmt(3) if not math.isinf(r.low) else f"{r.estimate:.3f}", f"×{factor:.2f}", status])
    return out


def tier_notes(rows: list[dict]) -> list[str]:
    """What each tier can show: its seeds, the spread of top-1 over seeds, the smallest
    difference its intervals resolve, and each method against random genotypes."""
    lines = ["## What each tier can show", ""]
    for tier in sorted({x["tier"] for x in rows}, key=lambda t: TIER_ORDER.get(t, 3)):
        mine = [x for x in rows if x["tier"] == tier]
        seeds = min(len(x["records"]) for x in mine)
        stds = [statistics.stdev([r.metrics["top1"] for r in x["records"]]) for x in mine
                if len(x["records"]) > 1]
        test = max(x["records"][0].extra.get("test_images", 0) for x in mine)
        if not stds:
            lines += [f"- `{tier}`: one seed per method, {test:,} test images: no interval, so no "
                      "method can be told from another; it checks that the pipeline runs and learns.", ""]
            continue
        s = math.sqrt(sum(v * v for v in stds) / len(stds))
        lines += [f"- `{tier}`: {seeds} seeds, {test:,} test images; top-1 varies by {s:.2f} points "
                  f"(std over seeds, pooled over methods), so two methods whose means differ by less "
                  f"than about {detectable_difference(s, seeds):.2f} points are not told apart "
                  f"({LEVEL:.0%}, two-sample t)."]
        base = next((x for x in mine if x["method"] == RANDOM), None)
        if base is not None:
            for x in mine:
                if x is base:
                    continue
                d = welch_interval([r.metrics["top1"] for r in x["records"]],
                                   [r.metrics["top1"] for r in base["records"]])
                verdict = "not distinguishable from" if d.contains(0.0) else (
                    "better than" if d.low > 0 else "worse than")
                lines.append(f"  - {x['method']}: {d.fmt(2, signed=True)} points against random "
                             f"genotypes: {verdict} random search on this tier.")
        lines.append("")
    return lines


def twin_section(rows: list[dict]) -> list[str]:
    """Rows whose records carry a full-precision twin of their (binarized) final network
    (``extra["fp_twin"]``): top-1 of both, the paired difference over seeds with its t interval,
    and the BitOps of the binarized network against the twin's (its MACs at 32 x 32 bits)."""
    out = []
    for x in rows:
        pairs = [(r.metrics["top1"], r.extra["fp_twin"]["top1"]) for r in x["records"] if "fp_twin" in r.extra]
        if not pairs:
            continue
        first = x["records"][0]
        d = t_interval([b - f for b, f in pairs])
        fp_bitops = first.macs * 32 * 32 if first.macs else None
        share = f"{first.bitops / fp_bitops:.3f}" if first.bitops and fp_bitops else "—"
        out.append([x["tier"], f"`{x['spec']}` v{x['version']}", str(len(pairs)),
                    _fmt(statistics.mean(b for b, _ in pairs)), _fmt(statistics.mean(f for _, f in pairs)),
                    f"{d.estimate:+.2f} {_ci(d)}", share])
    if not out:
        return []
    return ["## Binarized final networks against their full-precision twins", "",
            "The derived genotype trained twice with the same final training: binarized as searched "
            "and in full precision. Δ: binarized − FP top-1 (points), mean over seeds with its "
            f"{LEVEL:.0%} t interval; BitOps share: the binarized network's BitOps over the FP "
            "twin's (MACs × 32 × 32), one 32x32 image.", "",
            table(out, ["Tier", "Spec", "Seeds", "Binarized top-1 %", "FP twin top-1 %", "Δ [interval]",
                        "BitOps share"]), ""]


def _claims_section(records: list[Record], index: dict | None, group: str, rows: list[dict],
                    method: str | None = None) -> list[str]:
    published = _published(index, group, method)
    if not published:
        return []
    ptable = []
    for p in sorted(published, key=lambda p: (p["method"], p["spec"])):
        m, pm = p["metrics"], p.get("plus_minus", {})
        err = _fmt(m.get("error")) + (f" ± {pm['error']:g}" if "error" in pm else "")
        mine = [r for r in records if (r.spec, r.spec_version) == (p["spec"], p["version"])]
        checks = [c for r in mine for c in check_claims(r, [p]) if c.metric == "error"]
        if mine:
            meas = t_interval([r.metrics["error"] for r in mine])
            band = pm.get("error", 0.0)
            agree = overlap(meas, Interval(m["error"], m["error"] - band, m["error"] + band, 0))
            status = (f"{meas.estimate:.2f} {_ci(meas)}; "
                      + ("reproduced" if all(c.reproduced for c in checks) else "NOT reproduced")
                      + ("; intervals overlap" if agree else "; intervals apart"))
        else:
            status = "not run (full tier)"
        note = f"; note: {p['note']}" if p.get("note") else ""
        ptable.append([p["method"], p["spec"], err, _fmt(m.get("search_gpu_days"), 4), status,
                       f"{p['source']}; {p['table']}; read from {p['read_from']}{note}"])
    lines = ["## Published claims", "",
             "The papers' CIFAR-10 test error (%, ± as published: the spread over their runs, see each "
             "note for what was repeated) and search cost (GPU-days on each paper's own GPU), with the "
             "full-tier measurement where one exists (mean over seeds, t interval, and whether it is "
             "within tolerance).", "",
             table(ptable, ["Method", "Spec", "Error % ↓", "GPU-days ↓", "Measured (full tier)", "Source"]), ""]
    costs = cost_rows(rows, published)
    if costs:
        lines += ["## Search cost against the claims", "",
                  f"GPU-days differ between the papers' GPUs, so each claim (per search: a published cost "
                  f"that covers several searches is divided by their number) is compared as a ratio to "
                  f"{BASELINE.upper()}'s claim, against the measured ratio of search times to "
                  f"{BASELINE.upper()} in the same tier on the same device. Band: the measured ratio "
                  f"within ×1/{COST_BAND:g} to ×{COST_BAND:g} of the claimed one. Tiers other than "
                  "`full` change batch sizes, images and epochs, so a ratio outside the band there "
                  "says how the method's speed-up behaves at that size, not that the paper is wrong.", "",
                  table(costs, ["Method", "Claimed GPU-days", f"Claimed × {BASELINE.upper()}", "Tier", "Device",
                                f"Measured × {BASELINE.upper()} [{LEVEL:.0%} CI]", "Measured / claimed", "Status"]), ""]
    return lines


HOW_TO_READ = [
    "## How to read these numbers", "",
    f"- Top-1: test accuracy (%) of the derived genotype's network after the spec's final training; "
    f"mean ± sample std over seeds and the {LEVEL:.0%} Student-t interval of the mean.",
    "- Not distinguishable from: methods of the same tier whose accuracy intervals overlap this "
    "row's; such rows do not show that one method finds better architectures than the other.",
    f"- × {BASELINE.upper()}: mean search time over the mean of {BASELINE.upper()}'s in the same tier "
    f"on the same device, with a {LEVEL:.0%} interval (delta method on the log ratio, Welch df).",
    "- Passes: supernet forward/backward calls. Images: search / final-training / test images.", ""]


def nas_board(group: str, records: list[Record], all_records: list[Record], index: dict | None) -> str:
    rows = tier_rows(records)
    variants = sorted({r.extra.get("data_variant", "?") for r in records})
    lines = ["# NAS on CIFAR-10 leaderboard", "",
             "Generated by `qsrbench leaderboard` from the results store; do not edit by hand.", ""]
    lines += HOW_TO_READ
    lines += [f"Data: {VARIANTS.get(v, v)}." for v in variants] + [""]
    if all(r.extra.get("device_type", "cpu") == "cpu" for r in records):
        lines += ["All rows ran on a CPU: the `small` tier here is CPU-sized (a proxy search and a "
                  "short final training, so accuracies are far below the papers'); the GPU small tier "
                  "(`*-small-gpu` specs) is ready for a CUDA device and not yet recorded.", ""]
    lines += _results_table(rows)
    lines += tier_notes(rows)
    lines += twin_section(rows)
    lines += _claims_section(records, index, group, rows)
    lines += history(all_records, {r.spec for r in records}, index)
    lines += environments(records, _device)
    return "\n".join(lines)


def is_variant(name: str, method: str) -> bool:
    """Whether method ``name`` is ``method`` or a registered subclass of it (a variant that changes
    one part of its algorithm, e.g. another binarizer); a name the registry does not know is no variant."""
    if name == method:
        return True
    try:
        return issubclass(methods.get(name), methods.get(method))
    except RegistryError:
        return False


def method_page(method: str, group: str, records: list[Record], all_records: list[Record],
                index: dict | None, timing: list[str]) -> str:
    """A page for one method of a NAS group (``leaderboards/<method>.md``): the side-by-side
    timings given (:mod:`qsrbench.bench_board`), the rows of the method and of its variants
    (:func:`is_variant`) of the group's table (ratios still against the group's baseline), their
    binarized-vs-twin section and their published claims.
    The group's own page keeps every row; this page repeats the method's."""
    rows = [x for x in tier_rows(records) if is_variant(x["method"], method)]
    mine = [r for x in rows for r in x["records"]]
    lines = [f"# {method} leaderboard", "",
             "Generated by `qsrbench leaderboard` from the results store and the committed benchmark "
             f"runs; do not edit by hand. Every row of this method on the `{group}` page, with what "
             "only this method claims.", ""]
    lines += timing
    if rows:
        lines += ["## Recorded runs", ""] + HOW_TO_READ[2:] + _results_table(rows)
        lines += twin_section(rows)
    lines += _claims_section(mine, index, group, rows, method)
    if mine:
        lines += environments(mine, _device)
    return "\n".join(lines)
