"""Build every leaderboard page from the store: SR groups by :mod:`qsrbench.sr_board` (with the
training section of :mod:`qsrbench.train_board`), NAS groups by :mod:`qsrbench.nas_board`,
performance-estimation groups by :mod:`qsrbench.estimate_board`, on the shared pieces of
:mod:`qsrbench.leaderboard`."""

from __future__ import annotations

from .estimate_board import estimate_board, is_estimate_group
from .leaderboard import current_groups
from .nas_board import is_nas_group, nas_board
from .sr_board import fp_reference, sr_board
from .store import Record
from .train_board import ptq_reference, training_section

__all__ = ["build_leaderboards"]


def build_leaderboards(records: list[Record], specs_index: dict | None = None,
                       plots: dict[str, list[str]] | None = None) -> dict[str, str]:
    """``{file name: markdown}`` for every leaderboard group found in ``records``; ``plots`` maps
    a group to the image files to link from its page."""
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
    return out
