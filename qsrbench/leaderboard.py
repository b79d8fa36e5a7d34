"""What every leaderboard page shares: the current records per group, history, environments,
tables, claim index, writing (the pages themselves: :mod:`qsrbench.boards`).

One file per ``leaderboard`` group (``leaderboards/<group>.md``): SR groups by
:mod:`qsrbench.sr_board`, NAS groups by :mod:`qsrbench.nas_board`. Only the newest record per key
and the highest version of each spec are shown, so versions never mix; the History section lists
every version the store holds with the reason of its bump, and whether the code that made the
records is today's (:mod:`qsrbench.provenance`). Claims come from the specs as they are now
(:func:`spec_index`), so a claim edited after its records were made shows as such. Output is
deterministic: the same store and specs give byte-identical markdown.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from tabulate import tabulate

from .errors import QsrbenchError
from .store import Record, latest

__all__ = ["write_leaderboards", "spec_index", "current_groups", "human", "delta_cell", "mixed_precision",
           "environments", "history", "current_code", "table", "quantized", "trained", "TIER_ORDER"]

TIER_ORDER = {"smoke": 0, "small": 1, "full": 2}  # the order in which pages list the budget tiers


def human(n: int | None, unit: str = "") -> str:
    """A count with a K/M/G/T suffix (two decimals); "—" for unknown."""
    if n is None:
        return "—"
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def delta_cell(d) -> str:
    """A signed difference with its interval (a :class:`qsrbench.stats.Interval`), two decimals,
    marked ≈ when the interval holds 0; "—" for none."""
    if d is None:
        return "—"
    return d.fmt(2, signed=True) + (" ≈" if d.contains(0) else "")


def table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def quantized(r: Record) -> bool:
    return min(r.bits.get("weight", 32), r.bits.get("activation", 32)) < 32


def mixed_precision(r: Record) -> bool:
    """Whether the record's network has per-layer bits (``extra.mixed_precision``): its ``bits``
    are then the spec's base bits, not every layer's, and it is no uniform-bits point."""
    return bool((r.extra or {}).get("mixed_precision"))


def bits_label(r: Record) -> str:
    """``"W/A"`` bits, or ``"mixed, mean b"`` for a mixed-precision network (``extra.mixed_precision``:
    ``mean_bits`` over its quantized layers, unweighted)."""
    mixed = (r.extra or {}).get("mixed_precision")
    if mixed:
        return f"mixed, mean {mixed['mean_bits']:.2f}"
    return f"{r.bits.get('weight')}/{r.bits.get('activation')}"


def trained(r: Record) -> bool:
    """Whether the harness trained the record's model (``extra["train"]``, :mod:`qsrbench.train`)."""
    return bool((r.extra or {}).get("train"))


def spec_index(specs) -> dict[tuple[str, int], dict]:
    """What the boards need of each parsed spec, by ``(name, version)``: its claims per
    ``(dataset, scale)`` (as record-style dicts), method, tier, group, history notes, the
    modules its results come from and the method's parameters (``params``, as JSON)."""
    from .provenance import roots_for

    out: dict = {}
    for spec in specs:
        claims: dict = defaultdict(list)
        for e in spec.expected:
            claims[(e.dataset, e.scale)].append(e.model_dump(mode="json"))
        out[(spec.name, spec.version)] = {
            "claims": dict(claims), "method": spec.method.name, "tier": spec.tier,
            "leaderboard": spec.leaderboard, "history": {h.version: h.reason for h in spec.history},
            "roots": roots_for(spec), "params": spec.method.model_dump(mode="json")}
    return out


@lru_cache(maxsize=None)
def _digest_of(roots: tuple[str, ...]) -> str:
    from .provenance import code_fingerprint

    return code_fingerprint(roots)["digest"]


def current_code(record: Record, index: dict | None) -> str | None:
    """Today's code fingerprint for the modules behind ``record`` (None if unknown)."""
    info = (index or {}).get((record.spec, record.spec_version))
    roots = tuple(info["roots"]) if info else tuple((record.code or {}).get("roots") or ())
    return _digest_of(roots) if roots else None


def spec_versions(index: dict | None) -> dict[str, int]:
    """The current version of every spec in ``index`` (:func:`spec_index`), by name."""
    top: dict[str, int] = {}
    for name, version in index or {}:
        top[name] = max(top.get(name, 0), version)
    return top


