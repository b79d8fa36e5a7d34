"""Leaderboard sections of SR networks found by a search (records with ``extra.search``): the
searched networks' scores and costs, their per-layer choices, and the search time of each search
mode against the method's baseline mode.

Record convention (written by the search method): ``extra.search`` holds ``mode`` (the job's
search mode), ``baseline_mode`` (the mode the others are timed against, optional),
``architecture`` (``{position: {"op", "bits"}}``), ``search_s`` (wall seconds of the search loop),
``iterations``, ``s_per_iteration``, ``device`` and ``threads``; ``extra.mixed_precision`` the
derived network's bits; ``extra.train`` the retraining (:mod:`qsrbench.train_board`).
"""

from __future__ import annotations

from .leaderboard import bits_label, human, table
from .store import Record

__all__ = ["search_sections"]


def _searched(records: list[Record]) -> list[Record]:
    return sorted((r for r in records if (r.extra or {}).get("search", {}).get("architecture")),
                  key=lambda r: (r.scale or 0, r.dataset, r.spec, r.variant or ""))


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _network_rows(records: list[Record]) -> list[list[str]]:
    rows = []
    for r in records:
        s, t = r.extra["search"], r.extra.get("train") or {}
        rows.append([f"{r.spec} v{r.spec_version}", s.get("mode") or r.variant or "—", f"{r.dataset} ×{r.scale}",
                     f"{r.metrics['psnr']:.2f}" if "psnr" in r.metrics else "—",
                     f"{r.metrics['ssim']:.4f}" if "ssim" in r.metrics else "—",
                     human(r.bitops), human(r.params), bits_label(r), _seconds(s["search_s"]),
                     f"{s['s_per_iteration']:.3f}", _seconds(t["train_s"]) if t else "—",
                     s.get("device", "?"), str(s.get("threads", "?")), str(r.seed), r.tier])
    return rows


WIDE = 10  # a space with more positions than this is shown one position per row


def _choice_tables(records: list[Record]) -> list[str]:
    """One table per search space (networks with the same positions): a network per row, or, for
    spaces of more than :data:`WIDE` positions, a position per row and a network per column."""
    spaces: dict[tuple[str, ...], dict[tuple, dict]] = {}
    for r in records:
        arch = r.extra["search"]["architecture"]
        spaces.setdefault(tuple(arch), {}).setdefault((r.spec, r.spec_version, r.scale, r.variant), arch)
    out = []
    for positions, nets in spaces.items():
        cell = lambda arch, p: f"{arch[p]['op']} @ {arch[p]['bits']}"
        if len(positions) <= WIDE:
            rows = [[f"{spec} v{v}", f"×{scale}", mode or "—", *(cell(arch, p) for p in positions)]
                    for (spec, v, scale, mode), arch in nets.items()]
            out += [table(rows, ["Spec", "Scale", "Mode", *positions]), ""]
        else:
            head = [f"{spec} v{v} ×{scale} {mode or ''}".rstrip() for spec, v, scale, mode in nets]
            rows = [[p, *(cell(arch, p) for arch in nets.values())] for p in positions]
            out += [table(rows, ["Position", *head]), ""]
    return out


def _time_rows(records: list[Record]) -> list[list[str]]:
    runs: dict[tuple, dict[str, dict]] = {}
    for r in records:
        runs.setdefault((r.spec, r.spec_version, r.scale), {})[r.variant or "—"] = r.extra["search"]
    rows = []
    for (spec, v, scale), modes in sorted(runs.items()):
        base = next((s.get("baseline_mode") for s in modes.values() if s.get("baseline_mode")), None)
        ref = modes.get(base)
        for mode, s in sorted(modes.items()):
            if ref is None or mode == base:
                continue
            rows.append([f"{spec} v{v}", f"×{scale}", mode, base, f"{s['s_per_iteration']:.3f}",
                         f"{ref['s_per_iteration']:.3f}", f"{s['s_per_iteration'] / ref['s_per_iteration']:.3f}"])
    return rows


def search_sections(records: list[Record]) -> list[str]:
    """Markdown lines of the searched-network sections (empty without searched records)."""
    found = _searched(records)
    if not found:
        return []
    lines = ["## Searched networks", "",
             "Networks found by a search, derived, retrained and scored. Mean bits: over the network's "
             "quantized convolutions, unweighted (weights and activations at the same width). Search time: "
             "wall time of the search loop (weight and architecture steps); retrain time: the optimizer "
             "steps of the retraining (`qsrbench.train`).", "",
             table(_network_rows(found), ["Spec", "Mode", "Set", "PSNR ↑", "SSIM ↑", "BitOps", "Params",
                                          "Bits", "Search time", "s / iteration", "Retrain time",
                                          "Device", "Threads", "Seed", "Tier"]), ""]
    lines += ["### Per-layer choices (operation @ bits)", "", *_choice_tables(found)]
    times = _time_rows(found)
    if times:
        lines += ["### Search time by mode", "",
                  "Seconds per search iteration of each mode against the method's baseline mode, one "
                  "search each in the recorded run (no interval: the side-by-side benchmark with "
                  "alternated rounds is the measurement to cite).", "",
                  table(times, ["Spec", "Scale", "Mode", "Baseline", "s / it", "Baseline s / it", "Ratio"]), ""]
    return lines
