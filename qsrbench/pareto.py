"""PSNR-BitOps front of searched SR networks against quantized fixed architectures.

Points (one set and scale, Set5 x4 by default; current records only, :mod:`qsrbench.leaderboard`):

* **searched**: every record (beyond the smoke tier, as every point) with ``extra.search`` (a network found by a search method, derived
  and retrained), labelled by spec and search mode;
* **fixed**: the quantized and full-precision records of the zoo's fixed architectures from the
  other groups (post-training and quantization-aware), per model and method the best variant
  per weight/activation bit-width, and every mixed-precision allocation of a fixed model as its
  own point (``extra.mixed_precision``); the FP point is the checkpoint's 32/32 record.

The front is the set of points no other point dominates (another point with BitOps ≤ and PSNR ≥,
one of them strictly). BitOps: the records' (a 320x180 LR input, :mod:`qsrbench.bitops`); PSNR
in dB on the records' protocols, which the table names (a searched network is scored on its spec's
protocol, a checkpoint on its own: they can differ by a few hundredths of a dB on the Y channel).
"""

from __future__ import annotations

from dataclasses import dataclass

from .leaderboard import bits_label, current_groups, delta_cell, mixed_precision, quantized, table, trained
from .store import Record

__all__ = ["ParetoPoint", "pareto_points", "front", "pareto_section", "pareto_plots", "pareto_links", "PARETO_NAME",
           "dominance_rows", "dominance_section"]

PARETO_NAME = "search_pareto_{dataset}_x{scale}.png"


@dataclass(frozen=True)
class ParetoPoint:
    kind: str  # "searched" or "fixed"
    series: str  # the line / marker group: "<spec> (<mode>)" or "<model> <method>"
    label: str  # the point's own tag: bits
    bitops: int
    psnr: float
    record: Record


def _current(records: list[Record]) -> list[Record]:
    """Current records beyond the smoke tier (a smoke run's network is not a result)."""
    return [r for rs in current_groups(records).values() for r in rs if r.tier != "smoke"]


def _searched(r: Record) -> bool:
    return bool((r.extra or {}).get("search", {}).get("architecture"))


def _mixed_label(r: Record) -> str:
    """``"mixed, mean b"`` for a mixed-precision record (each allocation its own point), else ""."""
    return bits_label(r) if mixed_precision(r) else ""


def pareto_points(records: list[Record], dataset: str = "Set5", scale: int = 4) -> list[ParetoPoint]:
    """Every searched point and the best fixed-architecture point per (model, method, bits)."""
    every = [r for r in _current(records) if r.dataset == dataset and r.scale == scale and r.bitops
             and "psnr" in r.metrics]
    points = [ParetoPoint("searched", f"{r.spec} ({r.variant or r.method})", bits_label(r), r.bitops,
                          r.metrics["psnr"], r) for r in every if _searched(r)]
    best: dict[tuple, Record] = {}
    for r in every:
        if _searched(r) or not r.model or not (r.checkpoint_sha256 or trained(r)):
            continue
        method = "FP" if not quantized(r) and not trained(r) else r.method
        key = (r.model, method, r.bits.get("weight"), r.bits.get("activation"), _mixed_label(r))
        if key not in best or r.metrics["psnr"] > best[key].metrics["psnr"]:
            best[key] = r
    points += [ParetoPoint("fixed", f"{m} {method}", mixed or f"W{w}A{a}", r.bitops, r.metrics["psnr"], r)
               for (m, method, w, a, mixed), r in sorted(best.items(), key=lambda kv: str(kv[0]))]
    return points


