"""Side-by-side timing sections for leaderboard pages, from committed pytest-benchmark runs.

A benchmark in ``suites/`` that times two things alternately in one run on one device (so the
ratio of their times is free of machine-to-machine drift) joins a page by writing, into its
pytest-benchmark ``extra_info``:

* ``"board"``: the page (``leaderboards/<board>.md``);
* ``"compare"``: ``{"labels": [a, b], "seconds": {a: [...], b: [...]}, "what": "..."}``, one time
  per round and label, in seconds; ``a`` is the subject (the page's method), ``b`` the reference;
* optionally ``"claim"``: ``{"max_ratio": r, "text": "...", "source": "..."}``, a published speed
  claim read as "time(a) / time(b) <= r" (the text says how the paper's words were read);
* optionally ``"goal"``: the same fields for a goal this project set itself (an issue), judged
  the same way but never shown as a claim;
* optionally ``"notes"``: a list of sentences printed under the section (e.g. the achieved
  fraction of the machine's peak and how the peak was derived).

A benchmark that times many models instead writes ``"latency_table"`` (no ``"compare"``):
``{"rows": [{"model", "scale", "backend", "macs", "bitops", "seconds": [...]}, ...], "what"}``
(optionally per row ``"scored_by"``: the name of the spec whose record scores that backend, or
null; optionally ``"skipped"``: ``[{"model", "scale", "backend", "reason"}]``), rendered with BitOps against latency by :mod:`qsrbench.latency_board`.

The committed JSON files live in ``results/benchmarks/`` (the runs stamp machine, commit and date;
:func:`load_benchmarks`). The ratio is recomputed here from the per-round seconds
(:func:`qsrbench.stats.ratio_interval`: ratio of means, delta-method interval on the log scale,
Welch df), and the claim is "met" when the whole interval is at or below ``max_ratio``, "not met"
when it is all above, otherwise "not decided" (the interval straddles it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import DataError
from .leaderboard import table
from .stats import LEVEL, ratio_interval

__all__ = ["load_benchmarks", "timing_sections", "claim_verdict"]


def load_benchmarks(folder: Path) -> list[dict]:
    """Every benchmark of every pytest-benchmark JSON file in ``folder`` that names a board, with
    its file name, machine and commit attached; a malformed file is a one-line :class:`DataError`."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            benches = data["benchmarks"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a pytest-benchmark JSON file ({exc})") from None
        for b in benches:
            info = b.get("extra_info") or {}
            if "board" not in info:
                continue
            if "latency_table" in info:
                _check_latency_table(path, info)
            else:
                _check_compare(path, info)
            out.append({"file": path.name, "name": b.get("name", "?"), "info": info,
                        "machine": data.get("machine_info", {}), "commit": data.get("commit_info", {}),
                        "datetime": data.get("datetime", "?")})
    return out


def _positive_seconds(times) -> bool:
    """True for a non-empty list of positive numbers (a benchmark's timed rounds, in seconds)."""
    return isinstance(times, list) and bool(times) and all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in times)


def _check_compare(path: Path, info: dict) -> None:
    cmp = info.get("compare")
    if not isinstance(cmp, dict) or len(cmp.get("labels", [])) != 2:
        raise DataError(f"{path}: extra_info.compare must hold two 'labels'")
    for label in cmp["labels"]:
        if not _positive_seconds(cmp.get("seconds", {}).get(label)):
            raise DataError(f"{path}: extra_info.compare.seconds.{label} must be positive seconds")


def _check_latency_table(path: Path, info: dict) -> None:
    rows = (info.get("latency_table") or {}).get("rows")
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{path}: extra_info.latency_table.rows must be a non-empty list")
    for i, row in enumerate(rows):
        missing = {"model", "scale", "backend", "macs", "bitops", "seconds"} - set(row)
        if missing or not _positive_seconds(row["seconds"]):
            raise DataError(f"{path}: extra_info.latency_table.rows[{i}] needs model, scale, backend, macs, "
                            "bitops and positive seconds")
        if not isinstance(row.get("scored_by"), (str, type(None))):
            raise DataError(f"{path}: extra_info.latency_table.rows[{i}].scored_by must be a spec name or null")
    for i, skip in enumerate(info["latency_table"].get("skipped", [])):
        if not isinstance(skip, dict) or {"model", "scale", "backend", "reason"} - set(skip):
            raise DataError(f"{path}: extra_info.latency_table.skipped[{i}] needs model, scale, backend and reason")


def claim_verdict(low: float, high: float, max_ratio: float) -> str:
    """"met", "not met" or "not decided" for the claim time ratio <= ``max_ratio``."""
    if high <= max_ratio:
        return "met"
    if low > max_ratio:
        return "not met"
    return "not decided (the interval contains the claimed ratio)"


def _section(b: dict) -> list[str]:
    info, cmp = b["info"], b["info"]["compare"]
    a, ref = cmp["labels"]
    sa, sb = cmp["seconds"][a], cmp["seconds"][ref]
    r = ratio_interval(sa, sb)
    interval = "— (one round)" if math.isinf(r.low) else f"[{r.low:.3f}, {r.high:.3f}]"
    cpu = b["machine"].get("cpu", {}).get("brand_raw", "?")
    commit = str(b["commit"].get("id", "?"))[:7]
    unit, k = ("ms", 1e3) if max(sa + sb) < 1 else ("s", 1.0)
    rows = [[str(i + 1), f"{x * k:.2f}", f"{y * k:.2f}"] for i, (x, y) in enumerate(zip(sa, sb))]
    lines = [f"### {a} against {ref}: `{b['name']}`", "",
             f"{cmp.get('what', '')}".strip(), "",
             f"Run: `results/benchmarks/{b['file']}`, {cpu}, {info.get('threads', '?')} threads, "
             f"commit {commit}, {b['datetime'][:16]}.", "",
             table(rows, ["Round", f"{a} ({unit})", f"{ref} ({unit})"]), "",
             f"Time ratio {a} / {ref}: **{r.estimate:.3f}** {interval} ({LEVEL:.0%} interval over "
             f"{len(sa)} rounds).", ""]
    for key, label in (("claim", "Claim"), ("goal", "Goal")):
        target = info.get(key)
        if target:
            verdict = (claim_verdict(r.low, r.high, target["max_ratio"]) if not math.isinf(r.low)
                       else "not decided (one round: no interval)")
            lines += [f"{label}: {target['text']} (read as a time ratio ≤ {target['max_ratio']:g}; "
                      f"{target['source']}): **{verdict}**.", ""]
    notes = info.get("notes") or []
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    return lines


def timing_sections(benchmarks: list[dict], board: str) -> list[str]:
    """The markdown of every benchmark of ``board`` (empty when there is none)."""
    mine = [b for b in benchmarks if b["info"]["board"] == board and "compare" in b["info"]]
    if not mine:
        return []
    lines = ["## Timed side by side (one run, one device)", "",
             "Both are timed alternately in every round of one benchmark run, so the ratio is free of "
             "drift between machines or sittings; these are benchmarks, not timed assertions.", ""]
    for b in mine:
        lines += _section(b)
    return lines
