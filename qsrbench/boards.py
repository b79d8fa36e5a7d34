"""Build every leaderboard page from the store: SR groups by :mod:`qsrbench.sr_board` (with the
training section of :mod:`qsrbench.train_board`), NAS groups by :mod:`qsrbench.nas_board`,
performance-estimation groups by :mod:`qsrbench.estimate_board`, on the shared pieces of
:mod:`qsrbench.leaderboard`."""

from __future__ import annotations

from .bench_board import timing_sections
from .estimate_board import estimate_board, is_estimate_group
from .leaderboard import current_groups
from .nas_board import is_nas_group, method_page, nas_board
from .sr_board import fp_reference, sr_board
from .store import Record
from .train_board import ptq_reference, training_section

__all__ = ["build_leaderboards"]


def build_leaderboards(records: list[Record], specs_index: dict | None = None,
                       plots: dict[str, list[str]] | None = None,
                       benchmarks: list[dict] | None = None) -> dict[str, str]:
    """``{file name: markdown}`` for every leaderboard group found in ``records``; ``plots`` maps
    a group to the image files to link from its page. ``benchmarks``
    (:func:`qsrbench.bench_board.load_benchmarks`) add their side-by-side timing sections to the
    page they name: a group's page, or else the page of the method they time, drawn from the NAS
    group that holds its records."""
    groups = current_groups(records, specs_index)
    current = [r for rs in groups.values() for r in rs]
    fp, ptq = fp_reference(current), ptq_reference(current)
    out = {}
    for g, rs in groups.items():
        if is_estimate_group(rs):
            out[f"{g}.md"] = estimate_board(g, rs, records, specs_index)
        elif is_nas_group(rs):
            out[f"{g}.md"] = nas_board(g, rs, records, specs_index)
        else:
            out[f"{g}.md"] = sr_board(g, rs, records, specs_index, fp, (plots or {}).get(g),
                                      training_section(rs, ptq, fp))
    for board in sorted({b["info"]["board"] for b in benchmarks or []}):
        timing = timing_sections(benchmarks, board)
        if board in groups:
            out[f"{board}.md"] += "\n" + "\n".join(timing)
            continue
        subject = next(b["info"]["compare"]["labels"][0] for b in benchmarks if b["info"]["board"] == board)
        group = next((g for g, rs in groups.items() if is_nas_group(rs) and any(r.method == subject for r in rs)), None)
        out[f"{board}.md"] = method_page(subject, group or "?", groups.get(group, []), records,
                                         specs_index, timing)
    return out