def front(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """The non-dominated points, in increasing BitOps."""
    out = []
    for p in points:
        dominated = any(q.bitops <= p.bitops and q.psnr >= p.psnr and (q.bitops < p.bitops or q.psnr > p.psnr)
                        for q in points)
        if not dominated:
            out.append(p)
    return sorted(out, key=lambda p: (p.bitops, -p.psnr))


def pareto_section(records: list[Record], dataset: str = "Set5", scale: int = 4) -> list[str]:
    """The page's table of the front (empty without searched points)."""
    points = pareto_points(records, dataset, scale)
    if not any(p.kind == "searched" for p in points):
        return []
    from .sr_board import protocol_label

    on = front(points)
    rows = [[p.kind, p.series, p.label, f"{p.bitops:.3e}", f"{p.psnr:.2f}", "yes" if p in on else "",
             protocol_label(p.record.protocol)] for p in sorted(points, key=lambda p: (p.bitops, -p.psnr))]
    return [f"## PSNR-BitOps front, {dataset} ×{scale}", "",
            "Searched networks against the quantized and FP fixed architectures of the other leaderboards (best "
            "variant per model, method and bits); *front*: no other point has fewer or equal BitOps and a higher "
            "or equal PSNR. BitOps for a 320x180 LR input.", "",
            table(rows, ["Kind", "Series", "Bits", "BitOps", "PSNR ↑", "Front", "Protocol"]), ""]


def _same_job_on(r: Record, dataset: str, pool: list[Record]) -> Record | None:
    """``r``'s twin on ``dataset``: same spec and variant; for a fixed checkpoint (a model), else
    same model, method, bits and variant. A searched network (no model) has only its own spec's."""
    same = [q for q in pool if q.dataset == dataset and q.scale == r.scale and q.variant == r.variant
            and q.method == r.method and q.model == r.model and q.bits == r.bits]
    own = next((q for q in same if q.spec == r.spec), None)
    if own is not None or r.model is None:
        return own
    return same[0] if same else None


def dominance_rows(records: list[Record], sets: tuple[str, str] = ("Set5", "Urban100"), scale: int = 4,
                   bits: int = 4) -> list[list[str]]:
    """Each searched network against each uniform ``bits``-bit fixed point of :func:`pareto_points`
    on ``sets[0]``: BitOps ratio, paired PSNR Δ [95% interval] on both sets, and whether it
    strictly dominates (:func:`_verdict`: BitOps ≤ and a PSNR higher on both sets beyond the
    paired bootstrap interval). Δ marked ≈ when its interval holds 0."""
    from .train_board import paired_psnr

    pool = _current(records)
    points = pareto_points(records, sets[0], scale)
    fixed = [p for p in points if p.kind == "fixed" and p.record.bits == {"weight": bits, "activation": bits}
             and not mixed_precision(p.record)]
    rows = []
    for s in (p for p in points if p.kind == "searched"):
        for f in fixed:
            deltas = [paired_psnr(a, b) if a and b else None for a, b in
                      ((s.record, f.record), *((_same_job_on(s.record, d, pool), _same_job_on(f.record, d, pool))
                                               for d in sets[1:]))]
            rows.append([s.series, f.series, f.label, f"{s.bitops / f.bitops:.3f}",
                         *(delta_cell(d) for d in deltas), _verdict(s.bitops <= f.bitops, deltas, sets)])
    return rows


def _verdict(cheaper: bool, deltas: list, sets: tuple[str, ...]) -> str:
    """Strict dominance read from paired differences: "no" where it costs more BitOps or a Δ is
    ≤ 0; "undecided" where a set is not measured; "within noise" where every Δ is positive but an
    interval holds 0; "yes" only where every interval lies above 0."""
    if not cheaper or any(d is not None and d.estimate <= 0 for d in deltas):
        return "no"
    missing = [name for name, d in zip(sets, deltas) if d is None]
    if missing:
        return f"undecided: {', '.join(missing)} not measured"
    return "within noise" if any(d.contains(0) for d in deltas) else "yes"


def dominance_section(records: list[Record], sets: tuple[str, str] = ("Set5", "Urban100"), scale: int = 4,
                      bits: int = 4) -> list[str]:
    """The page's dominance table (empty without searched points) and the goal's verdict."""
    rows = dominance_rows(records, sets, scale, bits)
    if not rows:
        return []
    met = any(r[-1] == "yes" for r in rows)
    open_ = any(r[-1].startswith("undecided") for r in rows)
    verdict = ("met" if met else "not decided: some comparisons lack a set" if open_ else "not met")
    return [f"## Searched networks against uniform {bits}-bit fixed models, ×{scale}", "",
            f"Goal (issue 17): at least one searched network strictly dominates a uniform {bits}-bit quantization "
            f"of a shipped fixed model, i.e. a higher PSNR on {' and '.join(sets)} ×{scale} at fewer or equal "
            f"BitOps. Δ: the searched network's PSNR minus the fixed one's, paired over the images, with its 95% "
            f"bootstrap interval (≈: the interval holds 0); the fixed model's {sets[1]} score is its twin record "
            f"(same spec and variant, else same model, method, bits and variant). *Within noise*: every Δ "
            f"positive but an interval holds 0, not counted as dominating. **Goal: {verdict}.**", "",
            table(rows, ["Searched", "Fixed", "Bits", "BitOps ratio", f"Δ {sets[0]} (dB)", f"Δ {sets[1]} (dB)",
                         "Dominates"]), ""]


def pareto_links(records: list[Record], dataset: str = "Set5", scale: int = 4) -> dict[str, list[str]]:
    """``{group: [png name]}`` for each group holding searched records at ``dataset`` x``scale``."""
    groups = {r.leaderboard for r in _current(records) if _searched(r) and r.dataset == dataset and r.scale == scale}
    return {g: [PARETO_NAME.format(dataset=dataset, scale=scale)] for g in sorted(groups)}


def pareto_plots(records: list[Record], dataset: str = "Set5", scale: int = 4) -> dict[str, bytes]:
    """``{png name: bytes}``: the front's plot (none without searched points); deterministic bytes."""
    from .plots import _png, _pyplot

    points = pareto_points(records, dataset, scale)
    if not any(p.kind == "searched" for p in points):
        return {}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    for series in sorted({p.series for p in points}):
        mine = sorted((p for p in points if p.series == series), key=lambda p: p.bitops)
        searched = mine[0].kind == "searched"
        ax.plot([p.bitops for p in mine], [p.psnr for p in mine], marker="*" if searched else "o",
                markersize=11 if searched else 5, linestyle="none" if searched else "-", label=series)
        for p in mine:
            ax.annotate(p.label, (p.bitops, p.psnr), textcoords="offset points", xytext=(3, 3), fontsize=6)
    on = front(points)
    ax.step([p.bitops for p in on], [p.psnr for p in on], where="post", color="black", linewidth=0.8,
            linestyle="--", label="front")
    ax.set_xscale("log")
    ax.set_xlabel("BitOps (320x180 LR input, log scale)")
    ax.set_ylabel(f"PSNR on {dataset} (dB, Y)")
    ax.set_title(f"Searched networks vs fixed architectures, {dataset} x{scale}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return {PARETO_NAME.format(dataset=dataset, scale=scale): _png(fig)}
