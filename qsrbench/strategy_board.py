"""Leaderboard section of per-layer quantization-strategy searches (records with
``extra.strategies``): the searched variant against the best fixed strategy pair of the same spec,
set and scale, and what the search chose.

Record convention (written by the strategy-search method): ``extra.strategies.layers`` maps each
searched layer to its chosen ``activation`` and ``weight`` strategy; ``extra.strategies.counts``
counts the chosen pairs; the searched job's variant is ``"search"``, the baselines' variants
``"fixed <activation>/<weight>"`` (one pair on every layer, calibrated the same way). Δ is the
searched PSNR minus the best baseline's (by mean PSNR on that set), paired over images, with its
bootstrap interval.
"""

from __future__ import annotations

from .leaderboard import delta_cell, table
from .stats import LEVEL
from .store import Record
from .train_board import paired_psnr

__all__ = ["strategy_sections"]

SEARCHED = "search"
GOAL_DB = 0.1  # issue 17: the searched strategies above the best single one by at least this much


def goal_verdict(d) -> str:
    """``met`` when the paired Δ is at least :data:`GOAL_DB` and its interval excludes 0."""
    if d is None:
        return "—"
    return "met" if d.estimate >= GOAL_DB and d.low > 0 else "not met"


def _rows(records: list[Record]) -> list[list[str]]:
    jobs: dict[tuple, list[Record]] = {}
    for r in records:
        jobs.setdefault((r.spec, r.spec_version, r.dataset, r.scale), []).append(r)
    rows = []
    for (spec, v, dataset, scale), rs in sorted(jobs.items(), key=lambda kv: (kv[0][3] or 0, kv[0][2], kv[0][0])):
        searched = next((r for r in rs if r.variant == SEARCHED), None)
        fixed = [r for r in rs if r.variant != SEARCHED and "psnr" in r.metrics]
        if searched is None or not fixed or "psnr" not in searched.metrics:
            continue
        best = max(fixed, key=lambda r: r.metrics["psnr"])
        d = paired_psnr(searched, best)
        delta = delta_cell(d)
        counts = searched.extra["strategies"].get("counts", {})
        top = ", ".join(f"{k} ×{n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4])
        rows.append([f"{spec} v{v}", searched.method, searched.model or "—",
                     f"W{searched.bits.get('weight')}A{searched.bits.get('activation')}", f"{dataset} ×{scale}",
                     f"{searched.metrics['psnr']:.2f}", f"{best.metrics['psnr']:.2f} ({best.variant})", delta,
                     goal_verdict(d), str(sum(counts.values())), top or "—"])
    return rows


def strategy_sections(records: list[Record]) -> list[str]:
    """Markdown lines of the section (empty without strategy-search records)."""
    mine = [r for r in records if (r.extra or {}).get("strategies", {}).get("layers")]
    rows = _rows(mine)
    if not rows:
        return []
    return ["## Searched strategies against the best single strategy", "",
            "Per model, bits, set and scale: the searched per-layer strategies against the best fixed "
            "(activation, weight) strategy pair of the same spec, both calibrated on the same patches; "
            f"Δ = searched − best fixed PSNR, paired over images ({LEVEL:.0%} bootstrap interval; ≈: "
            f"contains 0). Goal (issue 17): the searched strategies at least {GOAL_DB} dB above the best single "
            "strategy at equal bits, the interval excluding 0. Chosen pairs: the most frequent "
            "(activation/weight) pairs over the searched layers.", "",
            table(rows, ["Spec", "Method", "Model", "Bits", "Set", "Searched PSNR ↑", "Best fixed PSNR (pair)",
                         f"Δ [{LEVEL:.0%} CI]", f"≥ {GOAL_DB} dB", "Layers", "Chosen pairs (most frequent)"]), ""]