def _current(records: list[Record], index: dict | None = None) -> list[Record]:
    newest = latest(records)
    top = spec_versions(index)
    for r in newest.values():
        top[r.spec] = max(top.get(r.spec, 0), r.spec_version)
    return [r for r in newest.values() if r.spec_version == top[r.spec]]


def current_groups(records: list[Record], index: dict | None = None) -> dict[str, list[Record]]:
    """The newest record per key at its spec's current version, grouped by leaderboard. The
    current version is the highest recorded one, or the spec file's (``index``) where that is
    higher: records of a superseded version are left out of the tables (:func:`history` lists
    them), so a bumped spec that has not been re-recorded shows no numbers made by old code."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in _current(records, index):
        groups[r.leaderboard].append(r)
    return dict(sorted(groups.items()))


def environments(records: list[Record], device=lambda r: r.env.get("device", "?")) -> list[str]:
    """The "Environments" section: spec, version, device, threads, torch and commit."""
    envs = sorted({(r.spec, r.spec_version, device(r), str(r.env.get("threads", "?")),
                    r.env.get("torch", "?"), str((r.env.get("git") or {}).get("commit", "?"))[:10])
                   for r in records})
    return ["## Environments", "",
            table([list(e[:1]) + [f"v{e[1]}"] + list(e[2:]) for e in envs],
                  ["Spec", "Version", "Device", "Threads", "torch", "Commit"]), ""]


def history(all_records: list[Record], specs: set[str], index: dict | None) -> list[str]:
    """Every version of the board's specs in the store (``specs`` and every other spec recorded
    on the same boards): why it was bumped, how many results it holds, and whether the code that
    made them is today's ("current"), not ("stale"), or the spec file has moved on
    ("superseded")."""
    boards = {r.leaderboard for r in all_records if r.spec in specs}
    specs = set(specs) | {r.spec for r in all_records if r.leaderboard in boards}  # + superseded ones
    newest = latest([r for r in all_records if r.spec in specs])
    tops = spec_versions(index)
    by_version: dict[tuple[str, int], list[Record]] = defaultdict(list)
    for r in newest.values():
        by_version[(r.spec, r.spec_version)].append(r)
    unrecorded = {(s, tops[s]) for s in specs if s in tops} - set(by_version)
    rows = []
    for spec, version in sorted(set(by_version) | unrecorded):
        info = (index or {}).get((spec, version)) or {}
        rs = by_version.get((spec, version))
        if not rs:
            rows.append([spec, f"v{version}", info.get("history", {}).get(version, "—"), 0, "—",
                         f"not recorded ({info.get('tier', '?')} tier)", "—"])
            continue
        reason = info.get("history", {}).get(version) or rs[0].version_reason or (
            "first version" if version == 1 else "—")
        digests = sorted({r.code_digest or "unrecorded" for r in rs})
        now = current_code(rs[0], index)
        state = "current" if digests == [now] else "stale" if now else "—"
        if version < tops.get(spec, version):
            state = f"superseded by v{tops[spec]} ({'recorded' if (spec, tops[spec]) in by_version else 'not re-recorded'})"
        commits = sorted({str((r.env.get("git") or {}).get("commit") or "?")[:7] for r in rs})
        rows.append([spec, f"v{version}", reason, len(rs), ", ".join(digests), state, ", ".join(commits)])
    return ["## History", "",
            "Every version of these specs in the store (the tables above show the current one). A version "
            "is bumped, with a reason, whenever results move beyond tolerance: the store refuses to "
            "re-record a result of the same version that differs. Code: the fingerprint of the "
            "modules that made the records (`qsrbench.provenance`; comments and docstrings do not "
            "count); *stale* where today's code differs, which the suites check by recomputing; "
            "*superseded* where the spec file is at a newer version: those records are not in the "
            "tables above.", "",
            table(rows, ["Spec", "Version", "Reason", "Results", "Code", "Today's code?", "Commits"]), ""]


def write_leaderboards(boards: dict[str, str], out: Path) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in boards.items():
            path = out / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written
    except OSError as exc:
        raise QsrbenchError(f"cannot write leaderboards to {out}: {exc.strerror or exc}") from None
