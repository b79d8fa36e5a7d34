"""BitOps held against measured latency: the latency page's table and rank correlations, from a
committed benchmark that writes ``extra_info["latency_table"]`` (:mod:`qsrbench.bench_board`).

Per model, scale and backend: MACs and BitOps of one LR input (:mod:`qsrbench.bitops`), the median
latency with its interquartile range over the rounds, and the speed-up BitOps predicts against the
one measured (fp32 eager as the reference). Spearman's ρ between BitOps and median latency, with
its bootstrap interval over the rows (:func:`qsrbench.stats.rank_correlation`): within each backend
(does BitOps rank models by speed?) and over all rows (does it rank backends too?).
"""

from __future__ import annotations

import numpy as np

from .leaderboard import human, table
from .plots import latency_plot_name, render_latency_vs_bitops
from .stats import LEVEL, rank_correlation

__all__ = ["latency_sections", "latency_plots"]

REFERENCE = "fp32 eager"
COMPILED = "fp32 compiled"  # the second reference of the goals, when the table has it


def _median_iqr(seconds: list[float]) -> tuple[float, float]:
    q1, med, q3 = np.quantile(np.asarray(seconds, np.float64), [0.25, 0.5, 0.75])
    return float(med), float(q3 - q1)


def _rho_line(label: str, rows: list[dict]) -> str:
    if len(rows) < 3:
        return f"- {label}: {len(rows)} rows, too few for a rank correlation."
    r = rank_correlation([row["bitops"] for row in rows], [_median_iqr(row["seconds"])[0] for row in rows])
    return (f"- {label}: Spearman ρ(BitOps, median latency) = **{r.estimate:.2f}** [{r.low:.2f}, {r.high:.2f}] "
            f"({LEVEL:.0%} bootstrap interval, n = {r.n}).")


def _speedup(base: dict | None, row: dict, median: float) -> str:
    return "—" if base is None or base is row else f"{_median_iqr(base['seconds'])[0] / median:.2f}x"


def _rows(rows: list[dict]) -> list[list[str]]:
    ref = {(r["model"], r["scale"]): r for r in rows if r["backend"] == REFERENCE}
    compiled = {(r["model"], r["scale"]): r for r in rows if r["backend"] == COMPILED}
    out = []
    for r in sorted(rows, key=lambda r: (r["model"], r["scale"], r["backend"] != REFERENCE, r["backend"])):
        med, iqr = _median_iqr(r["seconds"])
        base = ref.get((r["model"], r["scale"]))
        predicted = "—" if base is None or r is base else f"{base['bitops'] / r['bitops']:.1f}x"
        line = [r["model"], f"×{r['scale']}", r["backend"], human(r["macs"]), human(r["bitops"]),
                f"{med * 1e3:.0f}", f"{iqr * 1e3:.0f}", predicted, _speedup(base, r, med)]
        out.append(line + ([_speedup(compiled.get((r["model"], r["scale"])), r, med)] if compiled else []))
    return out


def latency_sections(benchmarks: list[dict], board: str) -> list[str]:
    """Markdown of every latency-table benchmark of ``board`` (empty when there is none)."""
    lines = []
    for b in (b for b in benchmarks if b["info"]["board"] == board and "latency_table" in b["info"]):
        t, info = b["info"]["latency_table"], b["info"]
        rows = t["rows"]
        backends = sorted({r["backend"] for r in rows})
        cpu = b["machine"].get("cpu", {}).get("brand_raw", "?")
        extra = [f"measured vs {COMPILED}"] if any(r["backend"] == COMPILED for r in rows) else []
        lines += ["## BitOps against measured latency", "", t.get("what", ""), "",
                  f"Run: `results/benchmarks/{b['file']}` (`{b['name']}`), {cpu}, {info.get('threads', '?')} threads, "
                  f"commit {str(b['commit'].get('id', '?'))[:7]}, {b['datetime'][:16]}.", "",
                  f"![{latency_plot_name(board)}]({latency_plot_name(board)})", "",
                  table(_rows(rows), ["Model", "Scale", "Backend", "MACs", "BitOps", "Median (ms)", "IQR (ms)",
                                      f"Speed-up vs {REFERENCE}: BitOps predicts", "measured", *extra]), ""]
        lines += [f"- Not timed: {s['model']} ×{s['scale']} on {s['backend']}: {s['reason']}"
                  for s in t.get("skipped", [])]
        lines += [_rho_line(f"within {k}", [r for r in rows if r["backend"] == k]) for k in backends]
        lines += [_rho_line("all rows (models x backends)", rows), ""]
    return lines


def latency_plots(benchmarks: list[dict]) -> dict[str, bytes]:
    """``{png name: bytes}``: the latency-vs-BitOps plot of each board's latency table (the
    newest file's, when several)."""
    out = {}
    for b in benchmarks:
        if "latency_table" in b["info"]:
            board = b["info"]["board"]
            rows = [{**r, "median_s": _median_iqr(r["seconds"])[0]} for r in b["info"]["latency_table"]["rows"]]
            out[latency_plot_name(board)] = render_latency_vs_bitops(
                rows, f"{board}: median latency vs BitOps ({b['machine'].get('cpu', {}).get('brand_raw', '?')})")
    return out
