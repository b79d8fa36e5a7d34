"""BitOps held against measured latency: the latency page's table and rank correlations, from a
committed benchmark that writes ``extra_info["latency_table"]`` (:mod:`qsrbench.bench_board`).

Per model, scale and backend: MACs and BitOps of one LR input (:mod:`qsrbench.bitops`), the median
latency with its interquartile range over the rounds, and the speed-up BitOps predicts against the
one measured (fp32 eager as the reference). Spearman's ρ between BitOps and median latency, with
its bootstrap interval over the rows (:func:`qsrbench.stats.rank_correlation`): within each backend
(does BitOps rank models by speed?) and over all rows (does it rank backends too?).

Accuracy: a row may name the spec whose record scores that backend on the real checkpoint
(``"scored_by"``; the timing itself runs random weights). Its Set5 PSNR at the row's scale is read
from the current records of the store: "—" where the row names none (the backend is not scored),
"no record" where the spec has not been run, "several records" where it has more than one there.
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


SCORED_ON = "Set5"


def _psnr_cell(row: dict, psnr: dict[tuple[str, int], float]) -> str:
    spec = row.get("scored_by")
    if spec is None:
        return "—"
    if (spec, row["scale"]) not in psnr:
        return "no record"
    value = psnr[(spec, row["scale"])]
    return "several records" if value is None else f"{value:.2f}"


def _rows(rows: list[dict], psnr: dict[tuple[str, int], float] | None = None) -> list[list[str]]:
    ref = {(r["model"], r["scale"]): r for r in rows if r["backend"] == REFERENCE}
    compiled = {(r["model"], r["scale"]): r for r in rows if r["backend"] == COMPILED}
    out = []
    for r in sorted(rows, key=lambda r: (r["model"], r["scale"], r["backend"] != REFERENCE, r["backend"])):
        med, iqr = _median_iqr(r["seconds"])
        base = ref.get((r["model"], r["scale"]))
        predicted = "—" if base is None or r is base else f"{base['bitops'] / r['bitops']:.1f}x"
        line = [r["model"], f"×{r['scale']}", r["backend"], human(r["macs"]), human(r["bitops"]),
                f"{med * 1e3:.0f}", f"{iqr * 1e3:.0f}", predicted, _speedup(base, r, med)]
        line += [_speedup(compiled.get((r["model"], r["scale"])), r, med)] if compiled else []
        out.append(line + ([_psnr_cell(r, psnr)] if psnr is not None else []))
    return out


def _scores(rows: list[dict], records) -> dict[tuple[str, int], float | None] | None:
    """``{(spec, scale): Set5 PSNR}`` of the current records (None where the spec has several
    records there: variants or seeds, none of which the row names), or None when no row names a
    spec (a table recorded before rows carried ``scored_by``: no accuracy column)."""
    if not any("scored_by" in r for r in rows):
        return None
    found: dict[tuple[str, int], list[float]] = {}
    for r in records or ():
        if r.dataset == SCORED_ON and "psnr" in r.metrics:
            found.setdefault((r.spec, r.scale), []).append(r.metrics["psnr"])
    return {k: v[0] if len(v) == 1 else None for k, v in found.items()}  # several variants or seeds: no one PSNR


def _scored_line(rows: list[dict]) -> str:
    by = {}
    for r in rows:
        by.setdefault(r["backend"], set()).add(r.get("scored_by") is not None)
    unscored = sorted(b for b, named in by.items() if True not in named)
    return (f"- {SCORED_ON} PSNR: the shipped checkpoint built as that backend builds it, from the store record of "
            "the spec the benchmark names for the row (the timing runs random weights; latency does not depend on "
            "them); — where no spec scores the row." + (f" Not scored on any model: {', '.join(unscored)}."
                                                          if unscored else ""))


def latency_sections(benchmarks: list[dict], board: str, records=None) -> list[str]:
    """Markdown of every latency-table benchmark of ``board`` (empty when there is none);
    ``records``: the store's current records, for the rows' Set5 PSNR."""
    lines = []
    for b in (b for b in benchmarks if b["info"]["board"] == board and "latency_table" in b["info"]):
        t, info = b["info"]["latency_table"], b["info"]
        rows = t["rows"]
        backends = sorted({r["backend"] for r in rows})
        cpu = b["machine"].get("cpu", {}).get("brand_raw", "?")
        extra = [f"measured vs {COMPILED}"] if any(r["backend"] == COMPILED for r in rows) else []
        psnr = _scores(rows, records)
        extra += [f"{SCORED_ON} PSNR (dB)"] if psnr is not None else []
        lines += ["## BitOps against measured latency", "", t.get("what", ""), "",
                  f"Run: `results/benchmarks/{b['file']}` (`{b['name']}`), {cpu}, {info.get('threads', '?')} threads, "
                  f"commit {str(b['commit'].get('id', '?'))[:7]}, {b['datetime'][:16]}.", "",
                  f"![{latency_plot_name(board)}]({latency_plot_name(board)})", "",
                  table(_rows(rows, psnr), ["Model", "Scale", "Backend", "MACs", "BitOps", "Median (ms)", "IQR (ms)",
                                      f"Speed-up vs {REFERENCE}: BitOps predicts", "measured", *extra]), ""]
        lines += [_scored_line(rows)] if psnr is not None else []
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
